package action

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/testing/testutil"
)

// TestParseArgs: every input is a flag of the same name, given as
// --flag value, --flag=value, -flag value (as Go's flag package took it),
// and a boolean alone; the first argument is the command.
func TestParseArgs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		args    []string
		want    map[string]string
		wantErr string
	}{
		{name: "nothing", args: nil, want: map[string]string{}},
		{name: "command and --flag value", args: []string{"promote", "--model-name", "fraud", "--target-alias", "champion"},
			want: map[string]string{"command": "promote", "model-name": "fraud", "target-alias": "champion"}},
		{name: "--flag=value", args: []string{"validate", "--model-name=fraud", "--version=@challenger"},
			want: map[string]string{"command": "validate", "model-name": "fraud", "version": "@challenger"}},
		{name: "single dash, as before", args: []string{"history", "-model-name", "fraud", "-format=json"},
			want: map[string]string{"command": "history", "model-name": "fraud", "format": "json"}},
		{name: "bare boolean", args: []string{"promote", "--dry-run", "--archive-existing=false"},
			want: map[string]string{"command": "promote", "dry-run": "true", "archive-existing": "false"}},
		// A boolean's value is checked with the other inputs (loadConfig), so
		// that --dry-run=yes works as dry-run: yes does in a workflow.
		{name: "boolean words", args: []string{"promote", "--dry-run=yes"}, want: map[string]string{"command": "promote", "dry-run": "yes"}},
		{name: "an empty value is given", args: []string{"promote", "--version="}, want: map[string]string{"command": "promote", "version": ""}},
		{name: "flags without a command", args: []string{"--model-name", "fraud"}, want: map[string]string{"model-name": "fraud"}},
		{name: "unknown flag", args: []string{"promote", "--modle-name", "fraud"}, wantErr: "unknown flag: --modle-name"},
		{name: "unknown single-dash flag", args: []string{"promote", "-x"}, wantErr: "unknown shorthand flag: 'x' in -x"},
		{name: "command is not a flag", args: []string{"promote", "--command", "validate"}, wantErr: "unknown flag: --command"},
		{name: "missing value", args: []string{"promote", "--model-name"}, wantErr: "flag needs an argument: --model-name"},
		{name: "stray argument", args: []string{"promote", "--dry-run", "false"}, wantErr: `unexpected argument "false"`},
		{name: "the flags of the command line are no inputs", args: []string{"promote", "-v", "--show-outputs", "--model-name", "m"},
			want: map[string]string{"command": "promote", "model-name": "m"}},
		{name: "unknown command", args: []string{"promot"}, wantErr: `unknown command "promot"; did you mean promote?`},
		{name: "unknown flag, near one", args: []string{"promote", "--verison", "3"}, wantErr: "unknown flag: --verison; did you mean --version?"},
		{name: "unknown flag, near none", args: []string{"promote", "--xyzzy"}, wantErr: "unknown flag: --xyzzy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cl, err := parseArgs(tc.args)
			got, help := cl.flags, cl.help
			if help != "" {
				t.Fatalf("parseArgs(%q) printed help", tc.args)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseArgs(%q) error = %v, want %q", tc.args, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseArgs(%q): %v", tc.args, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parseArgs(%q) (-want +got):\n%s", tc.args, diff)
			}
		})
	}
}

// TestDidYouMean: prefixes first, then the nearest names within a distance
// that grows with the name's length; nothing when nothing is near.
func TestDidYouMean(t *testing.T) {
	t.Parallel()
	names := []string{"validate", "promote", "register", "rollback", "history", "model-name", "target-alias", "target-stage"}
	for typed, want := range map[string]string{
		"promot":     "; did you mean promote?",
		"hist":       "; did you mean history?",
		"target":     "; did you mean target-alias or target-stage?",
		"vaildate":   "; did you mean validate?", // a transposition counts one
		"rolback":    "; did you mean rollback?",
		"modle-name": "; did you mean model-name?",
		"xyzzy":      "",
		"p":          "", // one letter is a prefix of nothing it could mean
	} {
		if got := didYouMean(typed, names, ""); got != want {
			t.Errorf("didYouMean(%q) = %q, want %q", typed, got, want)
		}
	}
}

func help(t *testing.T, args ...string) string {
	t.Helper()
	var stdout bytes.Buffer
	code := Main(context.Background(), Env{Args: args, Getenv: func(string) string { return "" }, Stdout: &stdout, Stderr: &stdout, Version: "test"})
	if code != ExitOK {
		t.Fatalf("%q: exit %d, want 0\n%s", args, code, stdout.String())
	}
	return stdout.String()
}

// flagLine matches one flag of the help: "      --name type   description".
var flagLine = regexp.MustCompile(`(?m)^ {6}--([a-z-]+)( [a-z]+)? {3,}(.*)$`)

func TestHelp(t *testing.T) {
	t.Parallel()
	full := help(t, "--help")
	for _, args := range [][]string{{"-h"}, {"help"}, {"-help"}} {
		if got := help(t, args...); got != full {
			t.Errorf("%q prints another help than --help", args)
		}
	}
	// Every command is listed, version and help included.
	for _, c := range commandNames(true) {
		if !regexp.MustCompile(`(?m)^  ` + c + ` +\S`).MatchString(full) {
			t.Errorf("the help does not list the command %q:\n%s", c, full)
		}
	}
	// Every input but command is listed exactly once, gh-style: a type after
	// a value flag, none after a boolean, and no quoted default for a boolean.
	listed := map[string]int{}
	for _, m := range flagLine.FindAllStringSubmatch(full, -1) {
		name, typ, desc := m[1], strings.TrimSpace(m[2]), m[3]
		listed[name]++
		if isCLIFlag(name) {
			continue
		}
		in, ok := inputByName(name)
		if !ok {
			t.Errorf("the help lists --%s, which is no input", name)
			continue
		}
		if want := map[bool]string{true: "", false: flagType(in)}[in.Bool]; typ != want {
			t.Errorf("--%s is shown with type %q, want %q", name, typ, want)
		}
		if in.Bool && strings.Contains(desc, `(default "`) {
			t.Errorf("--%s: a boolean's default is quoted: %s", name, desc)
		}
	}
	for _, in := range Inputs {
		if in.Name != "command" && listed[in.Name] != 1 {
			t.Errorf("the help lists --%s %d times, want once", in.Name, listed[in.Name])
		}
	}
	for _, want := range []string{
		"  -v, --verbose ",
		"      --show-outputs ",
		"Flags of the command line only",
		"      --model-name string ",
		"      --timeout duration ",
		"      --dry-run ",
		"(default true)", // archive-existing
		"Flags of every command:",
		"Flags of promote and rollback:",
		"Flags of register:",
	} {
		if !strings.Contains(full, want) {
			t.Errorf("the help does not contain %q:\n%s", want, full)
		}
	}
}

func isCLIFlag(name string) bool {
	for _, f := range cliFlags {
		if f.Name == name {
			return true
		}
	}
	return false
}

// TestCommandHelp: a command's help lists the flags it reads and no other,
// and the flags of the command line.
func TestCommandHelp(t *testing.T) {
	t.Parallel()
	reads := map[string]map[string]bool{}
	for _, c := range commandNames(false) {
		reads[c] = map[string]bool{}
		for _, in := range Inputs {
			if commandReads(c, in.Name) {
				reads[c][in.Name] = true
			}
		}
	}
	for _, c := range commandNames(false) {
		got := help(t, c, "--help")
		if other := help(t, "help", c); other != got {
			t.Errorf("help %s differs from %s --help", c, c)
		}
		if other := help(t, c, "-h"); other != got {
			t.Errorf("%s -h differs from %s --help", c, c)
		}
		if !strings.HasPrefix(got, "mlreg-action "+c+": ") {
			t.Errorf("%s --help does not start with the command: %.80q", c, got)
		}
		shown := map[string]bool{}
		for _, m := range flagLine.FindAllStringSubmatch(got, -1) {
			if !isCLIFlag(m[1]) {
				shown[m[1]] = true
			}
		}
		if !strings.Contains(got, "  -v, --verbose ") || !strings.Contains(got, "      --show-outputs ") {
			t.Errorf("%s --help does not list the flags of the command line", c)
		}
		if diff := cmp.Diff(reads[c], shown); diff != "" {
			t.Errorf("%s --help (-reads +shown):\n%s", c, diff)
		}
	}
	promote := help(t, "promote", "--help")
	if !strings.Contains(promote, "--dry-run") || strings.Contains(promote, "--run-id") {
		t.Errorf("promote --help should list --dry-run and not --run-id:\n%s", promote)
	}
}

// TestFlagSetsCoverInputs: every input (but command) is in exactly one
// flag set, every set is read by a command, and every name in a set is an
// input.
func TestFlagSetsCoverInputs(t *testing.T) {
	t.Parallel()
	seen := map[string]int{}
	for _, g := range flagSets {
		if len(readers(g.inputs[0])) == 0 {
			t.Errorf("no command reads the flag set of %q", g.inputs)
		}
		for _, n := range g.inputs {
			if _, ok := inputByName(n); !ok {
				t.Errorf("flag set lists %q, which is no input", n)
			}
			seen[n]++
		}
	}
	for _, c := range commands {
		for _, g := range c.Flags {
			if !slices.Contains(flagSets, g) {
				t.Errorf("%s reads a flag set that flagSets does not list (the help would hide it): %q", c.Name, g.inputs)
			}
		}
	}
	for _, in := range Inputs {
		if in.Name != "command" && seen[in.Name] != 1 {
			t.Errorf("input %q is in %d flag sets, want 1 (see flagSets)", in.Name, seen[in.Name])
		}
	}
}

// TestRetriesAreLoggedAndTheErrorPrintedOnce: a server that refuses
// connections, or answers 503, is not silent until the deadline: each retry
// logs what failed, the attempt and the wait; the final error names the
// deadline and the input that set it, and is printed once, on a terminal as
// in a workflow. No URL with credentials is printed.
func TestRetriesAreLoggedAndTheErrorPrintedOnce(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(unavailable.Close)
	const password = "s3cr3t-not-a-real-password"
	refused := testutil.RefusedAddr(t)
	servers := map[string]struct{ uri, says string }{
		"refused": {"http://ci:" + password + "@" + refused, "connection refused by " + refused},
		"503":     {strings.Replace(unavailable.URL, "http://", "http://ci:"+password+"@", 1), "503 Service Unavailable"},
	}
	for name, srv := range servers {
		for _, inActions := range []bool{false, true} {
			t.Run(name+map[bool]string{true: " in a workflow", false: " on a terminal"}[inActions], func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				env := map[string]string{
					// Retry 1 at once, retry 2 after 120s + jitter: past the
					// one-minute deadline, so the run stops after 2 attempts
					// however loaded the machine is.
					"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "120",
					"GITHUB_OUTPUT":                      dir + "/output",
					"GITHUB_STEP_SUMMARY":                dir + "/summary",
				}
				if inActions {
					env["GITHUB_ACTIONS"] = "true"
				}
				var stdout, stderr bytes.Buffer
				code := Main(t.Context(), Env{
					Args: []string{"validate", "--model-name", "fraud", "--version", "3", "--target-alias", "champion",
						"--policy", "none", "--tracking-uri", srv.uri, "--timeout", "1m"},
					Getenv: func(k string) string { return env[k] }, Stdout: &stdout, Stderr: &stderr,
					WorkDir: dir, Version: "test",
				})
				all := stdout.String() + stderr.String()
				if code != ExitRegistry {
					t.Fatalf("exit %d, want %d\n%s", code, ExitRegistry, all)
				}
				// The first retry says how long the retries may go on: until
				// the deadline, which comes before the last attempt could end.
				retry := regexp.MustCompile(`(?m)^(    )?retry: GET /api/2\.0/mlflow/model-versions/get: ` + regexp.QuoteMeta(srv.says) +
					` \(attempt 1 of 8\); retrying in 0s, and for up to [1-5]?\ds before the deadline of 1m \(input ` + "`timeout`" + `\)$`)
				if !retry.MatchString(all) {
					t.Errorf("no retry line matching %s:\n%s", retry, all)
				}
				final := "deadline of 1m (input `timeout`) reached after 2 attempts (the next retry, in 2m0s, would end past it)"
				if n := strings.Count(all, "deadline of 1m (input `timeout`) reached"); n != 1 {
					t.Errorf("the final error is printed %d times, want once:\n%s", n, all)
				}
				if !strings.Contains(all, final) {
					t.Errorf("the error does not say %q:\n%s", final, all)
				}
				errorLine := "error: registry error: failed to get model version \"fraud\" v3"
				if inActions {
					errorLine = "::error::registry error: failed to get model version \"fraud\" v3"
				}
				if n := strings.Count(all, errorLine); n != 1 {
					t.Errorf("%d lines %q, want 1:\n%s", n, errorLine, all)
				}
				if strings.Contains(all, password) {
					t.Errorf("the output holds the password:\n%s", all)
				}
			})
		}
	}
}

// TestAnnotationSaysItsLabelOnce: an error whose sentinel already names the
// outcome ("policy not met: ...") is not prefixed with it again.
func TestAnnotationSaysItsLabelOnce(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: m v3 for @champion: val_auc 0.85 < min 0.9", promote.ErrPolicyFailed), "error: policy not met: m v3 for @champion: val_auc 0.85 < min 0.9\n"},
		{fmt.Errorf("%w: rollback needs target-alias or target-stage", promote.ErrInvalid), "error: invalid input: rollback needs target-alias or target-stage\n"},
		{fmt.Errorf("%w: @champion is v9, plan expected v8", promote.ErrConflict), "error: conflict: @champion is v9, plan expected v8\n"},
		{errors.New("failed to get model version: 403 PERMISSION_DENIED"), "error: registry error: failed to get model version: 403 PERMISSION_DENIED\n"},
		// A message that merely starts with the word keeps its label.
		{errors.New("conflicting answers from the server"), "error: registry error: conflicting answers from the server\n"},
	}
	for _, tc := range cases {
		var stderr bytes.Buffer
		d := &deps{out: newCLIIO(io.Discard, &stderr, false)}
		d.annotate(tc.err, exitCode(tc.err))
		if got := stderr.String(); got != tc.want {
			t.Errorf("annotate(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestMLflowHTTPSettingsReachTheClient: MLflow's retry variables change what
// the run does as they change what MLflow's client does.
func TestMLflowHTTPSettingsReachTheClient(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		env      map[string]string
		block    bool // the server never answers
		requests int64
		says     string
	}{
		{name: "2 retries without pauses", requests: 3, says: "gave up after 3 attempts",
			env: map[string]string{"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0", "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0"}},
		{name: "no retries", requests: 1, says: "503",
			env: map[string]string{"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}},
		{name: "a one-second attempt", requests: 1, block: true, says: "Client.Timeout exceeded",
			env: map[string]string{"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var served atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// The plan reads the candidate and the alias holder at once:
				// count the candidate's attempts.
				if strings.HasSuffix(r.URL.Path, "/model-versions/get") {
					served.Add(1)
				}
				if tc.block {
					<-r.Context().Done()
					return
				}
				w.WriteHeader(http.StatusServiceUnavailable)
			}))
			t.Cleanup(srv.Close)
			dir := t.TempDir()
			var out bytes.Buffer
			code := Main(t.Context(), Env{
				Args: []string{"validate", "--model-name", "fraud", "--version", "3", "--target-alias", "champion",
					"--policy", "none", "--tracking-uri", srv.URL},
				Getenv: func(k string) string { return tc.env[k] }, Stdout: &out, Stderr: &out, WorkDir: dir, Version: "test",
			})
			if code != ExitRegistry {
				t.Fatalf("exit %d, want %d\n%s", code, ExitRegistry, out.String())
			}
			if got := served.Load(); got != tc.requests {
				t.Errorf("the server saw %d model-versions/get requests, want %d\n%s", got, tc.requests, out.String())
			}
			if !strings.Contains(out.String(), tc.says) {
				t.Errorf("the output does not say %q:\n%s", tc.says, out.String())
			}
		})
	}
}
