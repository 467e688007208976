package mlflow

import (
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Call puts a GET's parameters in the query and anything else's in a JSON
// body, under the client's prefix; a GET is retried on 500, a write is not.
func TestCall(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		got []captured
	)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		c := capture(t, r)
		mu.Lock()
		got = append(got, c)
		mu.Unlock()
		writeJSON(w, http.StatusInternalServerError, `{"error_code":"INTERNAL_ERROR","message":"boom"}`)
	})
	c, sl := newTestClient(t, srv.URL+"/prefix", func(o *Options) { o.MaxRetries = 2; o.Token = "tok" })
	var out struct{}
	err := c.Call(t.Context(), http.MethodGet, "/unity-catalog/model-versions/get", url.Values{"name": {"a.b.c"}, "version": {"1"}}, nil, &out)
	if !is500(err) {
		t.Fatalf("GET: err = %v, want the 500", err)
	}
	if n := len(sl.got()); n != 2 {
		t.Errorf("GET slept %d times, want 2 (retried as a read)", n)
	}
	if err := c.Call(t.Context(), http.MethodPost, "/unity-catalog/registered-models/alias", nil,
		map[string]string{"name": "a.b.c", "alias": "champion", "version": "1"}, nil); !is500(err) {
		t.Fatalf("POST: err = %v, want the 500", err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []captured{
		{Method: "GET", Path: "/prefix/api/2.0/mlflow/unity-catalog/model-versions/get", Query: url.Values{"name": {"a.b.c"}, "version": {"1"}}},
		{Method: "GET", Path: "/prefix/api/2.0/mlflow/unity-catalog/model-versions/get", Query: url.Values{"name": {"a.b.c"}, "version": {"1"}}},
		{Method: "GET", Path: "/prefix/api/2.0/mlflow/unity-catalog/model-versions/get", Query: url.Values{"name": {"a.b.c"}, "version": {"1"}}},
		{Method: "POST", Path: "/prefix/api/2.0/mlflow/unity-catalog/registered-models/alias", Query: url.Values{},
			Body: map[string]any{"name": "a.b.c", "alias": "champion", "version": "1"}, ContentType: "application/json"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got); a write must not be retried on 500:\n%s", diff)
	}
}

func is500(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusInternalServerError
}
