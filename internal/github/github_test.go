package github_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlreg/mlreg-action/internal/github"
	"github.com/mlreg/mlreg-action/internal/testing/githubfake"
)

const (
	headSHA  = "1111111111111111111111111111111111111111"
	mergeSHA = "2222222222222222222222222222222222222222"
)

// sleeper records rate-limit waits instead of sleeping.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeper) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = append(s.waits, d)
	return nil
}

func (s *sleeper) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// newClient points a client at a GitHub fake that validates every request
// and answer against GitHub's OpenAPI description.
func newClient(t *testing.T, f *githubfake.Server, sl *sleeper) *github.Client {
	t.Helper()
	opts := github.Options{Token: f.Token(), APIURL: f.URL(), Repository: githubfake.DefaultOwner + "/" + githubfake.DefaultRepo}
	if sl != nil {
		opts.Sleep = sl.sleep
	}
	gh, err := github.NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	return gh
}

func TestNewClientRejectsBadSettings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		opts    github.Options
		wantErr string
	}{
		{"no owner", github.Options{Repository: "models"}, `failed to parse repository "models": want owner/name`},
		{"empty name", github.Options{Repository: "acme/"}, `failed to parse repository "acme/": want owner/name`},
		{"API URL without a host", github.Options{Repository: "acme/models", APIURL: "api/v3"}, `failed to parse GitHub API URL "api/v3"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.opts.Token = "ghs_secret"
			gh, err := github.NewClient(tc.opts)
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("NewClient() = %v, %v; want error %q", gh, err, tc.wantErr)
			}
		})
	}
}

// The fake serves under /api/v3, as GitHub Enterprise Server does: a client
// that kept api.github.com or dropped the base path would fail every call.
func TestClientUsesTheAPIURL(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t, githubfake.Options{})
	f.AddComment(7, "reviewer", "looks good")
	gh, err := github.NewClient(github.Options{Token: f.Token(), APIURL: f.URL() + "/", Repository: "acme/models"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gh.UpsertComment(t.Context(), 7, "<!-- m -->", "<!-- m -->\nbody"); err != nil {
		t.Fatal(err)
	}
	for _, c := range f.Calls() {
		if c.Operation == "" {
			t.Errorf("call outside GitHub's API: %s %s", c.Method, c.Path)
		}
	}
	if len(f.Comments(7)) != 2 {
		t.Errorf("%d comments, want the reviewer's and ours", len(f.Comments(7)))
	}
}

func TestRateLimitAnswers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		fault     githubfake.Fault
		wantWaits int
		wantErr   string
	}{
		{"secondary limit: 429 with Retry-After", githubfake.RateLimited(http.StatusTooManyRequests, 3*time.Second), 1, ""},
		{"primary limit: 403 with the reset time", githubfake.RateLimited(http.StatusForbidden, 5*time.Second), 1, ""},
		{"primary limit an hour away: give up with the reset time", githubfake.RateLimited(http.StatusForbidden, time.Hour), 0,
			"failed to list the comments of pull request #7: GitHub API rate limit exceeded (resets at "},
		{"secondary limit twice more than retries: give up", func() githubfake.Fault {
			f := githubfake.RateLimited(http.StatusTooManyRequests, time.Second)
			f.Times = 3
			return f
		}(), 2, "failed to list the comments of pull request #7: GitHub rate limit exceeded (429 You have exceeded a secondary rate limit."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := githubfake.New(t, githubfake.Options{})
			f.Fail("issues/list-comments", tc.fault)
			sl := &sleeper{}
			_, err := newClient(t, f, sl).UpsertComment(t.Context(), 7, "<!-- m -->", "<!-- m -->\nbody")
			got := ""
			if err != nil {
				got = err.Error()
			}
			if (tc.wantErr == "") != (got == "") || !strings.HasPrefix(got, tc.wantErr) {
				t.Errorf("UpsertComment() error = %q, want prefix %q", got, tc.wantErr)
			}
			if err != nil && github.IsNotAccessible(err) {
				t.Errorf("a rate limit reads as a missing permission: %v", err)
			}
			waits := sl.got()
			if len(waits) != tc.wantWaits {
				t.Fatalf("waited %v, want %d waits", waits, tc.wantWaits)
			}
			for _, w := range waits {
				if w < time.Second || w > 10*time.Second {
					t.Errorf("waited %v", w)
				}
			}
			if tc.wantErr == "" && len(f.Comments(7)) != 1 {
				t.Errorf("no comment after the rate limit passed")
			}
		})
	}
}

func TestIsNotAccessible(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t, githubfake.Options{ReadOnly: true})
	_, err := newClient(t, f, nil).UpsertComment(t.Context(), 7, "<!-- m -->", "<!-- m -->\nbody")
	want := "failed to comment on pull request #7: 403 Resource not accessible by integration"
	if err == nil || err.Error() != want {
		t.Fatalf("UpsertComment() error = %v, want %q", err, want)
	}
	if !github.IsNotAccessible(err) {
		t.Errorf("IsNotAccessible(%v) = false", err)
	}
}
