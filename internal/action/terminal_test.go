package action_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/action"
	"github.com/mlreg/mlreg-action/internal/notify"
	"github.com/mlreg/mlreg-action/internal/testing/testutil"
)

// What a person at a terminal sees of a run: the log and the error on
// standard error, the report on standard output, in the order they were
// written.

// screen records both streams, each on its own and interleaved.
type screen struct {
	mu          sync.Mutex
	all         strings.Builder
	out, errOut bytes.Buffer
}

type stream struct {
	s *screen
	b *bytes.Buffer
}

func (w stream) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	w.s.all.Write(p)
	return w.b.Write(p)
}

type cliResult struct {
	code                int
	stdout, stderr, all string
	dir                 string
}

// lastLine is the last line written to the terminal.
func (r cliResult) lastLine() string {
	ls := strings.Split(strings.TrimRight(r.all, "\n"), "\n")
	return ls[len(ls)-1]
}

// runTerminal runs the binary as a person does, in a terminal (no GITHUB_ACTIONS)
// with args, env and the files in its working directory.
func runTerminal(t *testing.T, args []string, env, files map[string]string) cliResult {
	t.Helper()
	dir := workspace(t, files)
	var s screen
	code := action.Main(t.Context(), action.Env{
		Args:       args,
		Getenv:     func(k string) string { return env[k] },
		Stdout:     stream{&s, &s.out},
		Stderr:     stream{&s, &s.errOut},
		HTTPClient: runHTTPClient(),
		Now:        func() time.Time { return fixedNow },
		WorkDir:    dir,
		Version:    "test",
		Registry:   memRegistry(cliTrackingURI(args, env)),
	})
	return cliResult{code: code, stdout: s.out.String(), stderr: s.errOut.String(), all: s.all.String(), dir: dir}
}

// cliTrackingURI is the tracking-uri a command line names (its flag, else
// MLFLOW_TRACKING_URI).
func cliTrackingURI(args []string, env map[string]string) string {
	for i, a := range args {
		if a == "--tracking-uri" && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--tracking-uri="); ok {
			return v
		}
	}
	return env["MLFLOW_TRACKING_URI"]
}

const terminalPolicy = `version: 1
rules:
  - name: gate
    applies-to: {alias: champion}
    metrics:
      val_auc: {min: 0.9}
    tags: {dataset_version: present}
`

// blockedModel is a model whose @champion v1 passes terminalPolicy and
// whose v2 does not (val_auc 0.86 < 0.9).
func blockedModel(t *testing.T) string {
	t.Helper()
	model, f := newModel(t, auc(0.92), auc(0.86))
	if err := f.SetAlias(t.Context(), model, "champion", "1"); err != nil {
		t.Fatal(err)
	}
	return model
}

var (
	digestRE = regexp.MustCompile(`sha256:[0-9a-f]{64}`)
	shortRE  = regexp.MustCompile(`sha256:[0-9a-f]{12}\b`)
	runRE    = regexp.MustCompile(`\b[0-9a-f]{32}\b`)
)

// normalize replaces what differs from run to run by a name.
func normalize(s, model string) string {
	s = strings.ReplaceAll(s, trackingURI(), "MLFLOW")
	s = strings.ReplaceAll(s, model, "MODEL")
	s = digestRE.ReplaceAllString(s, "DIGEST")
	s = shortRE.ReplaceAllString(s, "SHORT")
	return runRE.ReplaceAllString(s, "RUN")
}

// TestTerminalFailedRun: a promotion the policy blocks, on a terminal, prints
// each check once (in the report's table, not also in the log), no
// notification that was skipped for want of a token, only the outputs that
// have a value, and its error as the last line.
func TestTerminalFailedRun(t *testing.T) {
	t.Parallel()
	model := blockedModel(t)
	args := []string{"promote", "--model-name", model, "--version", "2", "--target-alias", "champion",
		"--policy", "p.yml", "--tracking-uri", trackingURI()}
	res := runTerminal(t, args, nil, map[string]string{"p.yml": terminalPolicy})
	if res.code != action.ExitPolicy {
		t.Fatalf("exit %d, want %d\n%s", res.code, action.ExitPolicy, res.all)
	}
	wantErr := `==> resolve
==> check
    candidate: MODEL v2 (run RUN, READY)
    plan: @champion: v1 → v2
==> notify
==> outputs
    alias-uri=models:/MODEL@champion
    changed=false
    model-uri=models:/MODEL/2
    model-version=2
    plan-digest=DIGEST
    previous-version=1
    report-path=.mlreg/promote-MODEL-_champion.json
    verdict=fail
error: policy not met: MODEL v2 for @champion: val_auc 0.86 >= 0.9 (0.86 < min 0.9)
`
	if diff := cmp.Diff(wantErr, normalize(res.stderr, model)); diff != "" {
		t.Errorf("standard error (-want +got):\n%s", diff)
	}
	wantOut := `
❌ MODEL v2 does not meet the policy for @champion
  plan     @champion: v1 → v2
  policy   p.yml (SHORT)
  rule     gate
  verdict  fail: 1 passed, 1 failed, 0 skipped
  digest   DIGEST

  RESULT  CHECK                  VALUE    BOUND    CHAMPION  DELTA  REASON
  fail    val_auc (metric)       0.86     >= 0.9   -         -      0.86 < min 0.9
  pass    dataset_version (tag)  2026-11  present  -         -

  version   MLFLOW/#/models/MODEL/versions/2
  run       MLFLOW/#/runs/RUN

`
	if diff := cmp.Diff(wantOut, normalize(res.stdout, model)); diff != "" {
		t.Errorf("standard output (-want +got):\n%s", diff)
	}
	if got := res.lastLine(); !strings.HasPrefix(got, "error: policy not met: ") {
		t.Errorf("the last line on the terminal is %q, want the error", got)
	}
}

// TestTerminalVerbose: -v adds the log's detail (each check, the
// notifications skipped) and --show-outputs every output; the error stays
// the last line.
func TestTerminalVerbose(t *testing.T) {
	t.Parallel()
	model := blockedModel(t)
	args := []string{"promote", "--model-name", model, "--version", "2", "--target-alias", "champion",
		"--policy", "p.yml", "--tracking-uri", trackingURI(), "-v", "--show-outputs"}
	res := runTerminal(t, args, nil, map[string]string{"p.yml": terminalPolicy})
	if res.code != action.ExitPolicy {
		t.Fatalf("exit %d, want %d\n%s", res.code, action.ExitPolicy, res.all)
	}
	for _, want := range []string{
		"    fail    metric val_auc: 0.86 >= 0.9 — 0.86 < min 0.9\n",
		"    verdict: fail; plan digest sha256:",
		"    pr-comment: skipped, no github-token\n",
		"    deployment: skipped, no github-token, repository or commit\n",
		"    comment-id=\n",
		"    slack-ts=\n",
	} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("standard error lacks %q:\n%s", want, res.stderr)
		}
	}
	if got := res.lastLine(); !strings.HasPrefix(got, "error: policy not met: ") {
		t.Errorf("the last line on the terminal is %q, want the error", got)
	}
}

// TestWorkflowFailedRun: in a workflow the step log keeps its detail (each
// check once, the notifications skipped), every output is set, and the
// ::error annotation is the last line.
func TestWorkflowFailedRun(t *testing.T) {
	t.Parallel()
	model := blockedModel(t)
	res := runAction(t, promoteInputs(model, "version", "2"), map[string]string{".github/mlreg-policy.yml": terminalPolicy})
	if res.code != action.ExitPolicy {
		t.Fatalf("exit %d, want %d\n%s", res.code, action.ExitPolicy, res.stdout)
	}
	log := strings.Split(strings.TrimRight(res.stdout, "\n"), "\n")
	if last := log[len(log)-1]; !strings.HasPrefix(last, "::error::policy not met: "+model+" v2 for @champion") {
		t.Errorf("the last line of the step log is %q, want the annotation", last)
	}
	if n := strings.Count(res.stdout, "metric val_auc: 0.86 >= 0.9"); n != 1 {
		t.Errorf("the check is logged %d times, want once:\n%s", n, res.stdout)
	}
	if !strings.Contains(res.stdout, "pr-comment: skipped, no github-token\n") {
		t.Errorf("the step log does not say the PR comment was skipped:\n%s", res.stdout)
	}
	for _, k := range []string{"verdict", "comment-id", "deployment-id", "slack-ts", "notify-errors"} {
		if _, ok := res.outputs[k]; !ok {
			t.Errorf("output %s is not set: %v", k, res.outputs)
		}
	}
}

// TestTerminalNotifyFailure: with fail-on-notify-error, a report that
// fails makes the run exit 5, and that error too is the last line, after
// the outputs.
func TestTerminalNotifyFailure(t *testing.T) {
	t.Parallel()
	model, _ := newModel(t, auc(0.95))
	args := []string{"promote", "--model-name", model, "--target-alias", "champion", "--policy", "p.yml",
		"--tracking-uri", trackingURI(), "--slack-webhook-url", "http://" + testutil.RefusedAddr(t) + "/hook", "--fail-on-notify-error"}
	res := runTerminal(t, args, nil, map[string]string{"p.yml": terminalPolicy})
	if res.code != action.ExitNotify {
		t.Fatalf("exit %d, want %d\n%s", res.code, action.ExitNotify, res.all)
	}
	if got := res.lastLine(); !strings.HasPrefix(got, "error: notification failed (fail-on-notify-error; the registry change stands): slack: ") {
		t.Errorf("the last line on the terminal is %q, want the notification error", got)
	}
	if !strings.Contains(res.stderr, "==> outputs\n") || strings.Index(res.stderr, "==> outputs") > strings.Index(res.stderr, "error: ") {
		t.Errorf("the outputs do not come before the error:\n%s", res.stderr)
	}
}

// TestCommandLineMistakes: a mistyped command or flag is named with what was
// probably meant; help about an unknown command is an error; mlreg-action
// alone on a terminal shows the help rather than promoting.
func TestCommandLineMistakes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		env  map[string]string
		code int
		last string // the last line written
	}{
		{name: "mistyped command", args: []string{"promot", "--model-name", "m"}, code: 2,
			last: `error: invalid input: unknown command "promot"; did you mean promote? (run mlreg-action --help)`},
		{name: "mistyped command, transposed letters", args: []string{"vaildate"}, code: 2,
			last: `error: invalid input: unknown command "vaildate"; did you mean validate? (run mlreg-action --help)`},
		{name: "mistyped flag", args: []string{"promote", "--modle-name", "m"}, code: 2,
			last: `error: invalid input: unknown flag: --modle-name; did you mean --model-name? (run mlreg-action --help)`},
		{name: "mistyped flag, single dash", args: []string{"promote", "-modle-name", "m"}, code: 2,
			last: `error: invalid input: unknown flag: --modle-name; did you mean --model-name? (run mlreg-action --help)`},
		{name: "a prefix of two flags", args: []string{"validate", "--target", "champion"}, code: 2,
			last: `error: invalid input: unknown flag: --target; did you mean --target-alias or --target-stage? (run mlreg-action --help)`},
		{name: "boolean flag", args: []string{"promote", "--dryrun"}, code: 2,
			last: `error: invalid input: unknown flag: --dryrun; did you mean --dry-run? (run mlreg-action --help)`},
		{name: "help about a mistyped command", args: []string{"help", "histroy"}, code: 2,
			last: `error: invalid input: unknown command "histroy"; did you mean history? (run mlreg-action --help)`},
		{name: "help about no command", args: []string{"help", "nosuch"}, code: 2,
			last: `error: invalid input: unknown command "nosuch"; the commands are validate, promote, register, rollback, history, version and help (run mlreg-action --help)`},
		{name: "command input in a workflow", args: nil, env: map[string]string{"GITHUB_ACTIONS": "true", "INPUT_COMMAND": "promot", "INPUT_MODEL-NAME": "m"}, code: 2,
			last: `::error::invalid input:%0Ainput command: want validate, promote, register, rollback or history, got "promot"; did you mean promote?%0A`},
		{name: "alone in a workflow, promote runs", args: nil, env: map[string]string{"GITHUB_ACTIONS": "true"}, code: 2,
			last: `::error::invalid input:%0Ainput model-name is needed`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := tc.env
			if env == nil {
				env = map[string]string{}
			}
			env["GITHUB_OUTPUT"] = filepath.Join(t.TempDir(), "output")
			res := runTerminal(t, tc.args, env, nil)
			if res.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", res.code, tc.code, res.all)
			}
			if got := res.lastLine(); !strings.HasPrefix(got, tc.last) {
				t.Errorf("last line:\n got %s\nwant %s", got, tc.last)
			}
		})
	}
}

// TestBareCommandPrintsUsage: mlreg-action with no arguments on a terminal
// prints the help on standard error and exits 2 (it changes nothing); with
// INPUT_ variables, as the image runs outside a workflow, it runs as in one.
func TestBareCommandPrintsUsage(t *testing.T) {
	t.Parallel()
	res := runTerminal(t, nil, map[string]string{"MLFLOW_TRACKING_URI": "http://" + testutil.RefusedAddr(t)}, nil)
	if res.code != action.ExitInvalid || res.stdout != "" ||
		!strings.HasPrefix(res.stderr, "mlreg-action: govern promotions in an MLflow Model Registry\n\nUsage:\n") {
		t.Errorf("exit %d, want 2 and the help on standard error\nstdout:\n%s\nstderr:\n%.300s", res.code, res.stdout, res.stderr)
	}
	inputs := runTerminal(t, nil, map[string]string{"INPUT_COMMAND": "validate"}, nil)
	if inputs.code != action.ExitInvalid || !strings.HasPrefix(inputs.stderr, "error: invalid input:\ninput model-name is needed") {
		t.Errorf("with INPUT_ variables: exit %d, want the run's own error\n%s", inputs.code, inputs.all)
	}
}

// TestREADMEListsEveryExitStatus: the exit table of README.md has a row for
// each status the binary returns, and the help's footer names each.
func TestREADMEListsEveryExitStatus(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "## Exit status\n")
	if !ok {
		t.Fatal("README.md has no Exit status section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	rows := regexp.MustCompile(`(?m)^\| (\d) \|`).FindAllStringSubmatch(section, -1)
	var got []string
	for _, r := range rows {
		got = append(got, r[1])
	}
	want := []string{"0", "1", "2", "3", "4", "5"} // action.ExitOK ... action.ExitNotify
	if action.ExitNotify != 5 || action.ExitConflict != 4 {
		t.Fatalf("the exit statuses changed: update this test and README.md")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("README.md's exit table (-want +got):\n%s", diff)
	}
	help := runTerminal(t, []string{"--help"}, nil, nil).stdout
	_, footer, ok := strings.Cut(help, "Exit status:")
	if !ok {
		t.Fatalf("the help has no exit statuses:\n%s", help)
	}
	for _, s := range want {
		if !regexp.MustCompile(`\b` + s + ` [a-z]`).MatchString(footer) {
			t.Errorf("the help's exit statuses do not name %s:\n%s", s, footer)
		}
	}
}

// fits fails the test for each line of text wider than the terminal
// reports are laid out for.
func fits(t *testing.T, what, text string) {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if n := utf8.RuneCountInString(l); n > notify.TextWidth {
			t.Errorf("%s: a line of %d columns, more than %d:\n%s\n\n%s", what, n, notify.TextWidth, l, text)
		}
	}
}

// tableLines are the lines of text from the one that starts with header to
// the next blank line.
func tableLines(text, header string) string {
	i := strings.Index(text, header)
	if i < 0 {
		return ""
	}
	t, _, _ := strings.Cut(text[i:], "\n\n")
	return t
}

// TestTerminalTablesFit100Columns: the check table, the history and a
// manifest's changes fit 100 columns however long the registry's text is:
// free text is cut with an ellipsis, the last column wraps, and the values
// are whole.
func TestTerminalTablesFit100Columns(t *testing.T) {
	t.Parallel()
	longTag := strings.Repeat("abcdefghij", 8)
	model, _ := newModel(t, versionSpec{metrics: map[string]float64{"validation_area_under_the_roc_curve": 0.93, "val_auc": 0.93},
		tags: map[string]string{"dataset_version_of_the_training_data": longTag}})
	policy := `version: 1
rules:
  - name: production gate for the fraud models of the risk team, reviewed quarterly
    applies-to: {alias: champion}
    metrics:
      validation_area_under_the_roc_curve: {min: 0.9}
      val_auc: {min: 0.95}
    tags:
      dataset_version_of_the_training_data: present
`
	files := map[string]string{"p.yml": policy}
	args := []string{"validate", "--model-name", model, "--target-alias", "champion", "--policy", "p.yml", "--tracking-uri", trackingURI()}
	res := runTerminal(t, args, nil, files)
	if res.code != action.ExitPolicy {
		t.Fatalf("validate: exit %d\n%s", res.code, res.all)
	}
	table := tableLines(res.stdout, "  RESULT")
	fits(t, "check table", table)
	for _, want := range []string{"0.93", ">= 0.95", "0.93 < min 0.95", "…", "abcdefghijabcdefghij"} {
		if !strings.Contains(table, want) {
			t.Errorf("the check table lacks %q:\n%s", want, table)
		}
	}

	// History: a promotion recorded by a workflow with a long actor and run URL.
	gh := map[string]string{"GITHUB_ACTOR": "a-very-long-github-actor-name-of-a-bot[bot]", "GITHUB_REPOSITORY": "an-organisation/a-repository-with-a-long-name"}
	if r := runAction(t, merge(promoteInputs(model, "policy", "none"), gh), nil); r.code != 0 {
		t.Fatalf("promote: exit %d\n%s", r.code, r.stdout)
	}
	hist := runTerminal(t, []string{"history", "--model-name", model, "--target-alias", "champion", "--tracking-uri", trackingURI()}, nil, nil)
	if hist.code != 0 {
		t.Fatalf("history: exit %d\n%s", hist.code, hist.all)
	}
	fits(t, "history", hist.stdout)
	if !strings.Contains(hist.stdout, "2026-11-25T12:00:00Z") || !strings.Contains(hist.stdout, "promote") {
		t.Errorf("the history lacks the entry's time or action:\n%s", hist.stdout)
	}

	// A manifest whose entry cannot be planned: the error wraps in DETAIL.
	manifest := "version: 1\nmodels:\n  " + model + ":\n    aliases:\n      champion: 7\n"
	mres := runTerminal(t, []string{"validate", "--manifest", "m.yml", "--policy", "p.yml", "--tracking-uri", trackingURI()},
		nil, map[string]string{"m.yml": manifest, "p.yml": policy})
	if mres.code != action.ExitRegistry {
		t.Fatalf("manifest validate: exit %d\n%s", mres.code, mres.all)
	}
	changes := tableLines(mres.stdout, "  MODEL")
	fits(t, "manifest changes", changes)
	if !strings.Contains(strings.Join(strings.Fields(changes), " "), "RESOURCE_DOES_NOT_EXIST") {
		t.Errorf("the manifest's table does not keep the error:\n%s", changes)
	}
}

// TestQuickStart runs README's quick start against a real server: its
// policy, shown in README as the file holds it, lets a laptop promote any
// model's @challenger to @champion, and history shows the move.
func TestQuickStart(t *testing.T) {
	t.Parallel()
	policy, err := os.ReadFile("../../examples/quickstart-policy.yml")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```yaml\n"+string(policy)+"```\n") {
		t.Errorf("README.md does not show examples/quickstart-policy.yml as it is:\n%s", policy)
	}
	model, f := newModel(t, auc(0.91), auc(0.93))
	for alias, v := range map[string]string{"champion": "1", "challenger": "2"} {
		if err := f.SetAlias(t.Context(), model, alias, v); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{"examples/quickstart-policy.yml": string(policy)}
	env := map[string]string{"MLFLOW_TRACKING_URI": trackingURI()}
	args := func(command string) []string {
		return []string{command, "--model-name", model, "--version", "@challenger", "--target-alias", "champion",
			"--policy", "examples/quickstart-policy.yml"}
	}
	for _, step := range []struct {
		args []string
		says string
	}{
		{args("validate"), "✅ " + model + " v2 passes the policy for @champion"},
		{args("promote"), "✅ " + model + " v2 promoted to @champion"},
		{args("promote"), "✅ " + model + " v2 already in place at @champion"},
		{[]string{"history", "--model-name", model, "--target-alias", "champion"}, "@champion of " + model + ": held by v2"},
	} {
		res := runTerminal(t, step.args, env, files)
		if res.code != 0 || !strings.Contains(res.stdout, step.says) {
			t.Errorf("%s: exit %d, want 0 and %q\n%s", step.args[0], res.code, step.says, res.all)
		}
	}
	if got := aliasOf(t, f, model, "champion"); got != "2" {
		t.Errorf("@champion = v%s, want v2", got)
	}
}
