package faultproxy_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/testing/faultproxy"
	"github.com/mlreg/mlreg-action/internal/testing/testutil"
)

// upstream answers {"path": ...} and counts what it served.
func upstream(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var served atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"path":"`+r.URL.Path+`","padding":"`+strings.Repeat("x", 64)+`"}`)
	}))
	t.Cleanup(s.Close)
	return s, &served
}

// get sends one request on a fresh connection and reads the whole answer.
func get(t *testing.T, method, url, body string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

func TestFaults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		fault       faultproxy.Fault
		wantStatus  int
		wantErr     bool // the client sees a transport error
		wantServed  int64
		wantFault   string
		wantUpRetry string
	}{
		{name: "503", fault: faultproxy.Status(503), wantStatus: 503, wantServed: 0, wantFault: "503"},
		{name: "429", fault: faultproxy.TooManyRequests(1), wantStatus: 429, wantServed: 0, wantFault: "429 Retry-After: 1"},
		{name: "reset", fault: faultproxy.ResetMidResponse(), wantErr: true, wantServed: 1, wantFault: "reset"},
		{name: "truncate", fault: faultproxy.Truncate(), wantStatus: 200, wantErr: true, wantServed: 1, wantFault: "truncate"},
		{name: "stall", fault: faultproxy.Stall(200 * time.Millisecond), wantStatus: 200, wantServed: 1, wantFault: "stall 200ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up, served := upstream(t)
			p := faultproxy.New(t, up.URL)
			p.Add(faultproxy.Rule{Method: "POST", Path: "/registered-models/alias", Fault: tc.fault})

			began := time.Now()
			status, _, err := get(t, "POST", p.URL+"/api/2.0/mlflow/registered-models/alias", `{"alias":"champion"}`)
			if (err != nil) != tc.wantErr || status != tc.wantStatus {
				t.Errorf("first request: status %d, error %v; want status %d, error %v", status, err, tc.wantStatus, tc.wantErr)
			}
			if tc.fault.Kind == faultproxy.KindStall && time.Since(began) < tc.fault.Duration {
				t.Errorf("answered after %s, before the stall of %s ended", time.Since(began), tc.fault.Duration)
			}
			if got := served.Load(); got != tc.wantServed {
				t.Errorf("upstream served %d requests, want %d", got, tc.wantServed)
			}
			// The rule hits only the first matching request.
			if status, body, err := get(t, "POST", p.URL+"/api/2.0/mlflow/registered-models/alias", `{}`); err != nil || status != 200 ||
				!strings.Contains(body, `"path":"/api/2.0/mlflow/registered-models/alias"`) {
				t.Errorf("second request: %d %q %v, want it forwarded untouched", status, body, err)
			}
			reqs := p.Requests()
			if len(reqs) != 2 || reqs[0].Fault != tc.wantFault || reqs[1].Fault != "" || reqs[0].Body != `{"alias":"champion"}` {
				t.Errorf("log = %v", reqs)
			}
		})
	}
}

// TestStatusBody: a fault can answer with a server's own error body.
func TestStatusBody(t *testing.T) {
	t.Parallel()
	up, served := upstream(t)
	p := faultproxy.New(t, up.URL)
	const body = `{"error_code": "PERMISSION_DENIED", "message": "no"}`
	p.Add(faultproxy.Rule{Path: "/model-versions/get", Fault: faultproxy.StatusBody(403, body)})
	status, got, err := get(t, "GET", p.URL+"/api/2.0/mlflow/model-versions/get?name=m", "")
	if err != nil || status != 403 || got != body || served.Load() != 0 {
		t.Errorf("got %d %q %v with %d served, want 403 %q unforwarded", status, got, err, served.Load(), body)
	}
}

func TestRuleMatching(t *testing.T) {
	t.Parallel()
	up, _ := upstream(t)
	p := faultproxy.New(t, up.URL)
	p.Add(
		// The 2nd and 3rd GET .../alias (e.g. a read after the plan's, and its retry).
		faultproxy.Rule{Method: "GET", Path: "/registered-models/alias", Nth: 2, Times: 2, Fault: faultproxy.Status(503)},
		faultproxy.Rule{Method: "POST", Path: "/model-versions/set-tag", Contains: "mlreg.slack", Fault: faultproxy.Status(502)},
		faultproxy.Rule{Path: "/logged-models/*", Times: -1, Fault: faultproxy.Status(500)},
	)
	type call struct{ method, path, body string }
	calls := []call{
		{"GET", "/api/2.0/mlflow/registered-models/alias?name=m", ""},
		{"GET", "/api/2.0/mlflow/registered-models/alias?name=m", ""},
		{"GET", "/api/2.0/mlflow/registered-models/alias?name=m", ""},
		{"GET", "/api/2.0/mlflow/registered-models/alias?name=m", ""},
		{"POST", "/api/2.0/mlflow/model-versions/set-tag", `{"key":"mlreg.promotion.alias.champion"}`},
		{"POST", "/api/2.0/mlflow/model-versions/set-tag", `{"key":"mlreg.slack.alias.champion"}`},
		{"GET", "/api/2.0/mlflow/logged-models/m-1", ""},
		{"GET", "/api/2.0/mlflow/logged-models/m-2", ""},
		{"GET", "/api/2.0/mlflow/logged-models/", ""},
	}
	var got []int
	for _, c := range calls {
		status, _, err := get(t, c.method, p.URL+c.path, c.body)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, status)
	}
	if diff := cmp.Diff([]int{200, 503, 503, 200, 200, 502, 500, 500, 200}, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if n := p.Count("GET", "/registered-models/alias"); n != 4 {
		t.Errorf("Count(GET alias) = %d, want 4", n)
	}
	if n := p.Hits(); n != 5 {
		t.Errorf("Hits() = %d, want 5", n)
	}
}

func TestDownRefusesConnectionsThenRecovers(t *testing.T) {
	t.Parallel()
	up, served := upstream(t)
	p := faultproxy.New(t, up.URL)
	const outage = 500 * time.Millisecond
	p.Add(faultproxy.Rule{Path: "/runs/get", Fault: faultproxy.Down(outage)})

	began := time.Now()
	if _, _, err := get(t, "GET", p.URL+"/api/2.0/mlflow/runs/get", ""); err == nil {
		t.Fatal("the request that starts the outage was answered")
	}
	// Every request during the outage is refused, whatever its path.
	_, _, err := get(t, "GET", p.URL+"/api/2.0/mlflow/model-versions/get", "")
	if time.Since(began) < outage && !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("request during the outage: %v, want connection refused", err)
	}
	// After the outage the same address answers again.
	if err := p.WaitUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	if status, _, err := get(t, "GET", p.URL+"/api/2.0/mlflow/runs/get", ""); err != nil || status != 200 {
		t.Fatalf("after the outage: %d %v", status, err)
	}
	if time.Since(began) < outage {
		t.Errorf("answered %s after the outage began, before it ended (%s)", time.Since(began), outage)
	}
	if served.Load() != 1 {
		t.Errorf("upstream served %d requests, want only the one after the outage", served.Load())
	}
}

func TestCallRunsBeforeForwarding(t *testing.T) {
	t.Parallel()
	up, served := upstream(t)
	p := faultproxy.New(t, up.URL)
	var servedBefore int64 = -1
	p.Add(faultproxy.Rule{Method: "POST", Fault: faultproxy.Call(func() { servedBefore = served.Load() })})
	if status, _, err := get(t, "POST", p.URL+"/x", "{}"); err != nil || status != 200 {
		t.Fatalf("%d %v", status, err)
	}
	if servedBefore != 0 || served.Load() != 1 {
		t.Errorf("Func ran when the upstream had served %d requests, want 0 (before forwarding); served %d", servedBefore, served.Load())
	}
}

func TestDeadUpstreamLooksLikeADeadServer(t *testing.T) {
	t.Parallel()
	// An upstream whose port refuses connections, and keeps refusing them
	// (a closed port could be given to another test's listener).
	p := faultproxy.New(t, "http://"+testutil.RefusedAddr(t))
	if _, _, err := get(t, "GET", p.URL+"/health", ""); err == nil {
		t.Error("a request to a dead upstream got an answer, want a broken connection")
	}
	if reqs := p.Requests(); len(reqs) != 1 || reqs[0].Upstream != 0 {
		t.Errorf("log = %v", reqs)
	}
}

func TestRebase(t *testing.T) {
	t.Parallel()
	up, _ := upstream(t)
	p := faultproxy.New(t, up.URL)
	got := p.Rebase(up.URL + "/api/v3/")
	if want := p.URL + "/api/v3/"; got != want {
		t.Errorf("Rebase = %q, want %q", got, want)
	}
}

// TestEventsInsteadOfClocks: an outage and a stall of no duration last until
// the test ends them, and WaitFaulted and WaitIdle tell the test when a fault
// has taken effect and when the upstream's state is final.
func TestEventsInsteadOfClocks(t *testing.T) {
	t.Parallel()
	t.Run("down until Up", func(t *testing.T) {
		t.Parallel()
		up, served := upstream(t)
		p := faultproxy.New(t, up.URL)
		p.Add(faultproxy.Rule{Path: "/runs/get", Fault: faultproxy.Down(0)})
		if _, _, err := get(t, "GET", p.URL+"/api/2.0/mlflow/runs/get", ""); err == nil {
			t.Fatal("the request that starts the outage was answered")
		}
		if err := p.WaitFaulted(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		// However long the test takes, the proxy stays down until it says so.
		for range 3 {
			if _, _, err := get(t, "GET", p.URL+"/api/2.0/mlflow/model-versions/get", ""); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("request during the outage: %v, want connection refused", err)
			}
		}
		p.Up()
		if status, _, err := get(t, "GET", p.URL+"/api/2.0/mlflow/runs/get", ""); err != nil || status != 200 {
			t.Fatalf("after Up: %d %v", status, err)
		}
		if served.Load() != 1 {
			t.Errorf("upstream served %d requests, want 1", served.Load())
		}
		if got := p.Requests()[0].Fault; got != "down" {
			t.Errorf("fault logged as %q, want \"down\"", got)
		}
	})
	t.Run("stall until the client gives up", func(t *testing.T) {
		t.Parallel()
		up, served := upstream(t)
		p := faultproxy.New(t, up.URL)
		p.Add(faultproxy.Rule{Method: "POST", Fault: faultproxy.Stall(0)})
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, "POST", p.URL+"/x", strings.NewReader("{}"))
			res, err := http.DefaultClient.Do(req)
			if err == nil {
				res.Body.Close()
			}
			errc <- err
		}()
		if err := p.WaitFaulted(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		// The stall has begun: the upstream has acted on the request.
		if served.Load() != 1 {
			t.Errorf("upstream served %d requests when the stall began, want 1", served.Load())
		}
		select {
		case err := <-errc:
			t.Fatalf("the client got an answer during the stall: %v", err)
		default:
		}
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("client error = %v, want context.Canceled", err)
		}
		if err := p.WaitIdle(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("hold until Release", func(t *testing.T) {
		t.Parallel()
		up, served := upstream(t)
		p := faultproxy.New(t, up.URL)
		p.Add(faultproxy.Rule{Method: "POST", Fault: faultproxy.Call(p.Hold)})
		// The request whose Func holds the proxy is not held itself.
		if status, _, err := get(t, "POST", p.URL+"/x", "{}"); err != nil || status != 200 {
			t.Fatalf("first request: %d %v", status, err)
		}
		errc := make(chan error, 1)
		go func() {
			_, _, err := get(t, "GET", p.URL+"/y", "")
			errc <- err
		}()
		// Wait until the second request is in the proxy, then check it waits.
		for len(p.Requests()) < 2 {
			select {
			case err := <-errc:
				t.Fatalf("the held request was answered: %v", err)
			case <-time.After(time.Millisecond):
			}
		}
		if served.Load() != 1 {
			t.Errorf("upstream served %d requests while the second was held, want 1", served.Load())
		}
		p.Release()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if err := p.WaitIdle(t.Context()); err != nil {
			t.Fatal(err)
		}
		if served.Load() != 2 {
			t.Errorf("upstream served %d requests after Release, want 2", served.Load())
		}
	})
}

// TestOutageKeepsThePort: during an outage connections are refused, yet no
// other listener may take the port (a busy machine hands free ports out), so
// the client's retries can only ever reach the proxy.
func TestOutageKeepsThePort(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("the port is held during an outage on Linux and macOS only")
	}
	up, _ := upstream(t)
	p := faultproxy.New(t, up.URL)
	p.Down()
	addr := strings.TrimPrefix(p.URL, "http://")
	if _, _, err := get(t, "GET", p.URL+"/x", ""); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("request during the outage: %v, want connection refused", err)
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("another listener took %s during the outage", addr)
	} else if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("listening on %s during the outage: %v, want address in use", addr, err)
	}
	p.Up()
	if status, _, err := get(t, "GET", p.URL+"/x", ""); err != nil || status != 200 {
		t.Fatalf("after Up: %d %v", status, err)
	}
	// Held again and given back at the end of the test without a leak.
	p.Down()
}
