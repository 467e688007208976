package mlflow

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// What a real server cannot be made to do on demand: send its answer slowly,
// or stop in the middle of it. The artifact proxy's ordinary answers and
// faults run against the real MLflow server in internal/artifact.

// TestProxyDownloadOutlivesRequestTimeout: the per-attempt timeout bounds
// the pauses between bytes, as in MLflow's client, not the whole download:
// a file that takes longer than it to arrive, steadily, is read whole.
func TestProxyDownloadOutlivesRequestTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Second
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.EscapedPath() != "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/model/a%20b%2Fc.bin" &&
			r.URL.Path != "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/model/a b/c.bin" {
			t.Errorf("unexpected request %s", r.URL.EscapedPath())
		}
		if got := r.Header.Get("Authorization"); got != "Bearer tok" {
			t.Errorf("Authorization %q", got)
		}
		// Steady 100 ms pauses, far below the timeout, for 1.5 times it.
		start := time.Now()
		for time.Since(start) < timeout*3/2 {
			_, _ = io.WriteString(w, "chunk\n")
			_ = http.NewResponseController(w).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	})
	c, _ := newTestClient(t, srv.URL, func(o *Options) { o.Token, o.RequestTimeout = "tok", timeout })
	rc, err := c.OpenProxiedArtifact(t.Context(), "1/r/artifacts/model/a b/c.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %d bytes, then: %v", len(data), err)
	}
	if n := strings.Count(string(data), "chunk\n"); n < 10 {
		t.Errorf("read %d chunks", n)
	}
}

// TestProxyDownloadStalls: a server that stops sending is cut off after the
// per-attempt timeout, with an error that says so.
func TestProxyDownloadStalls(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "start")
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done() // never more
	})
	c, _ := newTestClient(t, srv.URL, func(o *Options) { o.RequestTimeout = 300 * time.Millisecond })
	rc, err := c.OpenProxiedArtifact(t.Context(), "x/model.pkl")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if string(data) != "start" || !errors.Is(err, errIdle) || err.Error() != "no data for 300ms" {
		t.Errorf("got %q, %v", data, err)
	}
}

// TestProxyDownloadErrors: failed answers are *Error with MLflow's code and
// message, credentials cut; 5xx answers are retried as reads; redirects are
// refused, never followed.
func TestProxyDownloadErrors(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch {
		case strings.HasSuffix(r.URL.Path, "/denied"):
			writeJSON(w, http.StatusForbidden, `{"error_code": "PERMISSION_DENIED", "message": "no access for Bearer s3cret-token"}`)
		case strings.HasSuffix(r.URL.Path, "/flaky") && n < 3:
			w.WriteHeader(http.StatusBadGateway)
		case strings.HasSuffix(r.URL.Path, "/moved"):
			http.Redirect(w, r, "http://elsewhere.example/x", http.StatusFound)
		default:
			_, _ = io.WriteString(w, "ok")
		}
	})
	c, sl := newTestClient(t, srv.URL, func(o *Options) { o.Token = "s3cret-token" })

	_, err := c.OpenProxiedArtifact(t.Context(), "m/denied")
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden || apiErr.Code != CodePermissionDenied ||
		strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), `failed to download proxied artifact "m/denied"`) {
		t.Errorf("403: %v", err)
	}

	calls.Store(0)
	rc, err := c.OpenProxiedArtifact(t.Context(), "m/flaky")
	if err != nil {
		t.Fatalf("502 twice: %v", err)
	}
	rc.Close()
	if diff := cmp.Diff([]time.Duration{0, 4 * time.Second}, sl.got()); diff != "" {
		t.Errorf("pauses (-want +got):\n%s", diff)
	}

	_, err = c.OpenProxiedArtifact(t.Context(), "m/moved")
	if err == nil || !strings.Contains(err.Error(), "302 Found refused") || strings.Contains(err.Error(), "elsewhere") {
		t.Errorf("redirect: %v", err)
	}
}

// TestListProxiedArtifactsSizes: a listed size of 0 is an empty file; an
// absent one is unknown.
func TestListProxiedArtifactsSizes(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/2.0/mlflow-artifacts/artifacts" || r.URL.Query().Get("path") != "1/r/artifacts/model" {
			t.Errorf("unexpected request %s", r.URL)
		}
		writeJSON(w, http.StatusOK, `{"files": [{"path": "MLmodel", "is_dir": false, "file_size": 521},
			{"path": "empty", "is_dir": false, "file_size": 0}, {"path": "data", "is_dir": true}, {"path": "odd", "is_dir": false}]}`)
	})
	c, _ := newTestClient(t, srv.URL, nil)
	got, err := c.ListProxiedArtifacts(t.Context(), "1/r/artifacts/model")
	if err != nil {
		t.Fatal(err)
	}
	want := []ProxyEntry{{Name: "MLmodel", Size: 521}, {Name: "empty"}, {Name: "data", IsDir: true, Size: -1}, {Name: "odd", Size: -1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}
