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

	"github.com/mlreg/mlreg-action/internal/testing/testutil"
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
	callDeleteRM   = func(ctx context.Context, c *Client) error { return c.DeleteRegisteredModel(ctx, "m") }
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
		{name: "GET 503 then success", call: callGet, script: []answer{{status: 503}, ok}, wantAttempts: 2, wantSleeps: []time.Duration{0}},
		{name: "GET 500 retried", call: callGet, script: []answer{{status: 500}, {status: 500}, ok}, wantAttempts: 3, wantSleeps: []time.Duration{0, 4 * time.Second}},
		{name: "GET 400 not retried", call: callGet, script: []answer{{status: 400}}, wantAttempts: 1, wantStatus: 400},
		{name: "GET 404 not retried", call: callGet, script: []answer{{status: 404}}, wantAttempts: 1, wantStatus: 404},
		{name: "GET 401 not retried", call: callGet, script: []answer{{status: 401}}, wantAttempts: 1, wantStatus: 401},
		{name: "GET 429 honours Retry-After", call: callGet, script: []answer{{status: 429, retryAfter: "7"}, ok}, wantAttempts: 2, wantSleeps: []time.Duration{7 * time.Second}},
		{
			name: "default 7 retries then give up", call: callGet, script: []answer{{status: 503}},
			wantAttempts: 8, wantStatus: 503, wantErrText: "gave up after 8 attempts: GET /api/2.0/mlflow/model-versions/get: 503",
			// MLflow's client: no pause, then 2s·2^(n-1), capped at 120s (jitter off here).
			wantSleeps: []time.Duration{0, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, 64 * time.Second, 120 * time.Second},
		},
		{
			name: "MaxRetries 2", call: callGet, script: []answer{{status: 504}}, maxRetries: 2,
			wantAttempts: 3, wantStatus: 504, wantErrText: "gave up after 3 attempts",
			wantSleeps: []time.Duration{0, 4 * time.Second},
		},
		{name: "negative MaxRetries disables retries", call: callGet, script: []answer{{status: 503}}, maxRetries: -1, wantAttempts: 1, wantStatus: 503},
		{name: "retry then permanent error", call: callGet, script: []answer{{status: 502}, {status: 404}}, wantAttempts: 2, wantStatus: 404, wantSleeps: []time.Duration{0}},
		{name: "POST 500 not retried", call: callSetAlias, script: []answer{{status: 500}}, wantAttempts: 1, wantStatus: 500},
		{name: "POST transition 500 not retried", call: callTransition, script: []answer{{status: 500}}, wantAttempts: 1, wantStatus: 500},
		{name: "POST 502 retried", call: callSetAlias, script: []answer{{status: 502}, ok}, wantAttempts: 2, wantSleeps: []time.Duration{0}},
		{name: "DELETE 503 retried", call: callDelete, script: []answer{{status: 503}, ok}, wantAttempts: 2, wantSleeps: []time.Duration{0}},
		{
			name: "POST 504 408 429 retried", call: callSetTag,
			script:       []answer{{status: 504}, {status: 408}, {status: 429}, ok},
			wantAttempts: 4, wantSleeps: []time.Duration{0, 4 * time.Second, 8 * time.Second},
		},
		{name: "create registered model 503 retried", call: callCreateRM, script: []answer{{status: 503}, ok}, wantAttempts: 2, wantSleeps: []time.Duration{0}},
		{name: "get-latest-versions is a read: 500 retried", call: callLatestVersions, script: []answer{{status: 500}, ok}, wantAttempts: 2, wantSleeps: []time.Duration{0}},
		{name: "create version 502 not retried", call: callCreateMV, script: []answer{{status: 502}, ok}, wantAttempts: 1, wantStatus: 502},
		{name: "create version 500 not retried", call: callCreateMV, script: []answer{{status: 500}, ok}, wantAttempts: 1, wantStatus: 500},
		{name: "create version 504 not retried", call: callCreateMV, script: []answer{{status: 504}, ok}, wantAttempts: 1, wantStatus: 504},
		{name: "create version 503 without Retry-After not retried", call: callCreateMV, script: []answer{{status: 503}, ok}, wantAttempts: 1, wantStatus: 503},
		{name: "create version 503 with Retry-After retried", call: callCreateMV, script: []answer{{status: 503, retryAfter: "3"}, ok}, wantAttempts: 2, wantSleeps: []time.Duration{3 * time.Second}},
		{name: "create version 429 retried", call: callCreateMV, script: []answer{{status: 429}, ok}, wantAttempts: 2, wantSleeps: []time.Duration{0}},
		{name: "create version 408 retried", call: callCreateMV, script: []answer{{status: 408}, ok}, wantAttempts: 2, wantSleeps: []time.Duration{0}},
		// A repeated delete could remove the model created under the name since (the next run's lock).
		{name: "delete registered model 502 not retried", call: callDeleteRM, script: []answer{{status: 502}, ok}, wantAttempts: 1, wantStatus: 502},
		{name: "delete registered model 503 without Retry-After not retried", call: callDeleteRM, script: []answer{{status: 503}, ok}, wantAttempts: 1, wantStatus: 503},
		{name: "delete registered model 503 with Retry-After retried", call: callDeleteRM, script: []answer{{status: 503, retryAfter: "3"}, ok}, wantAttempts: 2, wantSleeps: []time.Duration{3 * time.Second}},
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

// TestBackoff pins the schedule to urllib3's Retry.get_backoff_time (2.x),
// which MLflow's client uses: no pause before the first retry, then
// factor·2^(n-1) plus jitter·random, capped at 120s.
func TestBackoff(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name           string
		factor, jitter time.Duration
		n              int
		rnd            float64
		want           time.Duration
	}{
		{name: "first retry at once", factor: 2 * time.Second, jitter: time.Second, n: 1, rnd: 0.5, want: 0},
		{name: "second", factor: 2 * time.Second, n: 2, want: 4 * time.Second},
		{name: "doubles", factor: 2 * time.Second, n: 4, want: 16 * time.Second},
		{name: "capped at 120s", factor: 2 * time.Second, n: 7, want: 120 * time.Second},
		{name: "no overflow", factor: 2 * time.Second, n: 200, want: 120 * time.Second},
		{name: "jitter", factor: 2 * time.Second, jitter: time.Second, n: 2, rnd: 0.5, want: 4500 * time.Millisecond},
		{name: "jitter within the cap", factor: 2 * time.Second, jitter: time.Second, n: 9, rnd: 0.25, want: 120 * time.Second},
		{name: "factor 0: jitter only", factor: 0, jitter: time.Second, n: 3, rnd: 0.5, want: 500 * time.Millisecond},
		{name: "small factor", factor: 10 * time.Millisecond, n: 3, want: 40 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := backoff(tc.factor, tc.jitter, tc.n, func() float64 { return tc.rnd }); got != tc.want {
				t.Errorf("backoff(%s, %s, %d, %v) = %s, want %s", tc.factor, tc.jitter, tc.n, tc.rnd, got, tc.want)
			}
		})
	}
}

func TestJitterIsUsed(t *testing.T) {
	t.Parallel()
	_, uri := scriptedServer(t, []answer{{status: 503}, {status: 503}, {status: 503}, {status: 200}})
	c, s := newTestClient(t, uri, func(o *Options) {
		o.BackoffFactor = 100 * time.Millisecond
		o.BackoffJitter = 100 * time.Millisecond
		o.Rand = func() float64 { return 0.5 }
	})
	if err := callGet(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{0, 250 * time.Millisecond, 450 * time.Millisecond}
	if diff := cmp.Diff(want, s.got()); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
}

// TestNoPause: MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR=0 and _JITTER=0 retry at once.
func TestNoPause(t *testing.T) {
	t.Parallel()
	_, uri := scriptedServer(t, []answer{{status: 503}, {status: 503}, {status: 200}})
	c, s := newTestClient(t, uri, func(o *Options) { o.BackoffFactor, o.BackoffJitter = -1, -1 })
	if err := callGet(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Duration{0, 0}, s.got()); diff != "" {
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
	// The client reads the date on its own clock, here a fixed one: a date
	// 20s after it is a 20s pause, whatever the wall clock does meanwhile.
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	_, uri := scriptedServer(t, []answer{{status: 503, retryAfter: now.Add(20 * time.Second).Format(http.TimeFormat)}, {status: 200}})
	c, s := newTestClient(t, uri, func(o *Options) { o.Now = func() time.Time { return now } })
	if err := callGet(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Duration{20 * time.Second}, s.got()); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
}

func TestDeadline(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		script       []answer
		timeout      time.Duration
		factor       time.Duration
		wantAttempts int64
		wantSleeps   []time.Duration
		wantText     string
	}{
		{
			name:         "Retry-After beyond the deadline: no sleep",
			script:       []answer{{status: 503, retryAfter: "60"}},
			timeout:      30 * time.Second,
			wantAttempts: 1,
			wantText:     "deadline reached after 1 attempt (the next retry, in 1m0s, would end past it): GET /api/2.0/mlflow/model-versions/get: 503",
		},
		{
			name:         "backoff stops before the deadline",
			script:       []answer{{status: 503}},
			timeout:      time.Minute, // the sleeper does not sleep: about a minute is left at each retry
			wantAttempts: 6,
			wantSleeps:   []time.Duration{0, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second},
			wantText:     "deadline reached after 6 attempts (the next retry, in 1m4s, would end past it): GET /api/2.0/mlflow/model-versions/get: 503",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			served, uri := scriptedServer(t, tc.script)
			c, s := newTestClient(t, uri, func(o *Options) { o.BackoffFactor = tc.factor })
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
			if err != nil && !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error = %q, want it to say %q", err, tc.wantText)
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

// TestDeadlineName: a deadline named with WithDeadlineName is named in the
// error, wherever the call stops (before a retry, in a pause, in a request);
// a context derived with another deadline keeps the plain word.
func TestDeadlineName(t *testing.T) {
	t.Parallel()
	const name = "deadline of 5s (input `timeout`)"
	t.Run("next retry past it", func(t *testing.T) {
		t.Parallel()
		_, uri := scriptedServer(t, []answer{{status: 503, retryAfter: "3600"}})
		c, _ := newTestClient(t, uri, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		err := callGet(WithDeadlineName(ctx, name), c)
		// Retry-After is capped at 5 minutes.
		want := name + " reached after 1 attempt (the next retry, in 5m0s, would end past it): GET /api/2.0/mlflow/model-versions/get: 503"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want %q", err, want)
		}
	})
	t.Run("ended in a pause", func(t *testing.T) {
		t.Parallel()
		_, uri := scriptedServer(t, []answer{{status: 503}})
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		ctx = WithDeadlineName(ctx, name)
		expired := &expiringContext{Context: ctx}
		c, _ := newTestClient(t, uri, func(o *Options) {
			o.Sleep = func(context.Context, time.Duration) error { expired.expire(); return context.DeadlineExceeded }
		})
		err := callGet(expired, c)
		want := name + " exceeded after 1 attempt: GET /api/2.0/mlflow/model-versions/get: 503"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want %q", err, want)
		}
	})
	t.Run("ended in a request", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		c, _ := newTestClient(t, srv.URL, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		err := callGet(WithDeadlineName(ctx, name), c)
		want := name + " exceeded after 1 attempt: GET /api/2.0/mlflow/model-versions/get: no answer"
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want %q wrapping context.DeadlineExceeded", err, want)
		}
	})
	t.Run("another deadline", func(t *testing.T) {
		t.Parallel()
		_, uri := scriptedServer(t, []answer{{status: 503, retryAfter: "3600"}})
		c, _ := newTestClient(t, uri, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		ctx = WithDeadlineName(ctx, name)
		// A release after the step's deadline has a deadline of its own.
		ctx, cancel2 := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
		defer cancel2()
		err := callGet(ctx, c)
		if err == nil || strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "deadline reached after 1 attempt") {
			t.Errorf("error = %v, want the plain word deadline", err)
		}
	})
}

// expiringContext is ctx until expire, then a context whose deadline has
// passed, as its own timer would leave it.
type expiringContext struct {
	context.Context //nolint:containedctx // a test context that expires on demand
	mu              sync.Mutex
	expired         bool
}

func (e *expiringContext) expire() { e.mu.Lock(); e.expired = true; e.mu.Unlock() }

func (e *expiringContext) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.expired {
		return context.DeadlineExceeded
	}
	return e.Context.Err()
}

// TestRealSleepEndsWithTheContext: the default Sleep, a real timer, returns
// when the context ends; the retry about to wait an hour is the event that
// cancels it.
func TestRealSleepEndsWithTheContext(t *testing.T) {
	t.Parallel()
	_, uri := scriptedServer(t, []answer{{status: 503, retryAfter: "3600"}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c, err := New(Options{TrackingURI: uri, OnRetry: func(Retry) { cancel() }})
	if err != nil {
		t.Fatal(err)
	}
	err = callGet(ctx, c)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	if got := c.Requests(); got != 1 {
		t.Errorf("Requests() = %d, want 1", got)
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
	if err != nil && !strings.Contains(err.Error(), "context canceled after 1 attempt: GET /api/2.0/mlflow/model-versions/get: 503") {
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

// closedAddr returns an address that refuses connections.
func closedAddr(t *testing.T) string { return testutil.RefusedAddr(t) }

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
			if diff := cmp.Diff([]time.Duration{0, 4 * time.Second}, s.got()); diff != "" {
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

// TestRetryEvents: each retry is reported before its pause with what failed,
// the attempt and the wait, and never with the host or query of the request.
func TestRetryEvents(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "2")
			writeJSON(w, http.StatusTooManyRequests, `{"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"}`)
		case 2:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			writeJSON(w, http.StatusOK, `{"model_version": {"name": "m", "version": "1"}}`)
		}
	})
	var got []string
	c, _ := newTestClient(t, srv.URL, func(o *Options) {
		o.Rand = func() float64 { return 0.25 }
		o.OnRetry = func(r Retry) { got = append(got, r.String()) }
	})
	if err := callGet(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	want := []string{
		// The first retry also says how long the retries may go on: here
		// no deadline bounds them, the last of 8 attempts does (2s, then
		// the pauses of retries 2 to 7 with their full jitter, then 7
		// attempts of 120s each).
		"GET /api/2.0/mlflow/model-versions/get: 429 Too Many Requests REQUEST_LIMIT_EXCEEDED: slow down (attempt 1 of 8); " +
			"retrying in 2s, and for up to 18m11s (7 more attempts)",
		"GET /api/2.0/mlflow/model-versions/get: 503 Service Unavailable (attempt 2 of 8); retrying in 4.3s",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("retry events (-want +got):\n%s", diff)
	}
}

// TestRetryEventIsOneLine: a server's message cannot break the log line (and
// start a workflow command on the next).
func TestRetryEventIsOneLine(t *testing.T) {
	t.Parallel()
	r := Retry{Method: "GET", Path: "/p", Attempt: 1, MaxAttempts: 8,
		Err: &Error{StatusCode: 503, Code: CodeInternalError, Message: "down\n::error::injected\r\u2028x"}}
	if got, want := r.String(), "GET /p: 503 Service Unavailable: down ::error::injected  x (attempt 1 of 8); retrying in 0s"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestRetryEventRefusedConnection(t *testing.T) {
	t.Parallel()
	var got []Retry
	addr := closedAddr(t)
	c, _ := newTestClient(t, "http://"+addr, func(o *Options) {
		o.MaxRetries = 1
		o.OnRetry = func(r Retry) { got = append(got, r) }
	})
	ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
	defer cancel()
	err := callGet(WithDeadlineName(ctx, "deadline of 1h (input `timeout`)"), c)
	if err == nil || !strings.Contains(err.Error(), "gave up after 2 attempts: GET /api/2.0/mlflow/model-versions/get: dial tcp") {
		t.Errorf("error = %v, want the request line and the dial error, without the URL", err)
	}
	if len(got) != 1 {
		t.Fatalf("%d retry events, want 1", len(got))
	}
	// The first retry says who refused, and how long the retries may go on:
	// the one retry left takes at most the attempt's 120s, well before the
	// deadline.
	if want := "GET /api/2.0/mlflow/model-versions/get: connection refused by " + addr +
		" (attempt 1 of 2); retrying in 0s, and for up to 2m0s (1 more attempt)"; got[0].String() != want {
		t.Errorf("event = %q, want %q", got[0], want)
	}
}

// TestRequestTimeout: RequestTimeout (MLFLOW_HTTP_REQUEST_TIMEOUT) bounds
// each attempt, also when an HTTPClient with another timeout is given. The
// server never answers, so every attempt times out however loaded the
// machine is; with the HTTPClient's hour the call would not return.
func TestRequestTimeout(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		<-r.Context().Done()
	})
	c, _ := newTestClient(t, srv.URL, func(o *Options) {
		o.HTTPClient = &http.Client{Timeout: time.Hour}
		o.RequestTimeout = 50 * time.Millisecond
		o.MaxRetries = 1
	})
	err := callGet(t.Context(), c)
	if err == nil || !strings.Contains(err.Error(), "Client.Timeout exceeded") {
		t.Fatalf("error = %v, want the attempt's timeout", err)
	}
	if got := c.Requests(); got != 2 {
		t.Errorf("Requests() = %d, want 2 (each attempt timed out)", got)
	}
}
