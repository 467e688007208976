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
	"net/http"
	"net/url"
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
