package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReplayKeepsOrderAndConcurrency: requests that overlapped in the recorded run are sent at once;
// a request sent after others had answered waits for them; the plan's requests go before the apply's.
func TestReplayKeepsOrderAndConcurrency(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		arrived  []string
		finished = map[string]bool{}
		both     = make(chan struct{})
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		name := r.URL.Query().Get("name") + string(body)
		mu.Lock()
		arrived = append(arrived, name)
		if len(arrived) == 2 {
			close(both)
		}
		mu.Unlock()
		if name == "a1" || name == "a2" {
			// a1 and a2 overlapped in the recording: each is answered only once both came.
			select {
			case <-both:
			case <-time.After(30 * time.Second):
				http.Error(w, "not concurrent", http.StatusInternalServerError)
				return
			}
		}
		mu.Lock()
		finished[name] = true
		mu.Unlock()
		_, _ = io.WriteString(w, "{}")
	}))
	defer srv.Close()

	ms := time.Millisecond
	reqs := []Request{
		{Phase: "apply", Group: "b", Method: "POST", Path: "/p", Body: []byte("b1"), Start: 40 * ms, End: 50 * ms},
		{Phase: "plan", Group: "a", Method: "GET", Path: "/p", Query: "name=a3", Start: 20 * ms, End: 30 * ms},
		{Phase: "plan", Group: "a", Method: "GET", Path: "/p", Query: "name=a1", Start: 0, End: 10 * ms},
		{Phase: "plan", Group: "a", Method: "GET", Path: "/p", Query: "name=a2", Start: 5 * ms, End: 15 * ms},
	}
	r := &replayer{base: srv.URL, hc: srv.Client(), par: 1}
	for _, phase := range []string{"plan", "apply"} {
		if err := r.phase(t.Context(), phaseRequests(reqs, phase)); err != nil {
			t.Fatal(err)
		}
	}
	if r.failed.Load() != 0 {
		t.Fatalf("%d requests failed (a1 and a2 were not sent at once)", r.failed.Load())
	}
	got := strings.Join(arrived, " ")
	if got != "a1 a2 a3 b1" && got != "a2 a1 a3 b1" {
		t.Errorf("arrival order %q, want a1 and a2 (any order), then a3, then b1", got)
	}
}
