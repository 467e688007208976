package action_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/slack-go/slack/slacktest"

	"github.com/mlreg/mlreg-action/internal/action"
	"github.com/mlreg/mlreg-action/internal/testing/faultproxy"
	"github.com/mlreg/mlreg-action/internal/testing/githubfake"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

// hostile is registry text that tries every way out of the line it is
// printed in: line breaks before workflow commands (a fake annotation, a mask
// that would hide a value, ::stop-commands:: that would switch off the tool's
// own ::error::), a CR (a line break to the runner), a terminal's escape
// sequences (a colour, a hyperlink), bidirectional overrides and marks, the
// legacy ##[ command, and a NEL, a no-break space (white space the runner
// trims) and a line separator before more commands.
const hostile = "::warning::pwned\n::add-mask::0.93\n::stop-commands::pwned\r::error::pwned" +
	"\x1b[31mred\x1b]8;;https://example.com/\x07link\u202egnp.exe\u2066\u200f\u061c ##[group]pwned" +
	"\u0085\u00a0::notice::pwned\u2028::debug::pwned"

// hostileShown is hostile as a log line shows it.
const hostileShown = `::warning::pwned\n::add-mask::0.93\n::stop-commands::pwned\r::error::pwned` +
	`\u001b[31mred\u001b]8;;https://example.com/\u0007link\u202egnp.exe\u2066\u200f\u061c ##\u005bgroup]pwned` +
	`\u0085` + "\u00a0" + `::notice::pwned\u2028::debug::pwned`

// hostileName is hostile text in a registered model's name, which MLflow
// lets hold anything but / and :.
const (
	hostileName      = "ok\n##[group]pwned\r\x1b[31mred\u202egnp\u0085"
	hostileNameShown = `ok\n##\u005bgroup]pwned\r\u001b[31mred\u202egnp\u0085`
)

// ownCommand is a workflow command mlreg-action writes itself: the log
// groups of its phases, its annotations, the masks of its secrets.
var ownCommand = regexp.MustCompile(`^::(?:group::(?:resolve|check|apply|record|notify)|endgroup::|(warning|error)(?: [^:]*)?::(.*)|(add-mask)::(.*))$`)

// checkNoInjection fails the test for each line of out that the runner would
// read as a workflow command mlreg-action did not mean (after the white space
// it trims, and the legacy ##[ form anywhere in a line), and for each raw
// control, format (bidirectional, zero-width) or separator character, which
// a terminal or a log viewer would act on.
func checkNoInjection(t *testing.T, what, out string, secrets ...string) {
	t.Helper()
	for i, line := range strings.Split(out, "\n") {
		if j := strings.IndexFunc(line, func(r rune) bool {
			return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
		}); j >= 0 {
			r := []rune(line[j:])[0]
			t.Errorf("%s line %d holds a raw %U: %q", what, i+1, r, line)
		}
		if strings.Contains(line, "##[") {
			t.Errorf("%s line %d holds a legacy workflow command (##[): %q", what, i+1, line)
		}
		cmd := strings.TrimLeftFunc(line, unicode.IsSpace)
		if !strings.HasPrefix(cmd, "::") {
			continue
		}
		m := ownCommand.FindStringSubmatch(cmd)
		switch {
		case m == nil:
			t.Errorf("%s line %d is a workflow command mlreg-action does not write: %q", what, i+1, line)
		case m[1] != "" && strings.HasPrefix(m[2], "pwned"):
			t.Errorf("%s line %d is an annotation the registry wrote: %q", what, i+1, line)
		case m[3] != "" && !slices.Contains(secrets, m[4]):
			t.Errorf("%s line %d masks a value that is no secret: %q", what, i+1, line)
		}
	}
}

// checkReport fails the test when a report (Markdown, Slack) holds a raw
// control or bidirectional character.
func checkReport(t *testing.T, what, text string) {
	t.Helper()
	if i := strings.IndexFunc(text, func(r rune) bool {
		return unicode.IsControl(r) && r != '\n' || r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 ||
			r == 0x200E || r == 0x200F || r == 0x061C
	}); i >= 0 {
		t.Errorf("%s holds a raw %U: %q", what, []rune(text[i:])[0], text[max(0, i-80):min(len(text), i+80)])
	}
}

// lineHas fails the test unless a line of out holds every part, in order.
func lineHas(t *testing.T, what, out string, parts ...string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		rest, ok := line, true
		for _, p := range parts {
			var found bool
			if _, rest, found = strings.Cut(rest, p); !found {
				ok = false
				break
			}
		}
		if ok {
			return
		}
	}
	t.Errorf("%s has no line with %q:\n%s", what, parts, out)
}

// checkRun checks a run over planted hostile text: its exit status, that
// each line in want (its parts, in order) is in the log, which shows that
// the text reached the sink, that no line of stdout (whose masks are
// secrets) or stderr starts a command mlreg-action did not write, and that
// the job summary holds no raw control character.
func checkRun(t *testing.T, res result, code int, secrets []string, want ...[]string) {
	t.Helper()
	if res.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", res.code, code, res.stdout, res.stderr)
	}
	for _, parts := range want {
		lineHas(t, "the log", res.stdout+res.stderr, parts...)
	}
	checkNoInjection(t, "stdout", res.stdout, secrets...)
	checkNoInjection(t, "stderr", res.stderr)
	checkReport(t, "the job summary", res.summary)
}

// outputModes are the two ways the binary writes: workflow commands on a
// runner (GITHUB_ACTIONS=true), plain text on a terminal.
var outputModes = []struct {
	name string
	env  map[string]string
}{
	{"in a workflow", nil},
	// -v: a terminal shows each check and each entry on a line of its own
	// only when asked, as a workflow's log always does.
	{"on a terminal", map[string]string{"GITHUB_ACTIONS": "", argsKey: "-v"}},
}

// eachMode runs fn once per output mode, each in a parallel subtest of its own.
func eachMode(t *testing.T, fn func(t *testing.T, env map[string]string)) {
	t.Helper()
	for _, m := range outputModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			fn(t, m.env)
		})
	}
}

// mlflowErrorBody is an MLflow error answer whose message is msg.
func mlflowErrorBody(t *testing.T, code, msg string) string {
	t.Helper()
	b, err := json.Marshal(map[string]string{"error_code": code, "message": msg})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// slackTexts serves chat.postMessage and records the text and blocks posted.
type slackTexts struct {
	srv  *slacktest.Server
	mu   sync.Mutex
	sent []string
}

func newSlackTexts(t *testing.T) *slackTexts {
	t.Helper()
	s := &slackTexts{}
	s.srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			s.mu.Lock()
			s.sent = append(s.sent, r.Form.Get("text"), r.Form.Get("blocks"))
			s.mu.Unlock()
			fmt.Fprint(w, `{"ok":true,"channel":"C0MLREG","ts":"1764072000.000001"}`)
		})
	})
	s.srv.Start()
	t.Cleanup(s.srv.Stop)
	return s
}

func (s *slackTexts) got() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.sent, "\n")
}

const injectPolicy = `version: 1
rules:
  - name: gate
    applies-to: {alias: champion}
    metrics:
      val_auc: {min: 0.9}
    tags:
      note: present
      vnote: present
      mlflow.runName: present
`

// TestRegistryTextCannotInjectIntoPromote: a candidate whose run is named
// with hostile text, with hostile run and version tags, is checked and
// promoted; the notification's read of the registry fails with a hostile
// server message. The check lines and the notify log line show the text
// escaped, no line starts a workflow command the tool did not mean, and the
// job summary, the PR comment and the Slack message hold no raw control or
// bidirectional character.
func TestRegistryTextCannotInjectIntoPromote(t *testing.T) {
	t.Parallel()
	eachMode(t, func(t *testing.T, mode map[string]string) {
		model, f := newModel(t, auc(0.91), versionSpec{name: hostile, metrics: map[string]float64{"val_auc": 0.95},
			tags: map[string]string{"note": hostile}, vtags: map[string]string{"vnote": hostile}})
		if err := f.SetAlias(t.Context(), model, "champion", "1"); err != nil {
			t.Fatal(err)
		}

		mlflowtest.RequireServer(t, srv) // a fault proxy in front of the real server
		ml := faultproxy.New(t, srv.URL)
		gh := githubfake.New(t, githubfake.Options{})
		gh.AddPullRequest(githubfake.PullRequest{Number: 7, State: "closed", Merged: true, HeadSHA: strings.Repeat("a", 40), MergeCommitSHA: harnessSHA})
		// The notifications start with GitHub: from then on, MLflow answers
		// the read of the Slack message's tag with a hostile message.
		ghp := faultproxy.New(t, gh.URL())
		ghp.Add(faultproxy.Rule{Fault: faultproxy.Call(func() {
			ml.Add(faultproxy.Rule{Method: http.MethodGet, Path: "/model-versions/get", Times: -1,
				Fault: faultproxy.StatusBody(http.StatusForbidden, mlflowErrorBody(t, "PERMISSION_DENIED", hostile))})
		})})
		sl := newSlackTexts(t)
		in := merge(promoteInputs(model, "version", "2", "tracking-uri", ml.URL),
			notifyEnv(t, gh, nil, "push", `{"ref":"refs/heads/main","after":"`+harnessSHA+`"}`), mode)
		in["GITHUB_API_URL"] = ghp.Rebase(gh.URL())
		in["MLREG_SLACK_API_URL"], in["slack-token"], in["slack-channel"] = sl.srv.GetAPIURL(), slackToken, "#ml"

		res := runAction(t, in, map[string]string{".github/mlreg-policy.yml": injectPolicy})
		checkRun(t, res, 0, []string{gh.Token(), slackToken},
			[]string{"pass", "tag note: " + hostileShown + " present"},
			[]string{"pass", "tag vnote: " + hostileShown + " present"},
			[]string{"pass", "tag mlflow.runName: " + hostileShown + " present"},
			[]string{"slack: cannot tell whether this promotion was posted already", "403", hostileShown})
		if got := aliasOf(t, f, model, "champion"); got != "2" {
			t.Errorf("@champion = v%s, want v2", got)
		}
		for _, c := range gh.Comments(7) {
			checkReport(t, "the PR comment", c.Body)
		}
		if len(gh.Comments(7)) != 1 || sl.got() == "" {
			t.Errorf("%d PR comments and Slack messages %q, want one of each", len(gh.Comments(7)), sl.got())
		}
		checkReport(t, "the Slack message", sl.got())
	})
}

// TestRegistryTextCannotInjectIntoTheCandidateLine: a version whose run id
// is hostile text (MLflow takes any run_id with a remote source).
func TestRegistryTextCannotInjectIntoTheCandidateLine(t *testing.T) {
	t.Parallel()
	eachMode(t, func(t *testing.T, mode map[string]string) {
		f := mlflowtest.RequireServer(t, srv).Fixtures()
		model := mlflowtest.UniqueName(t, "inject")
		if err := f.CreateRegisteredModel(t.Context(), model); err != nil {
			t.Fatal(err)
		}
		if _, err := f.CreateVersion(t.Context(), model, "s3://bucket/model", hostile, nil); err != nil {
			t.Fatal(err)
		}
		res := runAction(t, merge(promoteInputs(model, "command", "validate", "version", "1", "policy", "none"), mode), nil)
		checkRun(t, res, 0, nil, []string{"candidate: " + model + " v1 (run " + hostileShown + ", READY)"})
	})
}

// TestRegistryTextCannotInjectIntoRegister: register from a run whose
// artifact store (its experiment's artifact location, hostile text) the
// server cannot list; the source line quotes the server's message.
func TestRegistryTextCannotInjectIntoRegister(t *testing.T) {
	t.Parallel()
	// MLflow drops CR and LF from an artifact location, and refuses # and ?.
	const location = "nope://store/::warning::pwned\x1b[31mred\u202egnp\u0085"
	const shown = `nope://store/::warning::pwned\u001b[31mred\u202egnp\u0085`
	eachMode(t, func(t *testing.T, mode map[string]string) {
		f := mlflowtest.RequireServer(t, srv).Fixtures()
		ctx := t.Context()
		model := mlflowtest.UniqueName(t, "inject")
		var exp struct {
			ID string `json:"experiment_id"`
		}
		if err := f.Do(ctx, http.MethodPost, "experiments/create", nil,
			map[string]any{"name": model, "artifact_location": location}, &exp); err != nil {
			t.Fatal(err)
		}
		run, err := f.CreateRun(ctx, exp.ID, mlflowtest.RunSpec{Name: "train"})
		if err != nil {
			t.Fatal(err)
		}
		id, err := f.CreateLoggedModel(ctx, exp.ID, run, nil)
		if err != nil {
			t.Fatal(err)
		}
		lm, err := f.GetLoggedModel(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := lm["info"].(map[string]any)["name"].(string)
		in := merge(map[string]string{"command": "register", "model-name": model, "run-id": run, "artifact-path": name,
			"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}, mode)
		checkRun(t, runAction(t, in, nil), 0, nil,
			[]string{"source runs:/" + run + "/" + name + ": the run's artifacts could not be listed", shown, "registering the run's logged model"})
	})
}

// TestRegistryTextCannotInjectIntoManifestErrors: a desired-state entry
// names a model whose name is hostile text and a version it does not have;
// the plan's error line quotes the name and the server's message.
func TestRegistryTextCannotInjectIntoManifestErrors(t *testing.T) {
	t.Parallel()
	eachMode(t, func(t *testing.T, mode map[string]string) {
		f := mlflowtest.RequireServer(t, srv).Fixtures()
		suffix := mlflowtest.UniqueName(t, "")
		model := hostileName + suffix
		if err := f.CreateRegisteredModel(t.Context(), model); err != nil {
			t.Fatal(err)
		}
		// Go's escapes (\n, \x1b, \u202e) are YAML's in a double-quoted scalar.
		manifest := fmt.Sprintf("version: 1\nmodels:\n  %s:\n    aliases:\n      champion: 9\n", strconv.QuoteToASCII(model))
		res := runAction(t, merge(map[string]string{"command": "validate", "manifest": manifestPath}, mode), fleetFiles(manifest))
		checkRun(t, res, action.ExitRegistry, nil, []string{"error   " + hostileNameShown + suffix + " @champion: ", "not found"})
	})
}

// TestServerMessageCannotInjectIntoRetryLines: MLflow answers 503 with a
// hostile message once; the retry line quotes it.
func TestServerMessageCannotInjectIntoRetryLines(t *testing.T) {
	t.Parallel()
	eachMode(t, func(t *testing.T, mode map[string]string) {
		model, _ := newModel(t, auc(0.95))
		mlflowtest.RequireServer(t, srv) // a fault proxy in front of the real server
		p := faultproxy.New(t, srv.URL)
		p.Add(faultproxy.Rule{Method: http.MethodGet, Path: "/model-versions/get",
			Fault: faultproxy.StatusBody(http.StatusServiceUnavailable, mlflowErrorBody(t, "TEMPORARILY_UNAVAILABLE", "\u202e##[group]pwned "+hostile))})
		in := merge(promoteInputs(model, "command", "validate", "version", "1", "policy", "none", "tracking-uri", p.URL), mode)
		checkRun(t, runAction(t, in, nil), 0, nil,
			[]string{"retry: GET /api/2.0/mlflow/model-versions/get: 503", `\u202e##\u005bgroup]pwned ::warning::pwned`})
	})
}

// TestRegistryTextCannotInjectIntoHistory: the recorded history (a
// registered-model tag) holds hostile text. history's text shows it on
// lines that start no command; its JSON on stdout stays valid and decodes to
// the values recorded.
func TestRegistryTextCannotInjectIntoHistory(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			eachMode(t, func(t *testing.T, mode map[string]string) {
				model, f := newModel(t, auc(0.95))
				if err := f.SetAlias(t.Context(), model, "champion", "1"); err != nil {
					t.Fatal(err)
				}
				entry := map[string]string{"version": "1", "previous_version": "", "action": "promote", "at": hostile,
					"by": hostile, "run_url": hostile, "commit": hostile, "verdict": "pass"}
				record, err := json.Marshal([]map[string]string{entry})
				if err != nil {
					t.Fatal(err)
				}
				if err := f.SetModelTag(t.Context(), model, "mlreg.history.alias.champion", string(record)); err != nil {
					t.Fatal(err)
				}
				res := runAction(t, merge(promoteInputs(model, "command", "history", "format", format), mode), nil)
				if format == "text" {
					// The row starts with the time of the entry.
					checkRun(t, res, 0, nil, []string{`  \u003a:warning::pwned ::add-mask::0.`})
					return
				}
				checkRun(t, res, 0, nil)
				start := strings.Index(res.stdout, "[\n")
				var hs []struct {
					Entries []map[string]any `json:"entries"`
				}
				if start < 0 || json.NewDecoder(strings.NewReader(res.stdout[start:])).Decode(&hs) != nil {
					t.Fatalf("history's output is not JSON:\n%s", res.stdout)
				}
				if len(hs) != 1 || len(hs[0].Entries) != 1 {
					t.Fatalf("history = %+v, want one target with one entry", hs)
				}
				for _, k := range []string{"at", "by", "run_url", "commit"} {
					if got := hs[0].Entries[0][k]; got != hostile {
						t.Errorf("history's %s = %q, want %q", k, got, hostile)
					}
				}
			})
		})
	}
}
