package mlflow

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	defaultMaxRetries  = 7
	defaultBackoffBase = time.Second
	maxBackoff         = 30 * time.Second
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

// isPermanent reports transport failures that a retry cannot fix: TLS
// verification problems and answers too large to read.
func isPermanent(err error) bool {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verification     *tls.CertificateVerificationError
		recordHeader     tls.RecordHeaderError
		alert            tls.AlertError
	)
	return errors.As(err, &unknownAuthority) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &verification) ||
		errors.As(err, &recordHeader) || errors.As(err, &alert) ||
		errors.Is(err, errResponseTooLarge)
}

// backoff returns the pause before retry n (1-based): base·2^(n-1), capped at
// 30s, plus a uniform jitter in [0, base).
func backoff(base time.Duration, n int, rnd func() float64) time.Duration {
	d := maxBackoff
	if n-1 < 32 {
		if e := base << (n - 1); e > 0 && e < maxBackoff {
			d = e
		}
	}
	return d + time.Duration(rnd()*float64(min(base, maxBackoff)))
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

// sleepContext waits for d or until ctx is done.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
