package mlflow

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
)

// The retry schedule of MLflow's Python client (mlflow/environment_variables.py,
// mlflow/utils/request_utils.py, which hands them to urllib3's Retry).
const (
	// DefaultMaxRetries is MLFLOW_HTTP_REQUEST_MAX_RETRIES's default.
	DefaultMaxRetries = 7
	// DefaultBackoffFactor is MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR's default (2 seconds).
	DefaultBackoffFactor = 2 * time.Second
	// DefaultBackoffJitter is MLFLOW_HTTP_REQUEST_BACKOFF_JITTER's default (1.0 seconds).
	DefaultBackoffJitter = time.Second
	// DefaultRequestTimeout is MLFLOW_HTTP_REQUEST_TIMEOUT's default (120 seconds).
	DefaultRequestTimeout = 120 * time.Second
	// maxBackoff is urllib3's Retry.DEFAULT_BACKOFF_MAX: no pause is longer.
	maxBackoff = 120 * time.Second
	// maxRetryAfter bounds a server's Retry-After when the context has no
	// deadline, so that one odd header cannot park the process for hours.
	maxRetryAfter = 5 * time.Minute
)

// retryPolicy says which failures of a call may be retried.
type retryPolicy int

const (
	// retryRead is for calls that change nothing: 408, 429, 500, 502, 503,
	// 504 and transport errors.
	retryRead retryPolicy = iota
	// retryWrite is for writes whose repetition is harmless: as retryRead
	// minus 500, because MLflow answers some deterministic failures with 500.
	retryWrite
	// retryOnce is for writes that must not run twice (creating a model
	// version): only answers that show the server did not act (408, 429, 503
	// with Retry-After) and dial errors (nothing was sent).
	retryOnce
)

// retryableStatus reports whether an HTTP answer may be retried under p.
// hasRetryAfter tells whether the response carried a Retry-After header.
func retryableStatus(p retryPolicy, status int, hasRetryAfter bool) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests:
		return true
	case http.StatusServiceUnavailable:
		return p != retryOnce || hasRetryAfter
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return p != retryOnce
	case http.StatusInternalServerError:
		return p == retryRead
	}
	return false
}

// retryableTransport reports whether a failure to get a response may be
// retried under p. sent tells whether request headers reached the wire.
func retryableTransport(p retryPolicy, err error, sent bool) bool {
	if isPermanent(err) {
		return false
	}
	if p == retryOnce {
		return !sent && isDialError(err)
	}
	return true
}

// isDialError reports whether err happened while connecting, before anything
// was written.
func isDialError(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && (opErr.Op == "dial" || opErr.Op == "proxyconnect") {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}

// isPermanent reports transport failures that a retry cannot fix: a failed
// TLS handshake (a plain-HTTP server, an untrusted or wrong certificate, a
// refused client certificate), a refused redirect and answers too large to
// read.
func isPermanent(err error) bool {
	var redirect *RedirectError
	return tlsHint(err, "") != "" || errors.As(err, &redirect) || errors.Is(err, errResponseTooLarge)
}

// tlsHint says why a TLS handshake failed and what to do about it, or ""
// when err is no handshake failure. base is the tracking URI, for the
// http:// one to suggest.
func tlsHint(err error, base string) string {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verification     *tls.CertificateVerificationError
		recordHeader     tls.RecordHeaderError
		alert            tls.AlertError
	)
	plain := "http://" + strings.TrimPrefix(base, "https://")
	switch {
	case errors.Is(err, http.ErrSchemeMismatch):
		return "the server speaks plain HTTP: did you mean " + plain + "?"
	case errors.As(err, &recordHeader):
		return "the server does not speak TLS: did you mean " + plain + "?"
	case errors.As(err, &unknownAuthority):
		return "certificate not trusted: set MLFLOW_TRACKING_SERVER_CERT_PATH to the PEM file of the CA that signed it"
	case errors.As(err, &hostname):
		return "the certificate is another host's: the tracking URI must name a host the certificate is for"
	case errors.As(err, &invalid), errors.As(err, &verification):
		return "certificate not valid"
	case errors.As(err, &alert):
		return "the server refused the TLS handshake: if it asks for a client certificate, set MLFLOW_TRACKING_CLIENT_CERT_PATH"
	}
	return ""
}

// backoff returns the pause before retry n (1-based) as urllib3's
// Retry.get_backoff_time computes it for MLflow's client: none before the
// first retry, then factor·2^(n-1) plus a uniform jitter in [0, jitter),
// capped at 120s. With the defaults (factor 2s, jitter 1s) the pauses are 0,
// 4, 8, 16, 32, 64 and 120 seconds, each plus up to a second.
func backoff(factor, jitter time.Duration, n int, rnd func() float64) time.Duration {
	if n <= 1 {
		return 0
	}
	d := maxBackoff
	if factor <= 0 {
		d = 0
	} else if n-1 < 32 {
		if e := factor << (n - 1); e > 0 && e < maxBackoff {
			d = e
		}
	}
	if jitter > 0 {
		d += time.Duration(rnd() * float64(jitter))
	}
	return min(d, maxBackoff)
}

// parseRetryAfter reads a Retry-After value: delta seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), maxRetryAfter), true
}

func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

// Retry describes a retry about to happen, for Options.OnRetry.
type Retry struct {
	Method string
	Path   string // URL path, without host, query or credentials
	// Attempt is the attempt that failed (1-based); MaxAttempts is 1 + the
	// maximum number of retries.
	Attempt, MaxAttempts int
	Wait                 time.Duration // the pause before the next attempt
	Err                  error         // what failed
	// For the first retry of a call (Attempt 1): how long the call may go
	// on retrying at most, and what ends it then: the deadline, named as
	// WithDeadlineName named it, or, when Deadline is "", the last attempt
	// (the pauses to come, at their longest, plus every attempt at its
	// longest). Budget is 0 when nothing bounds it.
	Budget   time.Duration
	Deadline string
}

// String is one log line: what failed, the attempt, the wait, e.g.
// "GET /api/2.0/mlflow/model-versions/get: connection refused by 10.0.0.7:5000 (attempt 2 of 8); retrying in 4.2s".
// The first retry's line also says how long the retries may go on, so that
// a wrong URL does not look like a hang:
// "... (attempt 1 of 8); retrying in 0s, and for up to 4m59s before the deadline of 5m (input `timeout`)".
// It is one line whatever the server said: a line break in its message could
// otherwise start a workflow command in a GitHub Actions log.
func (r Retry) String() string {
	s := fmt.Sprintf("%s %s: %s (attempt %d of %d); retrying in %s",
		r.Method, r.Path, briefError(r.Err), r.Attempt, r.MaxAttempts, r.Wait.Round(100*time.Millisecond))
	if r.Attempt == 1 && r.Budget > 0 {
		s += ", and for up to " + r.Budget.Truncate(time.Second).String()
		if r.Deadline != "" {
			s += " before the " + r.Deadline
		} else if n := r.MaxAttempts - r.Attempt; n == 1 {
			s += " (1 more attempt)"
		} else {
			s += fmt.Sprintf(" (%d more attempts)", n)
		}
	}
	return strings.Map(func(c rune) rune {
		if unicode.IsControl(c) || c == '\u2028' || c == '\u2029' {
			return ' '
		}
		return c
	}, s)
}

// budget is how long a call whose attempt n failed may go on retrying at
// most, the next pause being wait, and the name of the deadline when that is
// what ends it first ("" when the last attempt does).
func (c *Client) budget(ctx context.Context, n int, wait time.Duration) (time.Duration, string) {
	schedule, bounded := wait, c.attempt > 0
	for k := n + 1; k <= c.maxRetries; k++ {
		schedule += backoff(c.factor, c.jitter, k, func() float64 { return 1 })
	}
	schedule += time.Duration(c.maxRetries-n+1) * c.attempt
	if deadline, ok := ctx.Deadline(); ok {
		if left := time.Until(deadline); !bounded || left < schedule {
			return left, deadlineName(ctx)
		}
	}
	if !bounded {
		return 0, ""
	}
	return schedule, ""
}

// briefError is what failed, without the request line an *Error or a
// transport error repeats.
func briefError(err error) string {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		s := fmt.Sprintf("%d %s", apiErr.StatusCode, http.StatusText(apiErr.StatusCode))
		if apiErr.Code != errorCodeForStatus(apiErr.StatusCode) {
			s += " " + apiErr.Code
		}
		if apiErr.Message != "" && apiErr.Message != http.StatusText(apiErr.StatusCode) {
			s += ": " + truncate(apiErr.Message, 120)
		}
		return s
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		// "dial tcp 127.0.0.1:5000: connect: connection refused" says the
		// same as "connection refused by 127.0.0.1:5000" (the address is the
		// tracking URI's, or its proxy's).
		s := opErr.Err.Error()
		var sys *os.SyscallError
		if errors.As(opErr.Err, &sys) {
			s = sys.Err.Error()
		}
		switch {
		case opErr.Addr == nil || (opErr.Op != "dial" && opErr.Op != "proxyconnect"):
		case errors.Is(opErr.Err, syscall.ECONNREFUSED):
			s += " by " + opErr.Addr.String()
		default:
			s += " connecting to " + opErr.Addr.String()
		}
		return s
	}
	var reqErr *requestError
	if errors.As(err, &reqErr) {
		return reqErr.Err.Error()
	}
	return err.Error()
}

// requestError is a failed attempt to get an answer: the request line and
// what went wrong (a refused, reset or timed out connection, a truncated body).
type requestError struct {
	Method, Path string
	Err          error
}

func (e *requestError) Error() string { return e.Method + " " + e.Path + ": " + e.Err.Error() }
func (e *requestError) Unwrap() error { return e.Err }

// StopError is the error of a call that stopped retrying at its context's
// deadline or cancellation. It wraps both the context's error (so
// errors.Is(err, context.DeadlineExceeded) holds) and the last failure.
type StopError struct {
	Attempts int
	// Deadline names the deadline in the message: "deadline" or what
	// WithDeadlineName gave, e.g. "deadline of 5m0s (input `timeout`)".
	Deadline string
	// NextRetry is the pause of the retry that was not started because it
	// would have ended past the deadline; 0 when the context had ended.
	NextRetry time.Duration
	Cause     error // context.DeadlineExceeded or context.Canceled
	Err       error // the last failure; nil when there was none but the context's
}

func (e *StopError) Error() string {
	var s string
	switch {
	case errors.Is(e.Cause, context.DeadlineExceeded) && e.NextRetry > 0:
		s = fmt.Sprintf("%s reached after %s (the next retry, in %s, would end past it)",
			e.Deadline, attempts(e.Attempts), e.NextRetry.Round(100*time.Millisecond))
	case errors.Is(e.Cause, context.DeadlineExceeded):
		s = fmt.Sprintf("%s exceeded after %s", e.Deadline, attempts(e.Attempts))
	default:
		s = fmt.Sprintf("%v after %s", e.Cause, attempts(e.Attempts))
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *StopError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Cause}
	}
	return []error{e.Cause, e.Err}
}

// stopped is the error of a call whose context ended during attempt n or the
// pause after it; err is that attempt's failure.
func stopped(ctx context.Context, n int, err error) error {
	cause := ctx.Err()
	if errors.Is(err, cause) {
		// The attempt was cut short: it says only that the context ended.
		var reqErr *requestError
		if errors.As(err, &reqErr) {
			err = fmt.Errorf("%s %s: no answer", reqErr.Method, reqErr.Path)
		} else {
			err = nil
		}
	}
	return &StopError{Attempts: n, Deadline: deadlineName(ctx), Cause: cause, Err: err}
}

type deadlineKey struct{}

type namedDeadline struct {
	at   time.Time
	name string
}

// WithDeadlineName returns ctx whose deadline errors call it name, e.g.
// "deadline of 5m0s (input `timeout`)", so that a user learns which setting
// to change. The name applies to ctx's deadline only, not to an earlier or
// later one of a context derived from it.
func WithDeadlineName(ctx context.Context, name string) context.Context {
	at, ok := ctx.Deadline()
	if !ok {
		return ctx
	}
	return context.WithValue(ctx, deadlineKey{}, namedDeadline{at: at, name: name})
}

func deadlineName(ctx context.Context) string {
	if nd, ok := ctx.Value(deadlineKey{}).(namedDeadline); ok {
		if at, ok := ctx.Deadline(); ok && at.Equal(nd.at) {
			return nd.name
		}
	}
	return "deadline"
}
