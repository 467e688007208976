package mlflow

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// answer is one canned response of a scripted server.
type answer struct {
	status     int
	retryAfter string
	body       string
}

// scriptedServer answers with script in order, repeating the last answer,
// and counts requests.
func scriptedServer(t *testing.T, script []answer) (*atomic.Int64, string) {
	t.Helper()
	var n atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		a := script[min(i, len(script)-1)]
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		body := a.body
		if body == "" && a.status == http.StatusOK {
			body = `{"model_version": {"name": "m", "version": "1"}, "registered_model": {"name": "m"}, "model_versions": []}`
		}
		writeJSON(w, a.status, body)
	})
	return &n, srv.URL
}

var (
	callGet = func(ctx context.Context, c *Client) error {
		_, err := c.GetModelVersion(ctx, "m", "1")
		return err
	}
	callSetAlias = func(ctx context.Context, c *Client) error { return c.SetAlias(ctx, "m", "a", "1") }
	callDelete   = func(ctx context.Context, c *Client) error { return c.DeleteAlias(ctx, "m", "a") }
	callSetTag   = func(ctx context.Context, c *Client) error { return c.SetModelVersionTag(ctx, "m", "1", "k", "v") }
	callCreateMV = func(ctx context.Context, c *Client) error {
		_, err := c.CreateModelVersion(ctx, CreateModelVersionRequest{Name: "m", Source: "s3://b/m"})
		return err
	}
	callCreateRM = func(ctx context.Context, c *Client) error {
		_, err := c.CreateRegisteredModel(ctx, "m", "", nil)
		return err
	}
	callTransition = func(ctx context.Context, c *Client) error {
		_, err := c.TransitionStage(ctx, "m", "1", StageNone, true)
		return err
	}
	callLatestVersions = func(ctx context.Context, c *Client) error {
		_, err := c.GetLatestVersions(ctx, "m", nil)
		return err
	}
)

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	ok := answer{status: 200}
	cases := []struct {
		name         string
		call         func(context.Context, *Client) error
		script       []answer
		maxRetries   int
		wantAttempts int64
		wantSleeps   []time.Duration
		wantStatus   int    // 0: success
		wantErrText  string // substring when failing
	}{
		{name: "GET 503 then success", call: callGet, script: []answer{{status: 503}, ok}, wantAttempts: 2, wantSleeps: []time.Duration{time.Second}},
		{name: "GET 500 retried", call: callGet, script: []answer{{status: 500}, {status: 500}, ok}, wantAttempts: 3, wantSleeps: []time.Duration{time.Second, 2 * time.Second}},
		{name: "GET 400 not retried", call: callGet, script: []answer{{status: 400}}, wantAttempts: 1, wantStatus: 400},
		{name: "GET 404 not retried", call: callGet, script: []answer{{status: 404}}, wantAttempts: 1, wantStatus: 404},
		{name: "GET 401 not retried", call: callGet, script: []answer{{status: 401}}, wantAttempts: 1, wantStatus: 401},
		{name: "GET 429 honours Retry-After", call: callGet, script: []answer{{status: 429, retryAfter: "7"}, ok}, wantAttempts: 2, wantSleeps: []time.Duration{7 * time.Second}},
		{
			name: "default 7 retries then give up", call: callGet, script: []answer{{status: 503}},
			wantAttempts: 8, wantStatus: 503, wantErrText: "gave up after 8 attempts: GET /api/2.0/mlflow/model-versions/get: 503",
			wantSleeps: []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second},
		},
		{
			name: "MaxRetries 2", call: callGet, script: []answer{{status: 504}}, maxRetries: 2,
			wantAttempts: 3, wantStatus: 504, wantErrText: "gave up after 3 attempts",
			wantSleeps: []time.Duration{time.Second, 2 * time.Second},
		},
		{name: "negative MaxRetries disables retries", call: callGet, script: []answer{{status: 503}}, maxRetries: -1, wantAttempts: 1, wantStatus: 503},
		{name: "retry then permanent error", call: callGet, script: []answer{{status: 502}, {status: 404}}, wantAttempts: 2, wantStatus: 404, wantSleeps: []time.Duration{time.Second}},
		{name: "POST 500 not retried", call: callSetAlias, script: []answer{{status: 500}}, wantAttempts: 1, wantStatus: 500},
		{name: "POST transition 500 not retried", call: callTransition, script: []answer{{status: 500}}, wantAttempts: 1, wantStatus: 500},
		{name: "POST 502 retried", call: callSetAlias, script: []answer{{status: 502}, ok}, wantAttempts: 2, wantSleeps: []time.Duration{time.Second}},
		{name: "DELETE 503 retried", call: callDelete, script: []answer{{status: 503}, ok}, wantAttempts: 2, wantSleeps: []time.Duration{time.Second}},
		{
			name: "POST 504 408 429 retried", call: callSetTag,
			script:       []answer{{status: 504}, {status: 408}, {status: 429}, ok},
			wantAttempts: 4, wantSleeps: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
		},
		{name: "create registered model 503 retried", call: callCreateRM, script: []answer{{status: 503}, ok}, wantAttempts: 2, wantSleeps: []time.Duration{time.Second}},
		{name: "get-latest-versions is a read: 500 retried", call: callLatestVersions, script: []answer{{status: 500}, ok}, wantAttempts: 2, wantSleeps: []time.Duration{time.Second}},
		{name: "create version 502 not retried", call: callCreateMV, script: []answer{{status: 502}, ok}, wantAttempts: 1, wantStatus: 502},
		{name: "create version 500 not retried", call: callCreateMV, script: []answer{{status: 500}, ok}, wantAttempts: 1, wantStatus: 500},
		{name: "create version 504 not retried", call: callCreateMV, script: []answer{{status: 504}, ok}, wantAttempts: 1, wantStatus: 504},
		{name: "create version 503 without Retry-After not retried", call: callCreateMV, script: []answer{{status: 503}, ok}, wantAttempts: 1, wantStatus: 503},
		{name: "create version 503 with Retry-After retried", call: callCreateMV, script: []answer{{status: 503, retryAfter: "3"}, ok}, wantAttempts: 2, wantSleeps: []time.Duration{3 * time.Second}},
		{name: "create version 429 retried", call: callCreateMV, script: []answer{{status: 429}, ok}, wantAttempts: 2, wantSleeps: []time.Duration{time.Second}},
		{name: "create version 408 retried", call: callCreateMV, script: []answer{{status: 408}, ok}, wantAttempts: 2, wantSleeps: []time.Duration{time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			served, uri := scriptedServer(t, tc.script)
			c, s := newTestClient(t, uri, func(o *Options) { o.MaxRetries = tc.maxRetries })
			err := tc.call(t.Context(), c)
			if tc.wantStatus == 0 {
				if err != nil {
					t.Fatalf("call: %v", err)
				}
			} else {
				var apiErr *Error
				if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.wantStatus {
					t.Fatalf("error = %v, want an *Error with status %d", err, tc.wantStatus)
				}
				if !strings.Contains(err.Error(), tc.wantErrText) {
					t.Errorf("error = %q, want it to contain %q", err, tc.wantErrText)
				}
			}
			if got := served.Load(); got != tc.wantAttempts {
				t.Errorf("server saw %d requests, want %d", got, tc.wantAttempts)
			}
			if got := c.Requests(); got != tc.wantAttempts {
				t.Errorf("Requests() = %d, want %d", got, tc.wantAttempts)
			}
			if diff := cmp.Diff(tc.wantSleeps, s.got(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		base time.Duration
		n    int
		rnd  float64
		want time.Duration
	}{
		{name: "first", base: time.Second, n: 1, want: time.Second},
		{name: "doubles", base: time.Second, n: 4, want: 8 * time.Second},
		{name: "capped", base: time.Second, n: 6, want: 30 * time.Second},
		{name: "no overflow", base: time.Second, n: 200, want: 30 * time.Second},
		{name: "jitter up to base", base: time.Second, n: 2, rnd: 0.5, want: 2500 * time.Millisecond},
		{name: "jitter on capped", base: time.Second, n: 9, rnd: 0.25, want: 30250 * time.Millisecond},
		{name: "small base", base: 10 * time.Millisecond, n: 3, rnd: 0.5, want: 45 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := backoff(tc.base, tc.n, func() float64 { return tc.rnd }); got != tc.want {
				t.Errorf("backoff(%s, %d, %v) = %s, want %s", tc.base, tc.n, tc.rnd, got, tc.want)
			}
		})
	}
}

func TestJitterIsUsed(t *testing.T) {
	t.Parallel()
	_, uri := scriptedServer(t, []answer{{status: 503}, {status: 503}, {status: 200}})
	c, s := newTestClient(t, uri, func(o *Options) {
		o.BackoffBase = 100 * time.Millisecond
		o.Rand = func() float64 { return 0.5 }
	})
	if err := callGet(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{150 * time.Millisecond, 250 * time.Millisecond}
	if diff := cmp.Diff(want, s.got()); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{in: "5", want: 5 * time.Second, wantOK: true},
		{in: " 0 ", want: 0, wantOK: true},
		{in: "86400", want: maxRetryAfter, wantOK: true},
		{in: now.Add(42 * time.Second).Format(http.TimeFormat), want: 42 * time.Second, wantOK: true},
		{in: now.Add(-time.Minute).Format(http.TimeFormat), want: 0, wantOK: true},
		{in: "-3"},
		{in: ""},
		{in: "soon"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, ok := parseRetryAfter(tc.in, now)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestRetryAfterHTTPDate(t *testing.T) {
	t.Parallel()
	date := time.Now().Add(20 * time.Second).UTC().Format(http.TimeFormat)
	_, uri := scriptedServer(t, []answer{{status: 503, retryAfter: date}, {status: 200}})
	c, s := newTestClient(t, uri, nil)
	if err := callGet(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	got := s.got()
	// The date has one-second resolution, hence the window.
	if len(got) != 1 || got[0] < 18*time.Second || got[0] > 20*time.Second {
		t.Errorf("sleeps = %v, want one pause of about 20s", got)
	}
}

func TestDeadline(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		script       []answer
		timeout      time.Duration
		base         time.Duration
		wantAttempts int64
		wantSleeps   []time.Duration
	}{
		{
			name:         "Retry-After beyond the deadline: no sleep",
			script:       []answer{{status: 503, retryAfter: "60"}},
			timeout:      5 * time.Second,
			wantAttempts: 1,
		},
		{
			name:         "backoff stops before the deadline",
			script:       []answer{{status: 503}},
			timeout:      15 * time.Second,
			base:         10 * time.Second, // pauses 10s, then 20s would pass the deadline
			wantAttempts: 2,
			wantSleeps:   []time.Duration{10 * time.Second},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			served, uri := scriptedServer(t, tc.script)
			c, s := newTestClient(t, uri, func(o *Options) { o.BackoffBase = tc.base })
			ctx, cancel := context.WithTimeout(t.Context(), tc.timeout)
			defer cancel()
			err := callGet(ctx, c)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error = %v, want it to wrap context.DeadlineExceeded", err)
			}
			var apiErr *Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 {
				t.Errorf("error = %v, want it to wrap the last 503", err)
			}
			if err != nil && !strings.Contains(err.Error(), "past the deadline") {
				t.Errorf("error = %q, want it to explain the deadline", err)
			}
			if got := served.Load(); got != tc.wantAttempts {
				t.Errorf("server saw %d requests, want %d", got, tc.wantAttempts)
			}
			if diff := cmp.Diff(tc.wantSleeps, s.got(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeadlineWithRealSleep(t *testing.T) {
	t.Parallel()
	_, uri := scriptedServer(t, []answer{{status: 503}})
	c, err := New(Options{TrackingURI: uri, BackoffBase: 20 * time.Millisecond, MaxRetries: 50, Rand: func() float64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 500 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	start := time.Now()
	err = callGet(ctx, c)
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want context.DeadlineExceeded", err)
	}
	// Pauses of 20, 40, 80, 160ms fit; 320ms would not, so the call ends
	// after about 300ms, well before the deadline.
	if elapsed >= timeout {
		t.Errorf("call took %s, want it to give up before the %s deadline", elapsed, timeout)
	}
	if got := c.Requests(); got != 5 {
		t.Errorf("Requests() = %d, want 5", got)
	}
}

func TestContextDoneDuringRequest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		ctx     func(context.Context) (context.Context, context.CancelFunc)
		wantErr error
	}{
		{
			name: "deadline",
			ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, 100*time.Millisecond)
			},
			wantErr: context.DeadlineExceeded,
		},
		{
			name: "cancel without deadline",
			ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(ctx)
				time.AfterFunc(100*time.Millisecond, cancel)
				return ctx, cancel
			},
			wantErr: context.Canceled,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
			c, s := newTestClient(t, srv.URL, nil)
			ctx, cancel := tc.ctx(t.Context())
			defer cancel()
			err := callGet(ctx, c)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("error = %v, want %v", err, tc.wantErr)
			}
			if got := c.Requests(); got != 1 {
				t.Errorf("Requests() = %d, want 1 (no retry once the context is done)", got)
			}
			if got := s.got(); len(got) != 0 {
				t.Errorf("slept %v, want no sleep", got)
			}
		})
	}
}

func TestCancelWhileWaiting(t *testing.T) {
	t.Parallel()
	_, uri := scriptedServer(t, []answer{{status: 503}})
	ctx, cancel := context.WithCancel(t.Context())
	c, err := New(Options{
		TrackingURI: uri,
		Sleep: func(ctx context.Context, _ time.Duration) error {
			cancel()
			return ctx.Err()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = callGet(ctx, c)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 {
		t.Errorf("error = %v, want it to wrap the last 503", err)
	}
	if err != nil && !strings.Contains(err.Error(), "gave up after 1 attempt (context canceled while waiting to retry)") {
		t.Errorf("error = %q, want the attempt count and cause", err)
	}
}

// hijack takes over the connection of r; the caller closes it.
func hijack(t *testing.T, w http.ResponseWriter) net.Conn {
	t.Helper()
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return nil
	}
	return conn
}

func TestTransportErrors(t *testing.T) {
	t.Parallel()
	// Each fault breaks the first request only.
	faults := map[string]func(t *testing.T, w http.ResponseWriter, r *http.Request){
		// The server read the request, then the connection dies without an answer.
		"reset after request": func(t *testing.T, w http.ResponseWriter, r *http.Request) {
			_, _ = r.Body.Read(make([]byte, 1<<10))
			if conn := hijack(t, w); conn != nil {
				if tcp, ok := conn.(*net.TCPConn); ok {
					_ = tcp.SetLinger(0) // RST
				}
				_ = conn.Close()
			}
		},
		// Headers and part of the body arrive, then the connection closes.
		"truncated body": func(t *testing.T, w http.ResponseWriter, r *http.Request) {
			if conn := hijack(t, w); conn != nil {
				_, _ = conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"model_ver"))
				_ = conn.Close()
			}
		},
	}
	cases := []struct {
		name         string
		fault        string
		call         func(context.Context, *Client) error
		wantAttempts int64
		wantErr      bool
	}{
		{name: "GET retried after reset", fault: "reset after request", call: callGet, wantAttempts: 2},
		{name: "GET retried after truncated body", fault: "truncated body", call: callGet, wantAttempts: 2},
		{name: "POST alias retried after reset", fault: "reset after request", call: callSetAlias, wantAttempts: 2},
		{name: "DELETE retried after truncated body", fault: "truncated body", call: callDelete, wantAttempts: 2},
		{name: "create version not retried after reset", fault: "reset after request", call: callCreateMV, wantAttempts: 1, wantErr: true},
		{name: "create version not retried after truncated body", fault: "truncated body", call: callCreateMV, wantAttempts: 1, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var served atomic.Int64
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if served.Add(1) == 1 {
					faults[tc.fault](t, w, r)
					return
				}
				writeJSON(w, http.StatusOK, `{"model_version": {"name": "m", "version": "1"}}`)
			})
			c, s := newTestClient(t, srv.URL, nil)
			err := tc.call(t.Context(), c)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tc.wantErr)
			}
			if got := served.Load(); got != tc.wantAttempts {
				t.Errorf("server saw %d requests, want %d", got, tc.wantAttempts)
			}
			if got := c.Requests(); got != tc.wantAttempts {
				t.Errorf("Requests() = %d, want %d", got, tc.wantAttempts)
			}
			if got, want := len(s.got()), int(tc.wantAttempts-1); got != want {
				t.Errorf("slept %d times, want %d", got, want)
			}
		})
	}
}

func TestPerAttemptTimeout(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		call         func(context.Context, *Client) error
		wantAttempts int64
	}{
		{name: "idempotent write retried", call: callSetAlias, wantAttempts: 2},
		{name: "create version not retried", call: callCreateMV, wantAttempts: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var served atomic.Int64
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				served.Add(1)
				_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client hanging up
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			})
			c, _ := newTestClient(t, srv.URL, func(o *Options) {
				o.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond}
				o.MaxRetries = 1
			})
			err := tc.call(t.Context(), c)
			if err == nil {
				t.Fatal("want a timeout error")
			}
			if got := c.Requests(); got != tc.wantAttempts {
				t.Errorf("Requests() = %d, want %d (error %v)", got, tc.wantAttempts, err)
			}
		})
	}
}

// closedAddr returns an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestDialErrorsRetried(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		call func(context.Context, *Client) error
	}{
		{name: "GET", call: callGet},
		{name: "create version (nothing was sent)", call: callCreateMV},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, s := newTestClient(t, "http://"+closedAddr(t), func(o *Options) { o.MaxRetries = 2 })
			err := tc.call(t.Context(), c)
			var opErr *net.OpError
			if !errors.As(err, &opErr) || opErr.Op != "dial" {
				t.Fatalf("error = %v, want a dial *net.OpError", err)
			}
			if !strings.Contains(err.Error(), "gave up after 3 attempts") {
				t.Errorf("error = %q, want the attempt count", err)
			}
			if got := c.Requests(); got != 3 {
				t.Errorf("Requests() = %d, want 3", got)
			}
			if diff := cmp.Diff([]time.Duration{time.Second, 2 * time.Second}, s.got()); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequestsConcurrent(t *testing.T) {
	t.Parallel()
	served, uri := scriptedServer(t, []answer{{status: 200}})
	c, _ := newTestClient(t, uri, nil)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := callGet(t.Context(), c); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := c.Requests(); got != 20 || served.Load() != 20 {
		t.Errorf("Requests() = %d, server saw %d, want 20 and 20", got, served.Load())
	}
}
