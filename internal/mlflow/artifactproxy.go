package mlflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The tracking server's artifact proxy (mlflow server --serve-artifacts, the
// default since MLflow 2.0) answers below /api/2.0/mlflow-artifacts/artifacts:
// GET ?path=<dir> lists a directory, GET /<path> downloads a file. Paths are
// relative to the server's --artifacts-destination, as in an
// mlflow-artifacts:/<path> URI. proxyPath is that prefix relative to
// apiPrefix ("/api/2.0/mlflow" + "-artifacts/artifacts"), so that the
// listing is an ordinary call of this client: its credentials, retries,
// redirect refusal and typed errors.
const proxyPath = "-artifacts/artifacts"

// maxProxyErrorBody bounds what is read of a failed download's answer.
const maxProxyErrorBody = 64 << 10

// ProxyEntry is an entry of a directory of the artifact proxy.
type ProxyEntry struct {
	Name  string // a bare name, as the server answers
	IsDir bool
	Size  int64 // bytes; -1 when the server did not say
}

type proxyListResponse struct {
	Files []struct {
		Path     string `json:"path"`
		IsDir    bool   `json:"is_dir"`
		FileSize *int64 `json:"file_size"` // present, 0 included, when the server knows it
	} `json:"files"`
}

// ListProxiedArtifacts lists the directory dir of the tracking server's
// artifact proxy ("" for its root): the entries directly in it, as MLflow's
// server answers (it does not page). Retried as a read.
func (c *Client) ListProxiedArtifacts(ctx context.Context, dir string) ([]ProxyEntry, error) {
	var q url.Values
	if dir != "" {
		q = url.Values{"path": {dir}}
	}
	var res proxyListResponse
	if err := c.get(ctx, proxyPath, q, &res); err != nil {
		return nil, fmt.Errorf("failed to list proxied artifacts at %q: %w", dir, err)
	}
	out := make([]ProxyEntry, len(res.Files))
	for i, f := range res.Files {
		out[i] = ProxyEntry{Name: f.Path, IsDir: f.IsDir, Size: -1}
		if f.FileSize != nil {
			out[i].Size = *f.FileSize
		}
	}
	return out, nil
}

// OpenProxiedArtifact downloads the file at path from the tracking server's
// artifact proxy as a stream, which the caller must close. The request is
// retried as a read (with this client's credentials, schedule and deadline
// rules) until an answer's header arrives; the body is then the caller's to
// read, and a failure while reading it (a connection cut, a body shorter than
// its Content-Length) is not retried. The client's per-attempt timeout
// (MLFLOW_HTTP_REQUEST_TIMEOUT) bounds the wait for the header and then each
// pause between bytes, as in MLflow's client, not the whole download, so a
// large file is not cut off. Redirects are refused.
func (c *Client) OpenProxiedArtifact(ctx context.Context, path string) (io.ReadCloser, error) {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	rel := proxyPath + "/" + strings.Join(segs, "/")
	rc, err := c.stream(ctx, c.base+apiPrefix+rel, c.basePath+apiPrefix+rel)
	if err != nil {
		return nil, fmt.Errorf("failed to download proxied artifact %q: %w", path, err)
	}
	return rc, nil
}

// stream GETs target, retried as a read, and returns the body of the first
// 2xx answer unread. shown is target's path, for messages.
func (c *Client) stream(ctx context.Context, target, shown string) (io.ReadCloser, error) {
	for attempt := 1; ; attempt++ {
		body, err := c.streamAttempt(ctx, target, shown)
		if err == nil {
			return body, nil
		}
		var (
			retry  bool
			wait   time.Duration
			apiErr *Error
			reqErr *requestError
		)
		switch {
		case errors.As(err, &apiErr):
			retry = retryableStatus(retryRead, apiErr.StatusCode, apiErr.RetryAfter > 0)
			wait = apiErr.RetryAfter
		case errors.As(err, &reqErr):
			if ctx.Err() != nil {
				return nil, stopped(ctx, attempt, err)
			}
			retry = retryableTransport(retryRead, err, true)
		}
		if !retry {
			return nil, err
		}
		if attempt > c.maxRetries {
			return nil, gaveUp(attempt, err)
		}
		if wait <= 0 {
			wait = backoff(c.factor, c.jitter, attempt, c.rand)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
			return nil, &StopError{Attempts: attempt, Deadline: deadlineName(ctx), NextRetry: wait,
				Cause: context.DeadlineExceeded, Err: err}
		}
		if c.onRetry != nil {
			c.onRetry(Retry{Method: http.MethodGet, Path: shown, Attempt: attempt, MaxAttempts: c.maxRetries + 1, Wait: wait, Err: err})
		}
		if serr := c.sleep(ctx, wait); serr != nil {
			return nil, stopped(ctx, attempt, err)
		}
	}
}

// errIdle ends a download whose server sent nothing for the per-attempt timeout.
var errIdle = errors.New("no data")

// streamAttempt sends one GET. A 2xx answer's body comes back unread; any
// other answer is an *Error (or a refused redirect), a failure to get one a
// *requestError.
func (c *Client) streamAttempt(ctx context.Context, target, shown string) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	idle := newIdleTimer(c.hc.Timeout, func() { cancel(errIdle) })
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		cancel(nil)
		return nil, fmt.Errorf("failed to build request GET %s: %w", shown, err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	if c.workspace != "" {
		req.Header.Set("X-MLFLOW-WORKSPACE", c.workspace)
	}
	hc := *c.hc
	hc.Timeout = 0 // the idle timer bounds the attempt: a whole download may take longer
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	c.requests.Add(1)
	res, err := hc.Do(req)
	if err != nil {
		idle.stop()
		if errors.Is(context.Cause(ctx), errIdle) {
			err = fmt.Errorf("%w for %s", errIdle, c.hc.Timeout)
		} else {
			var urlErr *url.Error
			if errors.As(err, &urlErr) {
				err = urlErr.Err // it repeats the URL
			}
		}
		cancel(nil)
		return nil, &requestError{Method: http.MethodGet, Path: shown, Err: err}
	}
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return &idleBody{rc: res.Body, ctx: ctx, cancel: cancel, idle: idle, limit: c.hc.Timeout}, nil
	}
	defer cancel(nil)
	defer idle.stop()
	defer res.Body.Close()
	if res.StatusCode >= 300 && res.StatusCode < 400 {
		return nil, fmt.Errorf("GET %s: %d %s refused: the artifact proxy never redirects, and redirects are not "+
			"followed, so that the credentials go nowhere but the tracking URI", shown, res.StatusCode, http.StatusText(res.StatusCode))
	}
	data, _ := io.ReadAll(io.LimitReader(res.Body, maxProxyErrorBody)) // what arrived is the message
	return nil, c.proxyError(shown, res, data)
}

// proxyError is the *Error of a failed download: MLflow's error_code and
// message when the body is MLflow JSON, else a code from the status and the
// start of the text, without the client's credentials.
func (c *Client) proxyError(shown string, res *http.Response, body []byte) *Error {
	e := &Error{Method: http.MethodGet, Path: shown, StatusCode: res.StatusCode, Code: errorCodeForStatus(res.StatusCode)}
	var j struct {
		Code    string `json:"error_code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &j) == nil && j.Code != "" {
		e.Code, e.Message = j.Code, j.Message
	} else {
		e.Message = strings.Join(strings.Fields(string(body)), " ")
	}
	if e.Message == "" {
		e.Message = http.StatusText(res.StatusCode)
	}
	e.Message = truncate(c.redact(e.Message), maxMessageLen)
	if d, ok := parseRetryAfter(res.Header.Get("Retry-After"), c.now()); ok {
		e.RetryAfter = max(d, time.Nanosecond) // "Retry-After: 0" still says when to retry: now
	}
	return e
}

// idleTimer calls fire when it has not been reset for d; d = 0 never fires.
type idleTimer struct {
	mu sync.Mutex
	t  *time.Timer
	d  time.Duration
}

func newIdleTimer(d time.Duration, fire func()) *idleTimer {
	it := &idleTimer{d: d}
	if d > 0 {
		it.t = time.AfterFunc(d, fire)
	}
	return it
}

func (it *idleTimer) reset() {
	if it.t != nil {
		it.mu.Lock()
		it.t.Reset(it.d)
		it.mu.Unlock()
	}
}

func (it *idleTimer) stop() {
	if it.t != nil {
		it.t.Stop()
	}
}

// idleBody is a download's body whose reads each restart the idle timer.
type idleBody struct {
	rc     io.ReadCloser
	ctx    context.Context //nolint:containedctx // the request's, to tell an idle cut from a cancellation
	cancel context.CancelCauseFunc
	idle   *idleTimer
	limit  time.Duration
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.idle.reset()
	n, err := b.rc.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && errors.Is(context.Cause(b.ctx), errIdle) {
		return n, fmt.Errorf("%w for %s", errIdle, b.limit)
	}
	return n, err //nolint:wrapcheck // the caller names the file
}

func (b *idleBody) Close() error {
	b.idle.stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err //nolint:wrapcheck // closing a read body
}
