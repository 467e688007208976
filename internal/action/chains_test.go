package action_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/mlreg/mlreg-action/internal/testing/faultproxy"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

// Errors wrap each layer once: every layer adds what it knows, and none
// repeats what the layer below it already said. These tests read the final
// error line of runs against the real MLflow server (and through the fault
// proxy, for a failure of each request of a promotion) and look for a clause
// said twice.

var (
	// serverAnswer starts the part of an error that quotes the server.
	serverAnswer = regexp.MustCompile(`\b(GET|POST|PATCH|DELETE) /api/`)
	quoted       = regexp.MustCompile(`"[^"]*"`)
	position     = regexp.MustCompile(`[\w./-]+\.ya?ml:\d+(:\d+)?`)
)

// saidTwice lists what msg, an error line, says twice in its own clauses
// (before the server's answer): a name quoted in two "failed to" clauses, a
// "failed to <verb> <object>" clause twice, or a file position twice.
func saidTwice(msg string) []string {
	var out []string
	own := msg
	if loc := serverAnswer.FindStringIndex(msg); loc != nil {
		own = msg[:loc[0]]
	}
	seenName := map[string]int{}
	seenClause := map[string]bool{}
	for i, clause := range strings.Split(own, ": ") {
		c, ok := strings.CutPrefix(strings.TrimSpace(clause), "failed to ")
		if !ok {
			continue
		}
		if f := strings.Fields(c); len(f) >= 2 {
			key := strings.Join(f[:2], " ")
			if seenClause[key] {
				out = append(out, "clause failed to "+key)
			}
			seenClause[key] = true
		}
		for _, q := range quoted.FindAllString(c, -1) {
			if j, ok := seenName[q]; ok && j != i {
				out = append(out, "name "+q)
			}
			seenName[q] = i
		}
	}
	seenPos := map[string]bool{}
	for _, p := range position.FindAllString(msg, -1) {
		p = strings.Join(strings.Split(p, ":")[:2], ":") // file:line
		if seenPos[p] {
			out = append(out, "position "+p)
		}
		seenPos[p] = true
	}
	return out
}

func TestSaidTwice(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]int{
		`registry error: failed to resolve latest version of "x": failed to find latest version of registered model "x": failed to search model versions (filter "name='x'"): GET /api/2.0/mlflow/model-versions/search: 404`: 1,
		`registry error: failed to get registered model "x": failed to get registered model "x": GET /api/2.0/mlflow/registered-models/get: 404`:                                                                              2,
		`error: p.yml:7: p.yml:7:9: unknown key "mni"`: 1,
		`registry error: failed to get model version "x" v3: GET /api/2.0/mlflow/model-versions/get: 404 RESOURCE_DOES_NOT_EXIST: Model Version (name=x, version=3) not found`: 0,
		`failed to read "m" v2: failed to get run "abc": GET /api/2.0/mlflow/runs/get: 403`:                                                                                    0,
	} {
		if got := saidTwice(msg); len(got) != want {
			t.Errorf("saidTwice(%q) = %q, want %d", msg, got, want)
		}
	}
}

// errorLine is the run's error as the user reads it: the ::error annotation
// in a workflow, the last line on a terminal.
func errorLine(t *testing.T, res result) string {
	t.Helper()
	if strings.Contains(res.stdout, "::error") {
		return errorAnnotation(t, res.stdout).msg
	}
	return strings.TrimSpace(res.stderr)[strings.LastIndex(strings.TrimSpace(res.stderr), "\nerror: ")+1:]
}

func checkSaidOnce(t *testing.T, res result, code int, says string) {
	t.Helper()
	if res.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", res.code, code, res.stdout, res.stderr)
	}
	msg := errorLine(t, res)
	if !strings.Contains(msg, says) {
		t.Errorf("the error does not say %q:\n%s", says, msg)
	}
	if twice := saidTwice(msg); len(twice) > 0 {
		t.Errorf("the error says %q twice:\n%s", twice, msg)
	}
}

// TestErrorChainsSayEachThingOnce: what a user mistypes or a registry lacks,
// found by the real server.
func TestErrorChainsSayEachThingOnce(t *testing.T) {
	t.Parallel()
	model, f := newModel(t, auc(0.95))
	if err := f.SetAlias(t.Context(), model, "challenger", "1"); err != nil {
		t.Fatal(err)
	}
	missing := mlflowtest.UniqueName(t, "missing")
	const unknownKey = "version: 1\nrules:\n  - name: gate\n    applies-to: {alias: champion}\n    metrics:\n      val_auc:\n        mni: 0.9\n"
	const stageOnly = "version: 1\nrules:\n  - name: gate\n    applies-to: {alias: challenger}\n"
	cases := []struct {
		name     string
		inputs   map[string]string
		files    map[string]string
		terminal bool
		code     int
		says     string
	}{
		{name: "latest of a model that does not exist", inputs: promoteInputs(missing, "command", "validate"), code: 3,
			says: `failed to find latest version of registered model "` + missing + `"`},
		{name: "a version of a model that does not exist", inputs: promoteInputs(missing, "command", "validate", "version", "3"), code: 3,
			says: `failed to get model version "` + missing + `" v3`},
		{name: "a version that does not exist", inputs: promoteInputs(model, "command", "validate", "version", "99"), code: 3,
			says: `failed to get model version "` + model + `" v99`},
		{name: "an alias of a model that does not exist", inputs: promoteInputs(missing, "command", "validate", "version", "@challenger"), code: 3,
			says: `failed to get alias "challenger" of registered model "` + missing + `"`},
		{name: "an alias that is not set", inputs: promoteInputs(model, "command", "validate", "version", "@nosuch"), code: 3,
			says: `version @nosuch of "` + model + `": registered model alias not found`},
		{name: "rollback of a model that does not exist", inputs: promoteInputs(missing, "command", "rollback"), code: 3,
			says: `failed to get registered model "` + missing + `"`},
		{name: "history of a model that does not exist", inputs: promoteInputs(missing, "command", "history"), code: 3,
			says: `failed to get registered model "` + missing + `"`},
		{name: "register from a run that does not exist", inputs: map[string]string{"command": "register", "model-name": model,
			"run-id": "0123456789abcdef0123456789abcdef", "artifact-path": "model"}, code: 3,
			says: `failed to get run "0123456789abcdef0123456789abcdef"`},
		{name: "unknown policy key, on a terminal", inputs: promoteInputs(model, "command", "validate", "GITHUB_ACTIONS", ""),
			files: map[string]string{".github/mlreg-policy.yml": unknownKey}, code: 2, terminal: true,
			says: `error: .github/mlreg-policy.yml:7:9: unknown key "mni"`},
		{name: "no rule for the target, on a terminal", inputs: promoteInputs(model, "command", "validate", "GITHUB_ACTIONS", ""),
			files: map[string]string{".github/mlreg-policy.yml": stageOnly}, code: 2, terminal: true,
			says: `.github/mlreg-policy.yml:2: no policy rule applies to model`},
		{name: "bad manifest version, on a terminal", inputs: map[string]string{"command": "validate", "manifest": "m.yml", "GITHUB_ACTIONS": ""},
			files: map[string]string{"m.yml": "version: 1\nmodels:\n  " + model + ":\n    aliases:\n      champion: x\n"}, code: 2, terminal: true,
			says: `error: m.yml:5:17: model "` + model + `", alias "champion": version must be a positive integer`},
		{name: "a manifest version that does not exist", inputs: map[string]string{"command": "validate", "manifest": "m.yml"},
			files: map[string]string{"m.yml": "version: 1\nmodels:\n  " + model + ":\n    aliases:\n      champion: 15\n",
				".github/mlreg-policy.yml": gatePolicy}, code: 3,
			says: `failed to get model version "` + model + `" v15`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := tc.files
			if files == nil {
				files = policyFiles()
			}
			res := runAction(t, tc.inputs, files)
			if tc.terminal && strings.Contains(res.stdout, "::error") {
				t.Fatalf("not a terminal run:\n%s", res.stdout)
			}
			checkSaidOnce(t, res, tc.code, tc.says)
		})
	}
}

// TestErrorChainsOfEachRequest: a promotion whose every request, one at a
// time, is refused by the server (403, not retried) ends with an error that
// names each thing once.
func TestErrorChainsOfEachRequest(t *testing.T) {
	t.Parallel()
	s := mlflowtest.RequireServer(t, srv)
	forbid := func(method, path, contains string, nth int) faultproxy.Rule {
		return faultproxy.Rule{Method: method, Path: path, Contains: contains, Nth: nth, Fault: faultproxy.Status(http.StatusForbidden)}
	}
	cases := []struct {
		name string
		rule faultproxy.Rule
		in   []string // extra inputs
		says string
	}{
		{"candidate", forbid("GET", "/model-versions/get", "", 1), nil, "failed to get model version"},
		{"latest", forbid("GET", "/model-versions/search", "", 1), []string{"version", "latest"}, "failed to find latest version"},
		{"holder", forbid("GET", "/registered-models/alias", "", 1), nil, "failed to get alias"},
		{"run", forbid("GET", "/runs/get", "", 1), nil, "failed to get run"},
		{"logged model", forbid("GET", "/logged-models/*", "", 1), nil, "failed to get logged model"},
		{"metric history", forbid("GET", "/metrics/get-history", "", 1), nil, "failed to get history of metric"},
		{"promotion tag", forbid("POST", "/model-versions/set-tag", "mlreg.promotion.", 1), nil, "failed to write the promotion tag"},
		{"the move", forbid("POST", "/registered-models/alias", "", 1), nil, "failed to set alias"},
		{"read-back", forbid("GET", "/registered-models/get", "", 1), nil, "failed to get registered model"},
		{"history", forbid("POST", "/registered-models/set-tag", "mlreg.history.", 1), nil, "failed to set tag"},
		{"replaced mark", forbid("POST", "/model-versions/set-tag", "mlreg.replaced.", 1), nil, "failed to set tag"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fr, _, _ := newFaultRun(t, s, false)
			fr.ml.Add(tc.rule)
			in := merge(fr.in, map[string]string{"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
			for i := 0; i+1 < len(tc.in); i += 2 {
				in[tc.in[i]] = tc.in[i+1]
			}
			res := runAction(t, in, map[string]string{".github/mlreg-policy.yml": faultPolicy})
			waitIdle(t, fr.ml)
			if fr.ml.Hits() == 0 {
				t.Fatalf("the run never sent %s\n%s", tc.rule, res.stdout)
			}
			checkSaidOnce(t, res, 3, tc.says)
		})
	}
}
