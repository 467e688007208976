package github

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// rateLimitTransport waits out GitHub's rate limits and retries: a 403 or
// 429 with Retry-After (secondary limit), or a 403 with
// X-RateLimit-Remaining: 0 (primary limit, until X-RateLimit-Reset). It gives
// up when the wait is longer than maxWait or the deadline, and then the
// answer goes to go-github, which reports it as a rate-limit error.
type rateLimitTransport struct {
	next    http.RoundTripper
	sleep   func(ctx context.Context, d time.Duration) error
	maxWait time.Duration
}

const maxRateLimitRetries = 2

func (t *rateLimitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := t.next.RoundTrip(req)
		if err != nil || attempt >= maxRateLimitRetries {
			return resp, err
		}
		wait, limited := rateLimitWait(resp, time.Now())
		if !limited || !t.affordable(req.Context(), wait) || (req.Body != nil && req.GetBody == nil) {
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err := t.wait(req.Context(), wait); err != nil {
			return nil, err
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, fmt.Errorf("failed to replay request body: %w", err)
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}

func (t *rateLimitTransport) affordable(ctx context.Context, d time.Duration) bool {
	limit := t.maxWait
	if limit == 0 {
		limit = 60 * time.Second
	}
	if d > limit {
		return false
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d+time.Second {
		return false
	}
	return true
}

func (t *rateLimitTransport) wait(ctx context.Context, d time.Duration) error {
	if t.sleep != nil {
		return t.sleep(ctx, d)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// rateLimitWait tells whether resp is a rate-limit answer and how long to wait.
func rateLimitWait(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests {
		return 0, false
	}
	if v := resp.Header.Get("Retry-After"); v != "" {
		if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
			return time.Duration(secs) * time.Second, true
		}
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		if reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			return max(time.Unix(reset, 0).Sub(now), 0) + time.Second, true
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return time.Minute, true // GitHub's advice when no header says otherwise
	}
	return 0, false
}
