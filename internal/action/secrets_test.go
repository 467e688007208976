package action_test

import (
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlreg/mlreg-action/internal/testing/githubfake"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

// Known secret values, one per secret input. MLflow without authentication
// ignores the credentials it does not need, so every run sends them.
const (
	secretGitHub   = "ghs_SecretGitHubTokenForTheSecretsTest0123"
	secretSlack    = "xoxb-4242-secret-slack-bot-token-abcdef"
	secretHookTail = "hookSecretPart0123456789abcdef"
	secretPassword = "mlflow-Secret-Passw0rd-98765-zyx"
	secretToken    = "mlflow-secret-bearer-token-13579-qwe"
	mlflowUser     = "ci-bot"
)

// slackSink serves Slack's Web API (chat.postMessage, chat.update) and an
// incoming webhook, and keeps every message it was sent, without the token
// that authenticates it.
type slackSink struct {
	srv      *httptest.Server
	mu       sync.Mutex
	messages []string
}

const hookPath = "/services/T0SECRET/B0SECRET/" + secretHookTail

func newSlackSink(t *testing.T) *slackSink {
	t.Helper()
	s := &slackSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case hookPath:
			s.keep("webhook " + string(body))
			fmt.Fprint(w, "ok")
			return
		case "/api/chat.postMessage", "/api/chat.update":
		default:
			http.NotFound(w, r)
			return
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			t.Errorf("Slack got a body that is not a form: %v", err)
		}
		if form.Get("token") != secretSlack && r.Header.Get("Authorization") != "Bearer "+secretSlack {
			fmt.Fprint(w, `{"ok":false,"error":"invalid_auth"}`)
			return
		}
		form.Del("token")
		var b strings.Builder
		b.WriteString(r.URL.Path)
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range form {
				if !yield(k) {
					return
				}
			}
		}) {
			fmt.Fprintf(&b, "\n%s=%s", k, strings.Join(form[k], ","))
		}
		s.keep(b.String())
		ts := form.Get("ts")
		if ts == "" {
			ts = fmt.Sprintf("1764072000.%06d", len(s.got()))
		}
		fmt.Fprintf(w, `{"ok":true,"channel":"C0MLREG","ts":%q}`, ts)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *slackSink) keep(m string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
}

func (s *slackSink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

func (s *slackSink) hookURL() string { return s.srv.URL + hookPath }

// secretWorld is everything a run can leak a secret to.
type secretWorld struct {
	gh    *githubfake.Server
	slack *slackSink
	event string // the event payload file
	f     fixtures
}

func newSecretWorld(t *testing.T, f fixtures) *secretWorld {
	t.Helper()
	w := &secretWorld{gh: githubfake.New(t, githubfake.Options{Token: secretGitHub}), slack: newSlackSink(t), f: f}
	w.gh.AddPullRequest(githubfake.PullRequest{Number: 7, HeadSHA: harnessSHA})
	w.event = filepath.Join(t.TempDir(), "event.json")
	payload := `{"number":7,"pull_request":{"number":7,"head":{"repo":{"full_name":"acme/models"}},"base":{"repo":{"full_name":"acme/models"}}}}`
	if err := os.WriteFile(w.event, []byte(payload), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

// env sets every secret input; webhook picks the Slack webhook instead of
// the bot token (the token wins when both are set).
func (w *secretWorld) env(webhook bool) map[string]string {
	env := map[string]string{
		"GITHUB_API_URL": w.gh.URL(), "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": w.event,
		"github-token": secretGitHub, "mlflow-token": secretToken,
		"mlflow-username": mlflowUser, "mlflow-password": secretPassword,
		"slack-webhook-url": w.slack.hookURL(), "MLREG_SLACK_API_URL": w.slack.srv.URL + "/api/",
	}
	if !webhook {
		env["slack-token"], env["slack-channel"] = secretSlack, "#ml-releases"
	}
	return env
}

// secretValues are the secret inputs env sets (each must be masked) and
// every form a leak could take: those, the webhook URL's secret part alone,
// the basic credentials as the Authorization header carries them, and
// the Slack token even when the run does not use it.
func secretValues(env map[string]string) (masked, all []string) {
	for _, in := range []string{"github-token", "slack-token", "slack-webhook-url", "mlflow-password", "mlflow-token"} {
		if v := env[in]; v != "" {
			masked = append(masked, v)
		}
	}
	basic := base64.StdEncoding.EncodeToString([]byte(mlflowUser + ":" + secretPassword))
	all = append(slices.Clone(masked), secretHookTail, basic, mlflowUser+":"+secretPassword)
	if !slices.Contains(all, secretSlack) {
		all = append(all, secretSlack)
	}
	return masked, all
}

// noSecretsAnywhere extends noSecrets (notify_test.go) to every place a run
// writes: stdout and stderr (where only ::add-mask::<secret> may hold one),
// the outputs and the job summary, every file in the workspace (the JSON
// report under .mlreg/ included), every request the GitHub fake received
// (comment bodies, deployments and their statuses), every Slack message, and
// the tags the run wrote to the registry.
func noSecretsAnywhere(t *testing.T, w *secretWorld, res result, env map[string]string, model string) {
	t.Helper()
	actions := env["GITHUB_ACTIONS"] != "" || !hasKey(env, "GITHUB_ACTIONS")
	masked, all := secretValues(env)
	noSecrets(t, res, masked...)
	allowed := map[string]bool{}
	for _, s := range masked {
		allowed["::add-mask::"+s] = true
	}
	for _, line := range strings.Split(res.stdout+"\n"+res.stderr, "\n") {
		for _, s := range all {
			if strings.Contains(line, s) && !allowed[line] {
				t.Errorf("a secret in the log: %q", line)
			}
		}
	}
	var places []string
	err := filepath.WalkDir(res.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(res.dir, p)
		places = append(places, "file "+rel+": "+string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range w.gh.Calls() {
		places = append(places, fmt.Sprintf("GitHub %s %s: %s", c.Method, c.Path, c.Body))
	}
	for _, c := range w.gh.Comments(7) {
		places = append(places, "PR comment: "+c.Body)
	}
	for _, m := range w.slack.got() {
		places = append(places, "Slack "+m)
	}
	if model != "" {
		tags, err := w.f.ModelTags(t.Context(), model)
		if err != nil {
			t.Fatal(err)
		}
		places = append(places, fmt.Sprintf("model tags: %v", tags))
		for v := 1; ; v++ {
			vt, err := w.f.VersionTags(t.Context(), model, fmt.Sprint(v))
			if err != nil {
				break
			}
			places = append(places, fmt.Sprintf("v%d tags: %v", v, vt))
		}
	}
	for _, p := range places {
		for _, s := range all {
			if strings.Contains(p, s) {
				name, _, _ := strings.Cut(p, ":")
				t.Errorf("a secret (%.12s…) in %s", s, name)
			}
		}
	}
	// In a workflow, the secrets were read and each is masked before
	// anything else is printed.
	if actions {
		lead := map[string]bool{}
		for _, l := range strings.Split(res.stdout, "\n") {
			s, ok := strings.CutPrefix(l, "::add-mask::")
			if !ok {
				break
			}
			lead[s] = true
		}
		for _, s := range masked {
			if !lead[s] {
				t.Errorf("the secret %.12s… is not masked before the first line:\n%.1000s", s, res.stdout)
			}
		}
	}
}

// Every command, with every secret set, against the real MLflow server,
// the GitHub fake and a Slack sink: no secret appears anywhere but in its
// mask command.
func TestSecretsNeverShow(t *testing.T) {
	t.Parallel()
	model, f := newModel(t, auc(0.91), auc(0.95))
	w := newSecretWorld(t, f)
	exp, run, rf := newRun(t, mlflowtest.RunSpec{Metrics: map[string]float64{"val_auc": 0.97},
		Tags: map[string]string{"dataset_version": "2026-11"}, EndTime: fixedNow.Add(-time.Hour)})
	if _, err := rf.CreateNamedLoggedModel(t.Context(), exp, run, "model"); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		webhook bool
		inputs  map[string]string
		code    int
		check   func(t *testing.T, res result)
	}{
		{name: "register", inputs: in("command", "register", "run-id", run, "artifact-path", "model", "tags", "team=risk"),
			check: func(t *testing.T, res result) {
				if res.outputs["model-version"] != "3" {
					t.Errorf("registered %v, want v3", res.outputs)
				}
			}},
		{name: "validate", inputs: in("command", "validate", "version", "2")},
		{name: "promote --dry-run", webhook: true, inputs: in("version", "2", "dry-run", "true")},
		{name: "promote", inputs: in("version", "2"), check: func(t *testing.T, res result) {
			if res.outputs["comment-id"] == "" || res.outputs["deployment-id"] == "" || res.outputs["slack-ts"] == "" || res.outputs["notify-errors"] != "" {
				t.Errorf("not every report was delivered: %v", res.outputs)
			}
			if !strings.HasPrefix(res.outputs["report-path"], ".mlreg/") {
				t.Errorf("no report file: %v", res.outputs)
			}
		}},
		{name: "promote webhook", webhook: true, inputs: in("version", "3")},
		{name: "rollback", inputs: in("command", "rollback"), check: func(t *testing.T, res result) {
			if got := aliasOf(t, f, model, "champion"); got != "2" {
				t.Errorf("@champion = %q after the rollback, want 2", got)
			}
		}},
		{name: "history text", inputs: in("command", "history", "format", "text")},
		{name: "history markdown", inputs: in("command", "history", "format", "markdown")},
		{name: "history json", inputs: in("command", "history", "format", "json")},
		{name: "history in a terminal", inputs: in("command", "history", "GITHUB_ACTIONS", "")},
	}
	for _, st := range steps {
		// The steps build on each other: they run in order.
		t.Run(st.name, func(t *testing.T) {
			inputs := merge(promoteInputs(model), w.env(st.webhook), st.inputs)
			res := runSafe(t, inputs, policyFiles())
			if res.code != st.code {
				t.Fatalf("exit %d, want %d\n%.4000s\n%.2000s", res.code, st.code, res.stdout, res.stderr)
			}
			if st.check != nil {
				st.check(t, res)
			}
			noSecretsAnywhere(t, w, res, inputs, model)
		})
	}
	msgs := w.slack.got()
	if !slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "webhook ") }) ||
		!slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "/api/chat.postMessage") }) {
		t.Errorf("Slack got neither a webhook message nor a bot message: %q", msgs)
	}
	// One comment for the registration, one for @champion, each edited in place.
	var markers []string
	for _, c := range w.gh.Comments(7) {
		first, _, _ := strings.Cut(c.Body, "\n")
		markers = append(markers, first)
	}
	want := []string{" command=register -->", " target=@champion -->"}
	if len(markers) != 2 || !strings.HasSuffix(markers[0], want[0]) || !strings.HasSuffix(markers[1], want[1]) {
		t.Errorf("PR comment markers %q, want one ending %q and one ending %q", markers, want[0], want[1])
	}
}

// echoProxy forwards to MLflow, but answers moving an alias with a 403
// whose message echoes the request's credentials, as a misconfigured proxy
// might.
func echoProxy(t *testing.T, upstream string) string {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/api/2.0/mlflow/registered-models/alias" {
			user, pass, _ := r.BasicAuth()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `{"error_code":"PERMISSION_DENIED","message":"Permission denied for %s:%s (Authorization: %s)"}`,
				user, pass, r.Header.Get("Authorization"))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p.URL
}

// Failing runs, with every secret set: a bad policy, a 403 that echoes the
// credentials, an unknown model, in a workflow and in a terminal.
func TestSecretsNeverShowOnFailure(t *testing.T) {
	t.Parallel()
	mlflowtest.RequireServer(t, srv)
	cases := []struct {
		name   string
		inputs map[string]string
		files  map[string]string
		code   int
		says   string
	}{
		{name: "bad policy", files: map[string]string{policyPath: "version: 1\nrules:\n  - name: gate\n    applies-to: {alias: champion}\n    metrics: {val_auc: {mni: 0.9}}\n"},
			code: 2, says: `unknown key "mni"`},
		{name: "registry 403", inputs: in("policy", "none"), code: 3, says: "PERMISSION_DENIED"},
		{name: "unknown model", inputs: in("model-name", "no-such-model-for-secrets"), code: 3, says: "RESOURCE_DOES_NOT_EXIST"},
		{name: "registry 403 in a terminal", inputs: in("policy", "none", "GITHUB_ACTIONS", ""), code: 3, says: "PERMISSION_DENIED"},
		{name: "invalid input in a terminal", inputs: in("timeout", "soon", "GITHUB_ACTIONS", ""), code: 2, says: "input timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			model, f := newModel(t, auc(0.95))
			w := newSecretWorld(t, f)
			inputs := merge(promoteInputs(model), w.env(false), map[string]string{"tracking-uri": echoProxy(t, srv.URL)}, tc.inputs)
			files := tc.files
			if files == nil {
				files = policyFiles()
			}
			res := runSafe(t, inputs, files)
			if res.code != tc.code || !strings.Contains(res.stdout+res.stderr, tc.says) {
				t.Fatalf("exit %d (want %d), want a message with %q\n%.4000s\n%.2000s", res.code, tc.code, tc.says, res.stdout, res.stderr)
			}
			noSecretsAnywhere(t, w, res, inputs, model)
		})
	}
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}
