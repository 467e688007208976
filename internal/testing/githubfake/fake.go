// Package githubfake is a local GitHub REST API for tests. It answers the
// operations in Operations, checks every request it receives and every
// response it sends against GitHub's own OpenAPI description (a trimmed copy
// of the npm package @octokit/openapi under testdata/github), and fails the
// test on a request outside that set.
//
// Its URL ends in /api/v3, as a GitHub Enterprise Server's does, so a client
// that drops the base path is caught too.
package githubfake

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Prefix is the API base path the fake serves under.
const Prefix = "/api/v3"

// Defaults for Options.
const (
	DefaultToken = "ghs_fakeTokenForTests0123456789"
	DefaultOwner = "acme"
	DefaultRepo  = "models"
	BotLogin     = "github-actions[bot]"
)

// Options configure a Server.
type Options struct {
	Token       string // the token requests must carry; DefaultToken when empty
	Owner, Repo string // the repository; DefaultOwner/DefaultRepo when empty
	// ReadOnly answers every write with 403 "Resource not accessible by
	// integration", as GitHub does for the token of a fork's pull request.
	ReadOnly bool
}

// Call is one request the fake received.
type Call struct {
	Operation string // operationId, "" when outside the description
	Method    string
	Path      string // without Prefix
	Query     url.Values
	Body      []byte
	Status    int
}

// PullRequest seeds a pull request associated with commits.
type PullRequest struct {
	Number         int
	State          string // open (default) or closed
	Title          string
	HeadRef        string // the head branch; "feature" when empty
	HeadSHA        string
	MergeCommitSHA string
	Merged         bool
	// Fork: the head lives in the repository contributor/<repo>. As on
	// GitHub, the head commit is then not in this repository, and
	// repos/list-pull-requests-associated-with-commit does not find it.
	Fork bool
	// Commits are the commits GitHub associates with it (its head is added).
	Commits []string
}

// Comment is an issue comment.
type Comment struct {
	ID        int64
	Issue     int
	Body      string
	User      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// DeploymentStatus is one status of a deployment.
type DeploymentStatus struct {
	ID             int64
	State          string
	Description    string
	LogURL         string
	EnvironmentURL string
	Environment    string
	AutoInactive   *bool
	Automatic      bool // created by auto_inactive, not by a request
}

// Deployment is a deployment with its statuses, oldest first.
type Deployment struct {
	ID                    int64
	Ref                   string
	SHA                   string
	Task                  string
	Environment           string
	Description           string
	Payload               any
	ProductionEnvironment bool
	TransientEnvironment  bool
	RequiredContexts      []string // nil when the request left it out
	AutoMerge             *bool
	Statuses              []DeploymentStatus
}

// State is the latest status, or "" when it has none.
func (d Deployment) State() string {
	if len(d.Statuses) == 0 {
		return ""
	}
	return d.Statuses[len(d.Statuses)-1].State
}

// Review is a pull request review.
type Review struct {
	User     string
	State    string // APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
	CommitID string
}

// Approval is an environment review of a workflow run.
type Approval struct {
	User         string
	State        string // approved, rejected, pending
	Environments []string
	Comment      string
}

// Fault is a canned error answer for an operation.
type Fault struct {
	Status int
	Header http.Header
	Body   any
	Times  int // how many calls it answers; 0 = 1
}

// Server is the fake.
type Server struct {
	t      testing.TB
	opts   Options
	srv    *httptest.Server
	doc    *openapi3.T
	router routers.Router

	mu           sync.Mutex
	calls        []Call
	nextID       int64
	comments     []*Comment
	pulls        []PullRequest
	deployments  []*Deployment
	reviews      map[int][]Review
	runApprovals map[int64][]Approval
	faults       map[string][]*Fault
	violations   []string
}

// New starts a fake for the test; it stops when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Token == "" {
		opts.Token = DefaultToken
	}
	if opts.Owner == "" {
		opts.Owner = DefaultOwner
	}
	if opts.Repo == "" {
		opts.Repo = DefaultRepo
	}
	doc, err := LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	router, err := legacy.NewRouter(doc, ValidationOptions...)
	if err != nil {
		t.Fatalf("failed to build router: %v", err)
	}
	s := &Server{
		t: t, opts: opts, doc: doc, router: router, nextID: 1000,
		reviews: map[int][]Review{}, runApprovals: map[int64][]Approval{}, faults: map[string][]*Fault{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the API base URL (GITHUB_API_URL), ending in /api/v3.
func (s *Server) URL() string { return s.srv.URL + Prefix }

// Token is the token the fake accepts.
func (s *Server) Token() string { return s.opts.Token }

// Calls returns every request received, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Count returns how many requests an operation received.
func (s *Server) Count(op string) int {
	n := 0
	for _, c := range s.Calls() {
		if c.Operation == op {
			n++
		}
	}
	return n
}

// Violations lists requests and responses that broke the description (each
// also failed the test).
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// AddPullRequest seeds a pull request.
func (s *Server) AddPullRequest(pr PullRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pr.State == "" {
		pr.State = "open"
	}
	s.pulls = append(s.pulls, pr)
}

// AddComment seeds an issue comment (by someone else, for example).
func (s *Server) AddComment(issue int, user, body string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	s.comments = append(s.comments, &Comment{ID: s.nextID, Issue: issue, Body: body, User: user, CreatedAt: sampleTime, UpdatedAt: sampleTime})
	return s.nextID
}

// Comments returns the comments of an issue, oldest first.
func (s *Server) Comments(issue int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Comment
	for _, c := range s.comments {
		if c.Issue == issue {
			out = append(out, *c)
		}
	}
	return out
}

// Deployments returns every deployment, oldest first.
func (s *Server) Deployments() []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Deployment, len(s.deployments))
	for i, d := range s.deployments {
		out[i] = *d
		out[i].Statuses = slices.Clone(d.Statuses)
	}
	return out
}

// AddDeployment seeds a deployment with statuses (an earlier promotion).
func (s *Server) AddDeployment(d Deployment) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	d.ID = s.nextID
	for i := range d.Statuses {
		s.nextID++
		d.Statuses[i].ID = s.nextID
	}
	s.deployments = append(s.deployments, &d)
	return d.ID
}

// AddReview seeds a review of a pull request.
func (s *Server) AddReview(pr int, r Review) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reviews[pr] = append(s.reviews[pr], r)
}

// AddRunApproval seeds an environment review of a workflow run.
func (s *Server) AddRunApproval(runID int64, a Approval) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runApprovals[runID] = append(s.runApprovals[runID], a)
}

// Fail makes the next f.Times calls of op answer with f.
func (s *Server) Fail(op string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	s.faults[op] = append(s.faults[op], &f)
}

// RateLimited is GitHub's answer when the token's rate limit is spent: 403
// (primary, with X-RateLimit-Remaining: 0 and the reset time) or 429
// (secondary, with Retry-After).
func RateLimited(status int, wait time.Duration) Fault {
	h := http.Header{}
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Used", "5000")
	h.Set("X-RateLimit-Resource", "core")
	secs := int64(wait / time.Second)
	if status == http.StatusTooManyRequests {
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
		h.Set("X-RateLimit-Remaining", "4000")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
		return Fault{Status: status, Header: h, Body: map[string]any{
			"message":           "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
		}}
	}
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(wait).Unix(), 10))
	return Fault{Status: status, Header: h, Body: map[string]any{
		"message":           "API rate limit exceeded for installation ID 1.",
		"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-rate-limits",
	}}
}

// NotAccessible is GitHub's 403 for a token that lacks a permission, and for
// the read-only token of a pull request from a fork.
func NotAccessible(docs string) Fault {
	return Fault{Status: http.StatusForbidden, Body: map[string]any{
		"message":           "Resource not accessible by integration",
		"documentation_url": docs,
		"status":            "403",
	}}
}

func (s *Server) violate(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.violations = append(s.violations, msg)
	s.mu.Unlock()
	s.t.Errorf("githubfake: %s", msg)
}

type reply struct {
	status int
	header http.Header
	body   any
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	call := Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: body}
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix+"/")
	if !ok {
		s.violate("%s %s is outside the API base path %s", r.Method, r.URL.Path, Prefix)
		s.write(w, &call, nil, nil, reply{status: http.StatusNotFound, body: notFound()})
		return
	}
	call.Path = "/" + rest
	rr := r.Clone(r.Context())
	rr.URL.Path = call.Path
	rr.URL.RawPath = ""
	rr.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := s.router.FindRoute(rr)
	if err != nil {
		s.violate("%s %s is not an operation of the trimmed description (%s): add it to githubfake.Operations and run scripts/gen-github-openapi.sh", r.Method, call.Path, err)
		s.write(w, &call, nil, nil, reply{status: http.StatusNotFound, body: notFound()})
		return
	}
	call.Operation = route.Operation.OperationID
	in := &openapi3filter.RequestValidationInput{
		Request: rr, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
			SkipSettingDefaults:     true,
			MultiError:              true,
			SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.EnableFormatValidation()},
		},
	}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		s.violate("request %s %s does not match GitHub's description of %s: %v", r.Method, call.Path, call.Operation, err)
		s.write(w, &call, in, nil, reply{status: http.StatusUnprocessableEntity, body: map[string]any{"message": "Validation Failed"}})
		return
	}
	if auth := r.Header.Get("Authorization"); auth != "Bearer "+s.opts.Token && auth != "token "+s.opts.Token {
		s.write(w, &call, in, nil, reply{status: http.StatusUnauthorized, body: map[string]any{
			"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}})
		return
	}
	if rep, ok := s.fault(call.Operation); ok {
		s.write(w, &call, in, route, rep)
		return
	}
	if s.opts.ReadOnly && r.Method != http.MethodGet {
		docs := "https://docs.github.com/rest"
		if route.Operation.ExternalDocs != nil {
			docs = route.Operation.ExternalDocs.URL
		}
		f := NotAccessible(docs)
		s.write(w, &call, in, route, reply{status: f.Status, body: f.Body})
		return
	}
	rep := s.handle(call.Operation, params, call.Query, body)
	s.write(w, &call, in, route, rep)
}

func (s *Server) fault(op string) (reply, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs := s.faults[op]
	if len(fs) == 0 {
		return reply{}, false
	}
	f := fs[0]
	f.Times--
	if f.Times <= 0 {
		s.faults[op] = fs[1:]
	}
	return reply{status: f.Status, header: f.Header.Clone(), body: f.Body}, true
}

func notFound() map[string]any {
	return map[string]any{"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}
}

// write sends rep after checking it against the description.
func (s *Server) write(w http.ResponseWriter, call *Call, in *openapi3filter.RequestValidationInput, route *routers.Route, rep reply) {
	var raw []byte
	if rep.body != nil {
		var err error
		raw, err = json.Marshal(rep.body)
		if err != nil {
			s.violate("failed to encode response: %v", err)
		}
	}
	h := w.Header()
	for k, v := range rep.header {
		h[k] = v
	}
	if h.Get("X-RateLimit-Remaining") == "" {
		h.Set("X-RateLimit-Limit", "5000")
		h.Set("X-RateLimit-Remaining", "4999")
		h.Set("X-RateLimit-Used", "1")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
		h.Set("X-RateLimit-Resource", "core")
	}
	h.Set("X-GitHub-Api-Version-Selected", "2022-11-28")
	if raw != nil {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	if route != nil && in != nil {
		out := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in,
			Status:                 rep.status,
			Header:                 h,
			Options: &openapi3filter.Options{
				MultiError:              true,
				SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.EnableFormatValidation()},
			},
		}
		out.SetBodyBytes(raw)
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			s.violate("response %d to %s does not match GitHub's description: %v", rep.status, call.Operation, err)
		}
	}
	call.Status = rep.status
	s.mu.Lock()
	s.calls = append(s.calls, *call)
	s.mu.Unlock()
	w.WriteHeader(rep.status)
	_, _ = w.Write(raw)
}

// entity is a response object of the named schema: a valid sample with the
// fields in o laid over it.
func (s *Server) entity(schema string, o map[string]any) map[string]any {
	ref, ok := s.doc.Components.Schemas[schema]
	if !ok || ref.Value == nil {
		s.violate("schema %s is not in the trimmed description", schema)
		return o
	}
	base, _ := sample(ref.Value, 0).(map[string]any)
	return overlay(base, o).(map[string]any)
}

func (s *Server) user(login string) map[string]any {
	typ := "User"
	if strings.HasSuffix(login, "[bot]") {
		typ = "Bot"
	}
	esc := url.PathEscape(login)
	return s.entity("simple-user", map[string]any{
		"login": login, "id": int64(len(login) * 7919), "type": typ,
		"url": "https://api.github.com/users/" + esc, "html_url": "https://github.com/" + esc,
	})
}

func (s *Server) repoURL() string {
	return "https://api.github.com/repos/" + s.opts.Owner + "/" + s.opts.Repo
}

func (s *Server) repository(owner string) map[string]any {
	full := owner + "/" + s.opts.Repo
	return s.entity("repository", map[string]any{
		"name": s.opts.Repo, "full_name": full, "fork": owner != s.opts.Owner, "owner": s.user(owner),
		"url": "https://api.github.com/repos/" + full, "html_url": "https://github.com/" + full,
	})
}

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

func (s *Server) handle(op string, p map[string]string, q url.Values, body []byte) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p["owner"] != s.opts.Owner || p["repo"] != s.opts.Repo {
		return reply{status: http.StatusNotFound, body: notFound()}
	}
	var in map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			return reply{status: http.StatusBadRequest, body: map[string]any{"message": "Problems parsing JSON"}}
		}
	}
	switch op {
	case "issues/list-comments":
		n, _ := strconv.Atoi(p["issue_number"])
		var items []any
		for _, c := range s.comments {
			if c.Issue == n {
				items = append(items, s.commentJSON(c))
			}
		}
		return s.page(items, q, fmt.Sprintf("/repos/%s/%s/issues/%d/comments", s.opts.Owner, s.opts.Repo, n))
	case "issues/create-comment":
		n, _ := strconv.Atoi(p["issue_number"])
		text, _ := in["body"].(string)
		if len([]rune(text)) > 65536 {
			return tooLong()
		}
		s.nextID++
		c := &Comment{ID: s.nextID, Issue: n, Body: text, User: BotLogin, CreatedAt: sampleTime, UpdatedAt: sampleTime}
		s.comments = append(s.comments, c)
		return reply{status: http.StatusCreated, header: http.Header{"Location": {fmt.Sprintf("%s/issues/comments/%d", s.repoURL(), c.ID)}}, body: s.commentJSON(c)}
	case "issues/update-comment":
		id, _ := strconv.ParseInt(p["comment_id"], 10, 64)
		text, _ := in["body"].(string)
		if len([]rune(text)) > 65536 {
			return tooLong()
		}
		for _, c := range s.comments {
			if c.ID == id {
				if c.User != BotLogin {
					return reply{status: http.StatusForbidden, body: map[string]any{"message": "Resource not accessible by integration"}}
				}
				c.Body, c.UpdatedAt = text, sampleTime.Add(time.Minute)
				return reply{status: http.StatusOK, body: s.commentJSON(c)}
			}
		}
		return reply{status: http.StatusNotFound, body: notFound()}
	case "repos/list-pull-requests-associated-with-commit":
		sha := p["commit_sha"]
		var items []any
		for _, pr := range s.pulls {
			inRepo := !pr.Fork && (pr.HeadSHA == sha || slices.Contains(pr.Commits, sha))
			if inRepo || pr.MergeCommitSHA == sha {
				items = append(items, s.pullJSON(pr))
			}
		}
		return s.page(items, q, fmt.Sprintf("/repos/%s/%s/commits/%s/pulls", s.opts.Owner, s.opts.Repo, sha))
	case "pulls/list":
		state := q.Get("state")
		if state == "" {
			state = "open"
		}
		var items []any
		for _, pr := range s.pulls {
			if (state != "all" && pr.State != state) || (q.Get("head") != "" && q.Get("head") != headOwner(pr, s.opts.Owner)+":"+headRef(pr)) {
				continue
			}
			items = append(items, s.pullJSON(pr))
		}
		return s.page(items, q, fmt.Sprintf("/repos/%s/%s/pulls", s.opts.Owner, s.opts.Repo))
	case "repos/create-deployment":
		return s.createDeployment(in)
	case "repos/create-deployment-status":
		id, _ := strconv.ParseInt(p["deployment_id"], 10, 64)
		return s.createStatus(id, in)
	case "repos/list-deployments":
		var items []any
		for i := len(s.deployments) - 1; i >= 0; i-- { // newest first
			d := s.deployments[i]
			if match(q, "sha", d.SHA) && match(q, "ref", d.Ref) && match(q, "task", d.Task) && match(q, "environment", d.Environment) {
				items = append(items, s.deploymentJSON(d))
			}
		}
		return s.page(items, q, fmt.Sprintf("/repos/%s/%s/deployments", s.opts.Owner, s.opts.Repo))
	case "actions/get-reviews-for-run":
		id, _ := strconv.ParseInt(p["run_id"], 10, 64)
		items := []any{}
		for _, a := range s.runApprovals[id] {
			envs := []any{}
			for i, e := range a.Environments {
				envs = append(envs, map[string]any{"id": int64(i + 1), "name": e, "url": s.repoURL() + "/environments/" + url.PathEscape(e),
					"html_url":   "https://github.com/" + s.opts.Owner + "/" + s.opts.Repo + "/deployments/activity_log?environments_filter=" + url.QueryEscape(e),
					"created_at": sampleTime.Format(time.RFC3339), "updated_at": sampleTime.Format(time.RFC3339), "node_id": "EN_" + e})
			}
			items = append(items, s.entity("environment-approvals", map[string]any{
				"user": s.user(a.User), "state": a.State, "comment": a.Comment, "environments": envs}))
		}
		return reply{status: http.StatusOK, body: items}
	case "pulls/list-reviews":
		n, _ := strconv.Atoi(p["pull_number"])
		var items []any
		for i, r := range s.reviews[n] {
			items = append(items, s.entity("pull-request-review", map[string]any{
				"id": int64(n*1000 + i + 1), "user": s.user(r.User), "state": r.State, "commit_id": r.CommitID,
				"body":             "",
				"html_url":         fmt.Sprintf("https://github.com/%s/%s/pull/%d#pullrequestreview-%d", s.opts.Owner, s.opts.Repo, n, n*1000+i+1),
				"pull_request_url": fmt.Sprintf("%s/pulls/%d", s.repoURL(), n),
			}))
		}
		return s.page(items, q, fmt.Sprintf("/repos/%s/%s/pulls/%d/reviews", s.opts.Owner, s.opts.Repo, n))
	}
	return reply{status: http.StatusNotFound, body: notFound()}
}

func match(q url.Values, key, v string) bool {
	want := q.Get(key)
	return want == "" || want == "none" || want == v
}

func tooLong() reply {
	return reply{status: http.StatusUnprocessableEntity, body: map[string]any{
		"message": "Validation Failed",
		"errors": []any{map[string]any{
			"resource": "IssueComment", "code": "unprocessable", "field": "data",
			"message": "Body is too long (maximum is 65536 characters)",
		}},
		"documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
	}}
}

// page answers a list with GitHub's per_page/page and Link header.
func (s *Server) page(items []any, q url.Values, path string) reply {
	per := 30
	if v, err := strconv.Atoi(q.Get("per_page")); err == nil && v > 0 {
		per = min(v, 100)
	}
	pg := 1
	if v, err := strconv.Atoi(q.Get("page")); err == nil && v > 0 {
		pg = v
	}
	last := max((len(items)+per-1)/per, 1)
	lo := min((pg-1)*per, len(items))
	hi := min(lo+per, len(items))
	out := append([]any{}, items[lo:hi]...)
	h := http.Header{}
	if pg < last {
		link := func(n int) string {
			return fmt.Sprintf("<%s%s%s?per_page=%d&page=%d>", s.srv.URL, Prefix, path, per, n)
		}
		h.Set("Link", fmt.Sprintf(`%s; rel="next", %s; rel="last"`, link(pg+1), link(last)))
	}
	return reply{status: http.StatusOK, header: h, body: out}
}

func (s *Server) commentJSON(c *Comment) map[string]any {
	issueURL := fmt.Sprintf("%s/issues/%d", s.repoURL(), c.Issue)
	return s.entity("issue-comment", map[string]any{
		"id": c.ID, "node_id": fmt.Sprintf("IC_%d", c.ID), "body": c.Body, "user": s.user(c.User),
		"url":        fmt.Sprintf("%s/issues/comments/%d", s.repoURL(), c.ID),
		"html_url":   fmt.Sprintf("https://github.com/%s/%s/pull/%d#issuecomment-%d", s.opts.Owner, s.opts.Repo, c.Issue, c.ID),
		"issue_url":  issueURL,
		"created_at": c.CreatedAt.Format(time.RFC3339), "updated_at": c.UpdatedAt.Format(time.RFC3339),
		"author_association": "NONE",
	})
}

func headOwner(pr PullRequest, owner string) string {
	if pr.Fork {
		return "contributor"
	}
	return owner
}

func headRef(pr PullRequest) string {
	if pr.HeadRef == "" {
		return "feature"
	}
	return pr.HeadRef
}

func (s *Server) pullJSON(pr PullRequest) map[string]any {
	headOwner := headOwner(pr, s.opts.Owner)
	o := map[string]any{
		"number": int64(pr.Number), "id": int64(pr.Number) * 10, "state": pr.State, "title": pr.Title,
		"url":      fmt.Sprintf("%s/pulls/%d", s.repoURL(), pr.Number),
		"html_url": fmt.Sprintf("https://github.com/%s/%s/pull/%d", s.opts.Owner, s.opts.Repo, pr.Number),
		"head":     map[string]any{"sha": pr.HeadSHA, "ref": headRef(pr), "label": headOwner + ":" + headRef(pr), "repo": s.repository(headOwner), "user": s.user(headOwner)},
		"base":     map[string]any{"sha": strings.Repeat("b", 40), "ref": "main", "label": s.opts.Owner + ":main", "repo": s.repository(s.opts.Owner), "user": s.user(s.opts.Owner)},
		"user":     s.user("octocat"),
	}
	if pr.MergeCommitSHA != "" {
		o["merge_commit_sha"] = pr.MergeCommitSHA
	} else {
		o["merge_commit_sha"] = nil
	}
	if pr.Merged {
		o["merged_at"] = sampleTime.Format(time.RFC3339)
		o["closed_at"] = sampleTime.Format(time.RFC3339)
	} else {
		o["merged_at"] = nil
		o["closed_at"] = nil
	}
	return s.entity("pull-request-simple", o)
}

func (s *Server) createDeployment(in map[string]any) reply {
	ref, _ := in["ref"].(string)
	if ref == "" {
		return reply{status: http.StatusUnprocessableEntity, body: map[string]any{"message": "Validation Failed"}}
	}
	d := &Deployment{Ref: ref, Task: "deploy", Environment: "production", Payload: in["payload"]}
	if shaRE.MatchString(ref) {
		d.SHA = ref
	} else {
		d.SHA = strings.Repeat("0", 40)
	}
	if v, ok := in["task"].(string); ok {
		d.Task = v
	}
	if v, ok := in["environment"].(string); ok {
		d.Environment = v
	}
	if v, ok := in["description"].(string); ok {
		d.Description = v
	}
	d.ProductionEnvironment = d.Environment == "production"
	if v, ok := in["production_environment"].(bool); ok {
		d.ProductionEnvironment = v
	}
	if v, ok := in["transient_environment"].(bool); ok {
		d.TransientEnvironment = v
	}
	if v, ok := in["auto_merge"].(bool); ok {
		d.AutoMerge = &v
	}
	if rc, ok := in["required_contexts"].([]any); ok {
		d.RequiredContexts = []string{}
		for _, c := range rc {
			cs, _ := c.(string)
			d.RequiredContexts = append(d.RequiredContexts, cs)
		}
	}
	if d.Payload == nil {
		d.Payload = map[string]any{}
	}
	if len(d.Description) > 140 {
		return reply{status: http.StatusUnprocessableEntity, body: map[string]any{"message": "Validation Failed",
			"errors": []any{map[string]any{"resource": "Deployment", "code": "custom", "field": "description", "message": "description is too long (maximum is 140 characters)"}}}}
	}
	s.nextID++
	d.ID = s.nextID
	s.deployments = append(s.deployments, d)
	return reply{status: http.StatusCreated, body: s.deploymentJSON(d)}
}

func (s *Server) deploymentJSON(d *Deployment) map[string]any {
	u := fmt.Sprintf("%s/deployments/%d", s.repoURL(), d.ID)
	var desc any = d.Description
	return s.entity("deployment", map[string]any{
		"id": d.ID, "node_id": fmt.Sprintf("DE_%d", d.ID), "sha": d.SHA, "ref": d.Ref, "task": d.Task,
		"payload": d.Payload, "original_environment": d.Environment, "environment": d.Environment,
		"description": desc, "creator": s.user(BotLogin), "url": u, "statuses_url": u + "/statuses",
		"repository_url": s.repoURL(), "transient_environment": d.TransientEnvironment,
		"production_environment": d.ProductionEnvironment,
		"created_at":             sampleTime.Format(time.RFC3339), "updated_at": sampleTime.Format(time.RFC3339),
		"performed_via_github_app": nil,
	})
}

func (s *Server) createStatus(id int64, in map[string]any) reply {
	var d *Deployment
	for _, x := range s.deployments {
		if x.ID == id {
			d = x
		}
	}
	if d == nil {
		return reply{status: http.StatusNotFound, body: notFound()}
	}
	st := DeploymentStatus{Environment: d.Environment}
	st.State, _ = in["state"].(string)
	st.Description, _ = in["description"].(string)
	st.LogURL, _ = in["log_url"].(string)
	if st.LogURL == "" {
		st.LogURL, _ = in["target_url"].(string)
	}
	st.EnvironmentURL, _ = in["environment_url"].(string)
	if v, ok := in["environment"].(string); ok && v != "" {
		st.Environment = v
	}
	if v, ok := in["auto_inactive"].(bool); ok {
		st.AutoInactive = &v
	}
	if len([]rune(st.Description)) > 140 {
		return reply{status: http.StatusUnprocessableEntity, body: map[string]any{"message": "Validation Failed",
			"errors": []any{map[string]any{"resource": "DeploymentStatus", "code": "custom", "field": "description", "message": "description is too long (maximum is 140 characters)"}}}}
	}
	s.nextID++
	st.ID = s.nextID
	d.Statuses = append(d.Statuses, st)
	// GitHub's documented auto_inactive: a success marks every earlier
	// non-transient, non-production deployment of the same environment that
	// had succeeded as inactive.
	if st.State == "success" && (st.AutoInactive == nil || *st.AutoInactive) {
		for _, o := range s.deployments {
			if o.ID == d.ID || o.Environment != d.Environment || o.TransientEnvironment || o.ProductionEnvironment {
				continue
			}
			if o.State() == "success" {
				s.nextID++
				o.Statuses = append(o.Statuses, DeploymentStatus{ID: s.nextID, State: "inactive", Environment: o.Environment, Automatic: true})
			}
		}
	}
	u := fmt.Sprintf("%s/deployments/%d", s.repoURL(), d.ID)
	return reply{status: http.StatusCreated, body: s.entity("deployment-status", map[string]any{
		"id": st.ID, "node_id": fmt.Sprintf("DES_%d", st.ID), "state": st.State, "creator": s.user(BotLogin),
		"description": st.Description, "environment": st.Environment, "target_url": st.LogURL, "log_url": st.LogURL,
		"environment_url": st.EnvironmentURL, "deployment_url": u, "repository_url": s.repoURL(),
		"url":        fmt.Sprintf("%s/statuses/%d", u, st.ID),
		"created_at": sampleTime.Format(time.RFC3339), "updated_at": sampleTime.Format(time.RFC3339),
	})}
}

// Summary counts the calls per operation, sorted by name: "op=n".
func (s *Server) Summary() []string {
	counts := map[string]int{}
	for _, c := range s.Calls() {
		counts[cmp.Or(c.Operation, c.Method+" "+c.Path)]++
	}
	out := make([]string, 0, len(counts))
	for k, v := range counts {
		out = append(out, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(out)
	return out
}
