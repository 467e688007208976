package mlflow

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// captured is what a test server saw of one request.
type captured struct {
	Method      string
	Path        string // escaped path
	Query       url.Values
	Body        map[string]any // nil when the request had no body
	ContentType string
}

func capture(t *testing.T, r *http.Request) captured {
	t.Helper()
	c := captured{
		Method:      r.Method,
		Path:        r.URL.EscapedPath(),
		Query:       r.URL.Query(),
		ContentType: r.Header.Get("Content-Type"),
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		t.Errorf("reading request body: %v", err)
	}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &c.Body); err != nil {
			t.Errorf("request body %q is not a JSON object: %v", data, err)
		}
	}
	return c
}

// sleeper records the pauses a Client asks for without sleeping.
type sleeper struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeper) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeper) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newTestClient returns a client for uri with a recording Sleep and no
// jitter; mod may adjust the options.
func newTestClient(t *testing.T, uri string, mod func(*Options)) (*Client, *sleeper) {
	t.Helper()
	s := &sleeper{}
	opts := Options{TrackingURI: uri, Sleep: s.sleep, Rand: func() float64 { return 0 }}
	if mod != nil {
		mod(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New(%v): %v", opts, err)
	}
	return c, s
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
