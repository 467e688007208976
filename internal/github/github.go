// Package github is the GitHub REST API as this action uses it: one client
// built in one place, the run's event and the pull request it belongs to,
// pull request comments found by a marker, deployments and their statuses,
// the reviews of a workflow run and of a pull request, and GitHub's rate
// limits, waited out and reported. Every method takes ctx first and returns
// domain values, not go-github types; rendering what is sent is the
// caller's business (internal/notify).
package github

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gogithub "github.com/google/go-github/v60/github"
)

// Client is the part of GitHub's REST API the action uses, for one
// repository.
type Client struct {
	c           *gogithub.Client
	owner, repo string

	// The pull request of the run's event is looked up once: the approval
	// check and the PR comment both need it.
	prMu   sync.Mutex
	prSeen []prLookup
}

type prLookup struct {
	ev Event
	pr *PullRequest
}

// Options configure NewClient.
type Options struct {
	Token      string
	APIURL     string // GITHUB_API_URL: https://api.github.com, or https://<host>/api/v3 on GHES
	Repository string // owner/name
	HTTPClient *http.Client
	// Sleep waits out a rate limit; nil sleeps for real (bounded by ctx).
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxWait is the longest rate-limit wait worth taking; 0 = 60s.
	MaxWait time.Duration
}

// NewClient builds the client in one place, so a later go-github upgrade
// (v87 moved to an options constructor) touches one function.
func NewClient(o Options) (*Client, error) {
	owner, repo, ok := strings.Cut(o.Repository, "/")
	if !ok || owner == "" || repo == "" {
		return nil, fmt.Errorf("failed to parse repository %q: want owner/name", o.Repository)
	}
	base := o.HTTPClient
	if base == nil {
		base = &http.Client{Timeout: 30 * time.Second}
	}
	hc := *base
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = &rateLimitTransport{next: next, sleep: o.Sleep, maxWait: o.MaxWait}
	c := gogithub.NewClient(&hc).WithAuthToken(o.Token)
	c.UserAgent = "mlreg-action"
	if api := strings.TrimRight(o.APIURL, "/"); api != "" && api != "https://api.github.com" {
		u, err := url.Parse(api + "/")
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("failed to parse GitHub API URL %q", o.APIURL)
		}
		c.BaseURL = u
	}
	return &Client{c: c, owner: owner, repo: repo}, nil
}

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

// apiError turns a GitHub error into a short sentence with the status and
// GitHub's message (go-github's own text repeats the method and full URL);
// rate limits name the reset time. The original error stays in the chain.
func apiError(verb string, err error) error {
	var rl *gogithub.RateLimitError
	var abuse *gogithub.AbuseRateLimitError
	var er *gogithub.ErrorResponse
	var msg string
	switch {
	case errors.As(err, &rl):
		msg = fmt.Sprintf("failed to %s: GitHub API rate limit exceeded (resets at %s)", verb, rl.Rate.Reset.UTC().Format(time.RFC3339))
	case errors.As(err, &abuse):
		msg = fmt.Sprintf("failed to %s: GitHub secondary rate limit exceeded", verb)
	case errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusTooManyRequests:
		msg = fmt.Sprintf("failed to %s: GitHub rate limit exceeded (429 %s)", verb, er.Message)
	case errors.As(err, &er) && er.Response != nil:
		msg = fmt.Sprintf("failed to %s: %d %s", verb, er.Response.StatusCode, er.Message)
	default:
		return fmt.Errorf("failed to %s: %w", verb, err)
	}
	return &ghError{msg: msg, err: err}
}

type ghError struct {
	msg string
	err error
}

func (e *ghError) Error() string { return e.msg }
func (e *ghError) Unwrap() error { return e.err }

// statusOf returns the HTTP status of a GitHub error, or 0.
func statusOf(err error) int {
	var er *gogithub.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	var rl *gogithub.RateLimitError
	if errors.As(err, &rl) && rl.Response != nil {
		return rl.Response.StatusCode
	}
	return 0
}

// IsNotAccessible reports GitHub's 403 for a token that lacks a permission
// ("Resource not accessible by integration"), as opposed to a rate limit.
func IsNotAccessible(err error) bool {
	var rl *gogithub.RateLimitError
	var abuse *gogithub.AbuseRateLimitError
	if errors.As(err, &rl) || errors.As(err, &abuse) {
		return false
	}
	return statusOf(err) == http.StatusForbidden
}
