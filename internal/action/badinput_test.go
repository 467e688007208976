package action_test

// The bad-input corpus: 190 cases, each run as the runner runs the action.
//
//	policies          59  wrong types, unknown keys, huge files and numbers, alias bombs,
//	                      invalid UTF-8, control characters, tabs, duplicate keys, empty
//	                      files, version 2, min > max, bad durations, bad globs, a
//	                      missing file, a target no rule governs
//	input values      59  timeout, version, target, alias and model names, enums,
//	                      booleans, tags, command, URLs (no scheme, local stores),
//	                      register and history inputs, MLFLOW_HTTP_REQUEST_* values,
//	                      manifest, parallelism, expected-plan-digest
//	manifests         49  the parser's bad files (testdata/manifests/bad), files that
//	                      name the model under test, a missing file
//	event payloads     7  invalid JSON, wrong types, 30 MB, missing, a directory
//	registry answers  16  an httptest server standing in for MLflow: wrong JSON types,
//	                      truncated JSON, 50 MB and 65 MB bodies, HTML, an empty 200,
//	                      invalid UTF-8, a version that is not a number, not READY
//
// Every case checks the exit status (2: invalid input, policy or
// configuration; 3: registry error), the one ::error annotation (its message,
// and for a policy problem the file and line it points at), that nothing
// panics, and that the registry is unchanged: on the real MLflow server the
// registered model's aliases and tags, every version's tags, stage and
// status, the version count and the promotion lock are read before and after
// the run and compared; the stand-in registry must see no write. A bad event
// payload must not fail the promotion: it is a warning, and the promotion
// goes through. TestBadInputCorpusSize keeps these counts in step with the
// tables.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/testing/githubfake"
)

const policyPath = ".github/mlreg-policy.yml"

// badCase is one bad input and what the user must see.
type badCase struct {
	name   string
	inputs map[string]string // on top of a promotion that would otherwise move @champion from v1 to v2
	files  map[string]string // workspace files; nil = policyFiles()
	code   int
	says   []string // substrings of the ::error message
	file   string   // the annotation's file property; "" = none
	line   int      // the annotation's line property; 0 = none
	hides  []string // what must appear nowhere the user can see
}

// head is the start of a valid policy: the rule's keys are at column 5 from line 6.
const head = `version: 1
rules:
  - name: gate
    applies-to:
      alias: champion
`

// policyCase is a bad policy whose first problem is at line.
func policyCase(name, src string, line int, says ...string) badCase {
	return badCase{name: name, files: map[string]string{policyPath: src}, code: 2, says: says, file: policyPath, line: line}
}

func policyCases() []badCase {
	var bomb strings.Builder
	bomb.WriteString("version: 1\nlol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&bomb, "lol%d: &lol%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*lol%d, ", i-1), 9), ", "))
	}
	bomb.WriteString("rules: *lol9\n")
	deep := "version: 1\nrules: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n"
	huge := head + "    metrics:\n      val_auc: {min: 0.9}\n" + strings.Repeat("# padding padding padding padding padding padding\n", 10<<20/50)
	return []badCase{
		// Wrong types.
		policyCase("min is a string", head+"    metrics:\n      val_auc:\n        min: \"0.9\"\n", 8, `min must be a number, got the string "0.9"`),
		policyCase("version is a string", "version: \"1\"\nrules: []\n", 1, `version must be an integer, got the string "1"`),
		policyCase("version is a float", "version: 1.5\nrules: []\n", 1, `version must be an integer, got a number (1.5)`),
		policyCase("rules is a mapping", "version: 1\nrules:\n  gate: {}\n", 3, `rules must be a sequence, got a mapping`),
		policyCase("rules is null", "version: 1\nrules:\n", 2, `rules must be a sequence, got null`),
		policyCase("metrics is a list", head+"    metrics: [val_auc]\n", 6, `metrics must be a mapping, got a sequence`),
		policyCase("metric is a number", head+"    metrics:\n      val_auc: 0.9\n", 7, `metric "val_auc" must be a mapping, got a number (0.9) (write min: 0.9 or max: 0.9)`),
		policyCase("models is a string", head+"      models: fraud-*\n", 6, `models must be a sequence, got the string "fraud-*"`),
		policyCase("exclude-actor is a string", head+"    approval:\n      pull-request-reviews: {min: 1, exclude-actor: \"yes\"}\n", 7, `exclude-actor must be true or false`),
		policyCase("tag value unquoted boolean", head+"    tags:\n      validated: true\n", 7, `tag "validated": unquoted true is a YAML boolean`),
		policyCase("policy is a list", "- version: 1\n", 1, `the policy must be a mapping, got a sequence`),
		policyCase("policy is a scalar", "hello\n", 1, `the policy must be a mapping, got the string "hello"`),
		policyCase("key is a mapping", "version: 1\n? {a: b}\n: x\nrules: []\n", 2, `keys of the policy must be strings, got a mapping`),
		// Unknown keys.
		policyCase("unknown key near miss", head+"    metrics:\n      val_auc:\n        mni: 0.9\n", 8, `unknown key "mni" in metric "val_auc" (did you mean "min"?)`),
		policyCase("unknown top-level key", "version: 1\nrulez: []\n", 2, `unknown key "rulez" in the policy (did you mean "rules"?)`),
		policyCase("key at the wrong level", head+"    max-age: 7d\n", 6, `unknown key "max-age" in rule ("max-age" belongs under run)`),
		// Huge values.
		policyCase("10 MB policy file", huge, 1, `policy file is larger than 1 MiB`),
		policyCase("1e400", head+"    metrics:\n      val_auc:\n        min: 1e400\n", 8, `min must be a finite number, got 1e400 (out of range)`),
		policyCase("-1e400", head+"    metrics:\n      val_auc:\n        max: -1e400\n", 8, `max must be a finite number, got -1e400 (out of range)`),
		policyCase(".nan", head+"    metrics:\n      val_auc:\n        min: .nan\n", 8, `min must be a finite number, got .nan`),
		policyCase(".inf", head+"    metrics:\n      val_auc:\n        max: .inf\n", 8, `max must be a finite number, got .inf`),
		policyCase("integer overflow", "version: 99999999999999999999999\nrules: []\n", 1, `version must be an integer`),
		policyCase("approvals min overflow", head+"    approval:\n      environment-reviews: {min: 99999999999999999999999}\n", 7, `min must be an integer`),
		policyCase("max-age too long", head+"    run:\n      max-age: 9999999d\n", 7, `max-age "9999999d" is too long`),
		policyCase("20000 nested brackets", deep, 2, `invalid YAML`),
		// Aliases.
		policyCase("billion laughs", bomb.String(), 2, `unknown key "lol0" in the policy`, `YAML aliases are not allowed (*lol0)`, `YAML aliases are not allowed (*lol8)`),
		policyCase("one alias", "version: 1\nx: &x {alias: champion}\nrules:\n  - name: gate\n    applies-to: *x\n", 2, `unknown key "x" in the policy`),
		policyCase("merge key", head+"    run: {<<: {status: FINISHED}}\n", 6, `merge keys (<<) are not allowed`),
		// Encoding and layout.
		policyCase("invalid UTF-8", head+"    tags:\n      owner: \"\xff\xfe\"\n", 7, `:7:15: policy file is not valid UTF-8 (byte 0xFF)`),
		policyCase("UTF-16", "\xff\xfev\x00e\x00r\x00", 1, `:1:1: policy file is not valid UTF-8 (byte 0xFF)`),
		policyCase("control character", head+"    tags:\n      owner: \"a\x07b\"\n", 7, `:7:16: invalid YAML: control characters are not allowed (U+0007)`),
		policyCase("NUL byte", "version: 1\x00\nrules: []\n", 1, `:1:11: invalid YAML: control characters are not allowed (U+0000)`),
		policyCase("unknown anchor", "version: 1\nrules:\n  - *gate\n", 3, `:3:5: invalid YAML: unknown anchor 'gate' referenced`),
		policyCase("tab indentation", "version: 1\nrules:\n\t- name: gate\n", 3, `invalid YAML: found character that cannot start any token`),
		policyCase("bad indentation", "version: 1\nrules:\n  - name: r\n   applies-to: {alias: champion}\n", 3, `invalid YAML: did not find expected '-' indicator`),
		policyCase("unclosed bracket", head+"      models: [fraud-*\n", 6, `invalid YAML: did not find expected ',' or ']'`),
		policyCase("two documents", head+"---\nversion: 1\n", 6, `policy file must hold exactly one YAML document`),
		// Duplicates and empties.
		policyCase("duplicate top-level key", "version: 1\nversion: 1\nrules: []\n", 2, `duplicate key "version" (first defined at line 1)`),
		policyCase("duplicate metric key", head+"    metrics:\n      val_auc:\n        min: 0.9\n        min: 0.8\n", 9, `duplicate key "min" (first defined at line 8)`),
		policyCase("duplicate rule name", head+"  - name: gate\n    applies-to: {alias: champion}\n", 6, `duplicate rule name "gate" (first used at line 3)`),
		policyCase("empty file", "", 1, `policy file is empty`),
		policyCase("only comments", "# version: 1\n# rules: []\n", 1, `policy file is empty`),
		policyCase("empty rules", "version: 1\nrules: []\n", 2, `rules must not be empty`),
		// Versions and contradictions.
		policyCase("version 2", "version: 2\nrules: []\n", 1, `unsupported policy version 2: this release reads version 1`),
		policyCase("missing version", "rules:\n  - name: gate\n    applies-to: {alias: champion}\n", 1, `missing required key "version" (set version: 1)`),
		policyCase("min > max", head+"    metrics:\n      val_auc:\n        min: 0.9\n        max: 0.8\n", 8, `metric "val_auc": min 0.9 is greater than max 0.8`),
		policyCase("alias and stage", head+"      stage: Production\n", 6, `applies-to must set alias or stage, not both`),
		policyCase("direction cannot be inferred", head+"    metrics:\n      val_auc:\n        min: 0.1\n        max: 0.9\n        vs-champion: {min-improvement: 0.01}\n", 7, `set direction (maximize or minimize) for vs-champion`),
		policyCase("negative improvement", head+"    metrics:\n      val_auc:\n        direction: maximize\n        vs-champion: {min-improvement: -0.01}\n", 9,
			`min-improvement must not be negative, got -0.01 (to allow a regression, use max-regression: 0.01)`),
		// Durations, globs, names.
		policyCase("duration in words", head+"    run:\n      max-age: 7 days\n", 7, `max-age "7 days" is not a duration`),
		policyCase("negative duration", head+"    run:\n      max-age: -1h\n", 7, `max-age "-1h" must be positive`),
		policyCase("duration without unit", head+"    run:\n      max-age: 168\n", 7, `max-age must be a duration such as 168h or 7d, got an integer (168)`),
		policyCase("bad glob", head+"      models: [\"fraud-[\"]\n", 6, `model glob "fraud-[" is not a valid pattern`),
		policyCase("reserved alias", "version: 1\nrules:\n  - name: gate\n    applies-to: {alias: v3}\n", 4, `alias "v3" is reserved by MLflow for version references`),
		policyCase("stage misspelt", "version: 1\nrules:\n  - name: gate\n    applies-to: {stage: Prod}\n", 4, `stage must be one of Staging, Production, Archived, None (any case), got "Prod"`),
		policyCase("enum misspelt", head+"    on-missing-metric: skp\n", 6, `on-missing-metric must be one of fail, skip, got "skp" (did you mean "skip"?)`),
		// The policy input itself.
		// A file that cannot be read is annotated without a file property:
		// there is nothing to point at in the repository.
		{name: "policy file missing", inputs: map[string]string{"policy": "policies/nope.yml"}, code: 2,
			says: []string{`failed to read policy file "`, `policies/nope.yml": open `, "no such file or directory"}},
		{name: "policy is a directory", inputs: map[string]string{"policy": ".github"}, code: 2,
			says: []string{`failed to read policy file "`, `.github": read `, "is a directory"}},
		// Annotated at the rules key, where the missing rule would go.
		policyCase("no rule for the target", "version: 1\nrules:\n  - name: gate\n    applies-to: {alias: challenger}\n", 2,
			"no policy rule applies", "@champion", "fail closed"),
	}
}

func in(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func inputCase(name string, inputs map[string]string, says ...string) badCase {
	return badCase{name: name, inputs: inputs, code: 2, says: append([]string{"invalid input"}, says...)}
}

func inputCases() []badCase {
	return []badCase{
		inputCase("timeout abc", in("timeout", "abc"), `input timeout: want a positive duration such as 5m or 90s, got "abc"`),
		inputCase("timeout -1s", in("timeout", "-1s"), `input timeout: want a positive duration such as 5m or 90s, got "-1s"`),
		inputCase("timeout 0", in("timeout", "0"), `input timeout: want a positive duration`),
		inputCase("timeout without unit", in("timeout", "300"), `input timeout: want a positive duration such as 5m or 90s, got "300"`),
		inputCase("version v1", in("version", "v1"), `input version: want a version number, latest or @alias, got "v1"`),
		inputCase("version 0", in("version", "0"), `input version: version numbers start at 1, got "0"`),
		inputCase("version -3", in("version", "-3"), `input version: want a version number, latest or @alias, got "-3"`),
		inputCase("version @", in("version", "@"), `input version: alias must not be empty`),
		inputCase("version 1.5", in("version", "1.5"), `input version: want a version number, latest or @alias, got "1.5"`),
		inputCase("target-stage Prod", in("target-alias", "", "target-stage", "Prod"), `input target-stage: "Prod" is not one of Staging, Production, Archived, None`),
		inputCase("alias v3", in("target-alias", "v3"), `input target-alias: alias "v3" is reserved by MLflow for version references`),
		inputCase("alias latest", in("target-alias", "latest"), `input target-alias: alias "latest" is reserved by MLflow`),
		inputCase("alias with a space", in("target-alias", "my champion"), `input target-alias: alias "my champion" is not a valid MLflow alias: use only letters, digits, "_" and "-"`),
		inputCase("alias with !", in("target-alias", "champion!"), `input target-alias: alias "champion!" is not a valid MLflow alias: use only letters, digits, "_" and "-"`),
		inputCase("alias too long", in("target-alias", strings.Repeat("a", 256)), `input target-alias: alias is longer than 255 characters`),
		inputCase("model name with /", in("model-name", "team/fraud"), `input model-name: model name "team/fraud" may not contain '/' or ':'`),
		inputCase("model name with :", in("model-name", "fraud:v2"), `input model-name: model name "fraud:v2" may not contain '/' or ':'`),
		inputCase("model name empty", in("model-name", ""), `input model-name is needed (or manifest, for a desired-state file)`),
		inputCase("model name blank", in("model-name", " \t "), `input model-name is needed (or manifest`),
		inputCase("no target", in("target-alias", "", "target-stage", ""), `set target-alias or target-stage (or both)`),
		inputCase("pr-comment sometimes", in("pr-comment", "sometimes"), `input pr-comment: want one of auto, always, never, got "sometimes"`),
		inputCase("deployment maybe", in("deployment", "maybe"), `input deployment: want one of auto, never, got "maybe"`),
		inputCase("dry-run maybe", in("dry-run", "maybe"), `input dry-run: want true or false, got "maybe"`),
		inputCase("format yaml", in("command", "history", "format", "yaml"), `input format: want one of text, markdown, json, got "yaml"`),
		inputCase("expected-current-version abc", in("expected-current-version", "abc"), `input expected-current-version: want a version number or none, got "abc"`),
		inputCase("expected-current-version 0", in("expected-current-version", "0"), `input expected-current-version: version numbers start at 1 (none means unheld), got "0"`),
		inputCase("unknown command", in("command", "deploy"), `input command: want validate, promote, register, rollback or history, got "deploy"`),
		inputCase("tags line without =", in("command", "register", "run-id", "0123456789abcdef", "artifact-path", "model", "tags", "team=fraud\nowner"),
			`input tags: line 2: want key=value, got "owner"`),
		inputCase("tracking-uri not http", in("tracking-uri", "ftp://mlflow.example.com"), `input tracking-uri: want an http(s) URL of an MLflow server, got "ftp://mlflow.example.com"`),
		inputCase("slack-token without channel", in("slack-token", "xoxb-not-a-real-token-1234"), `inputs slack-token and slack-channel go together`),
		inputCase("MLFLOW_TRACKING_INSECURE_TLS maybe", in("MLFLOW_TRACKING_INSECURE_TLS", "maybe"), `input MLFLOW_TRACKING_INSECURE_TLS: want true or false, got "maybe"`),
		inputCase("rollback-to x", in("command", "rollback", "rollback-to", "x"), `input rollback-to: want a version number, got "x"`),
		inputCase("rollback-to 0", in("command", "rollback", "rollback-to", "0"), `input rollback-to: want a version number, got "0"`),
		inputCase("manifest with model-name", in("manifest", manifestPath), "input model-name: not used with manifest", "input target-alias: not used with manifest"),
		inputCase("manifest for history", in("manifest", manifestPath, "command", "history", "model-name", "", "target-alias", ""), "input manifest: only validate and promote read a manifest"),
		inputCase("parallelism 0", in("parallelism", "0"), `input parallelism: want a whole number from 1 to 64, got "0"`),
		inputCase("parallelism 65", in("parallelism", "65"), `input parallelism: want a whole number from 1 to 64, got "65"`),
		inputCase("parallelism four", in("parallelism", "four"), `input parallelism: want a whole number from 1 to 64, got "four"`),
		inputCase("expected-plan-digest without manifest", in("expected-plan-digest", "sha256:"+strings.Repeat("a", 64)), "input expected-plan-digest: only with manifest"),
		inputCase("expected-plan-digest not a digest", in("expected-plan-digest", "a8da0252"), "input expected-plan-digest: want sha256:<64 hex digits>"),
		inputCase("register without a source", in("command", "register"), `register needs input run-id (with artifact-path) or input source`),
		inputCase("register with two sources", in("command", "register", "run-id", "0123456789abcdef", "source", "models:/m-0123"),
			`set either input source or inputs run-id and artifact-path, not both`),
		inputCase("register model name with /", in("command", "register", "model-name", "team/fraud", "source", "models:/m-0123"),
			`input model-name: model name "team/fraud" may not contain '/' or ':'`),
		inputCase("history without a target", in("command", "history", "target-alias", ""), `set target-alias or target-stage (or both)`),
		{name: "tracking-uri with a password", inputs: in("tracking-uri", "ftp://ci:Hunter2-not-a-real-pass@mlflow.example.com"), code: 2,
			says:  []string{"invalid input", `input tracking-uri: want an http(s) URL of an MLflow server, got "ftp://***@mlflow.example.com"`},
			hides: []string{"Hunter2-not-a-real-pass"}},
		inputCase("tracking-uri without a scheme", in("tracking-uri", "localhost:5000"),
			`input tracking-uri: "localhost:5000" has no scheme; did you mean http://localhost:5000?`),
		inputCase("tracking-uri sqlite", in("tracking-uri", "sqlite:///mlflow.db"),
			`"sqlite:///mlflow.db" is a store that MLflow's Python client opens directly`, "needs `mlflow server` in front of it",
			"`mlflow server --backend-store-uri sqlite:///mlflow.db`"),
		inputCase("tracking-uri file", in("tracking-uri", "file:///tmp/mlruns"), `"file:///tmp/mlruns" is a store`, "needs `mlflow server` in front of it"),
		inputCase("tracking-uri plain path", in("tracking-uri", "./mlruns"), `"./mlruns" is a store`, "needs `mlflow server` in front of it"),
		{name: "tracking-uri database with a password", inputs: in("tracking-uri", "postgresql+psycopg2://ci:Hunter2-not-a-real-pass@db/mlflow"), code: 2,
			says:  []string{"invalid input", `"postgresql+psycopg2://***@db/mlflow" is a store`, "needs `mlflow server` in front of it"},
			hides: []string{"Hunter2-not-a-real-pass"}},
		// MLflow's client settings, read and bounded as MLflow reads them.
		inputCase("MLFLOW_HTTP_REQUEST_MAX_RETRIES 11", in("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "11"),
			`MLFLOW_HTTP_REQUEST_MAX_RETRIES: want a whole number from 0 to 10 (MLflow's limit), got "11"`),
		inputCase("MLFLOW_HTTP_REQUEST_MAX_RETRIES -1", in("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "-1"),
			`MLFLOW_HTTP_REQUEST_MAX_RETRIES: want a whole number from 0 to 10 (MLflow's limit), got "-1"`),
		inputCase("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR 1.5", in("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1.5"),
			`MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR: want a whole number of seconds from 0 to 120 (MLflow's limit), got "1.5"`),
		inputCase("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR 121", in("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "121"),
			`MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR: want a whole number of seconds from 0 to 120 (MLflow's limit), got "121"`),
		inputCase("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER nan", in("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "nan"),
			`MLFLOW_HTTP_REQUEST_BACKOFF_JITTER: want a number of seconds from 0 to 3600, got "nan"`),
		inputCase("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER negative", in("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "-0.5"),
			`MLFLOW_HTTP_REQUEST_BACKOFF_JITTER: want a number of seconds from 0 to 3600, got "-0.5"`),
		inputCase("MLFLOW_HTTP_REQUEST_TIMEOUT 0", in("MLFLOW_HTTP_REQUEST_TIMEOUT", "0"),
			`MLFLOW_HTTP_REQUEST_TIMEOUT: want a whole number of seconds greater than 0, got "0"`),
		inputCase("MLFLOW_HTTP_REQUEST_TIMEOUT 30s", in("MLFLOW_HTTP_REQUEST_TIMEOUT", "30s"),
			`MLFLOW_HTTP_REQUEST_TIMEOUT: want a whole number of seconds greater than 0, got "30s"`),
		inputCase("every problem at once", in("timeout", "abc", "dry-run", "maybe", "target-alias", "v3"),
			`input dry-run: want true or false, got "maybe"`, `input timeout: want a positive duration`, `input target-alias: alias "v3"`),
	}
}

// snapshot is what a bad input must leave as it was.
type snapshot struct {
	Aliases  map[string]string
	Tags     map[string]string
	Versions map[string]versionState
	Locked   bool
}

type versionState struct {
	Stage  string
	Status string
	Tags   map[string]string
}

func takeSnapshot(ctx context.Context, t *testing.T, f fixtures, model string) snapshot {
	t.Helper()
	aliases, err := f.Aliases(ctx, model)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := f.ModelTags(ctx, model)
	if err != nil {
		t.Fatal(err)
	}
	s := snapshot{Aliases: aliases, Tags: tags, Versions: map[string]versionState{}}
	// Versions are numbered from 1 without gaps: reading up to the first
	// missing one sees a version a bad input would have registered.
	for n := 1; ; n++ {
		v := fmt.Sprint(n)
		mv, err := f.GetVersion(ctx, model, v)
		if err != nil {
			break
		}
		vt, err := f.VersionTags(ctx, model, v)
		if err != nil {
			t.Fatal(err)
		}
		stage, _ := mv["current_stage"].(string)
		status, _ := mv["status"].(string)
		s.Versions[v] = versionState{Stage: stage, Status: status, Tags: vt}
	}
	_, lockErr := f.Aliases(ctx, mlflow.LockName(model))
	s.Locked = lockErr == nil
	return s
}

// runSafe is runAction that turns a panic into a test failure with its stack.
func runSafe(t *testing.T, inputs, files map[string]string) (res result) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return runAction(t, inputs, files)
}

// annotation is the one ::error workflow command of a run, unescaped.
type annotation struct {
	props map[string]string
	msg   string
}

var (
	dataUnescaper = strings.NewReplacer("%25", "%", "%0D", "\r", "%0A", "\n")
	propUnescaper = strings.NewReplacer("%25", "%", "%0D", "\r", "%0A", "\n", "%3A", ":", "%2C", ",")
)

// errorAnnotation returns the run's ::error annotation; a run that writes
// none or more than one fails the test.
func errorAnnotation(t *testing.T, stdout string) annotation {
	t.Helper()
	var found []string
	for _, line := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(line, "::error") {
			found = append(found, line)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d ::error annotations, want 1:\n%s", len(found), stdout)
	}
	cmd, msg, ok := strings.Cut(strings.TrimPrefix(found[0], "::error"), "::")
	if !ok {
		t.Fatalf("malformed annotation %q", found[0])
	}
	a := annotation{props: map[string]string{}, msg: dataUnescaper.Replace(msg)}
	for _, kv := range strings.Split(strings.TrimSpace(cmd), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			a.props[k] = propUnescaper.Replace(v)
		}
	}
	return a
}

// checkAnnotation checks the status and the ::error annotation of a failed run.
func checkAnnotation(t *testing.T, tc badCase, res result) {
	t.Helper()
	if res.code != tc.code {
		t.Fatalf("exit %d, want %d\nstdout:\n%.4000s\nstderr:\n%.2000s", res.code, tc.code, res.stdout, res.stderr)
	}
	a := errorAnnotation(t, res.stdout)
	for _, s := range tc.says {
		if !strings.Contains(a.msg, s) {
			t.Errorf("the error does not say %q:\n%.3000s", s, a.msg)
		}
	}
	// The annotation names the path as given: the path in the repository,
	// which GitHub links to the file.
	wantFile := tc.file
	if a.props["file"] != wantFile {
		t.Errorf("annotation file = %q, want %q (%v)", a.props["file"], wantFile, a.props)
	}
	wantLine := ""
	if tc.line > 0 {
		wantLine = fmt.Sprint(tc.line)
	}
	if a.props["line"] != wantLine {
		t.Errorf("annotation line = %q, want %q: %.500s", a.props["line"], wantLine, a.msg)
	}
	if tc.line > 0 && !strings.Contains(a.msg, fmt.Sprintf("%s:%d:", wantFile, tc.line)) {
		t.Errorf("the message does not point at %s:%d: %.500s", wantFile, tc.line, a.msg)
	}
	if len(res.stdout) > 256<<10 {
		t.Errorf("the log is %d bytes: a bad input must not flood it", len(res.stdout))
	}
	for _, h := range tc.hides {
		if all := res.stdout + res.stderr + res.summary + fmt.Sprint(res.outputs); strings.Contains(all, h) {
			t.Errorf("%q was shown:\n%.3000s", h, all)
		}
	}
	if res.outputs["changed"] == "true" {
		t.Errorf("outputs say changed: %v", res.outputs)
	}
}

// TestBadInput runs the policy and input cases against one model on the real
// MLflow server: v1 holds @champion and v2 passes the policy, so a bad input
// taken for a good one would promote v2.
func TestBadInput(t *testing.T) {
	t.Parallel()
	model, f := newModel(t, auc(0.91), auc(0.95))
	if err := f.SetAlias(t.Context(), model, "champion", "1"); err != nil {
		t.Fatal(err)
	}
	before := takeSnapshot(t.Context(), t, f, model)
	if before.Aliases["champion"] != "1" || len(before.Versions) != 2 || before.Locked {
		t.Fatalf("setup: %+v", before)
	}
	// A case ran in parallel with the others cannot tell which one changed
	// the registry: each compares its own before and after, and the test
	// compares the first and the last.
	t.Cleanup(func() {
		// t.Context() is done when cleanups run.
		if diff := cmp.Diff(before, takeSnapshot(context.Background(), t, f, model)); diff != "" {
			t.Errorf("the corpus changed the registry (-before +after):\n%s", diff)
		}
	})
	for _, group := range []struct {
		name  string
		cases []badCase
	}{{"policy", policyCases()}, {"input", inputCases()}, {"manifest", manifestCases(model)}} {
		t.Run(group.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range group.cases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					inputs := merge(promoteInputs(model), tc.inputs)
					files := tc.files
					if files == nil {
						files = policyFiles()
					}
					pre := takeSnapshot(t.Context(), t, f, model)
					res := runSafe(t, inputs, files)
					checkAnnotation(t, tc, res)
					if diff := cmp.Diff(pre, takeSnapshot(t.Context(), t, f, model)); diff != "" {
						t.Errorf("the registry changed (-before +after):\n%s", diff)
					}
				})
			}
		})
	}
}

// manifestCases are bad desired-state files (status 2, the annotation at
// the file and line of the first problem): the parser's corpus under
// testdata/manifests/bad, and files that name the model under test, so
// that a bad file taken for a good one would promote it. The inputs of a
// single promotion are cleared: a manifest replaces them.
func manifestCases(model string) []badCase {
	files := []struct {
		name string
		line int
	}{
		{"alias-characters.yml", 8},
		{"alias-latest.yml", 6},
		{"alias-not-string.yml", 6},
		{"alias-outside-aliases.yml", 6},
		{"alias-version-reference.yml", 6},
		{"aliases-empty.yml", 5},
		{"aliases-sequence.yml", 5},
		{"duplicate-alias.yml", 8},
		{"duplicate-model.yml", 5},
		{"duplicate-stage.yml", 7},
		{"empty.yml", 1},
		{"kind-invalid.yml", 5},
		{"kind-not-string.yml", 5},
		{"many-problems.yml", 10},
		{"merge-key.yml", 5},
		{"missing-version.yml", 2},
		{"model-at-root.yml", 3},
		{"model-name-invalid.yml", 6},
		{"model-no-targets.yml", 4},
		{"model-not-mapping.yml", 4},
		{"model-null.yml", 4},
		{"models-empty.yml", 3},
		{"models-null.yml", 3},
		{"models-sequence.yml", 4},
		{"not-a-mapping.yml", 2},
		{"prompt-name.yml", 4},
		{"prompt-stages.yml", 7},
		{"stage-invalid.yml", 6},
		{"two-documents.yml", 5},
		{"unknown-model-key.yml", 5},
		{"unknown-root-key.yml", 3},
		{"unsupported-version.yml", 2},
		{"version-float.yml", 6},
		{"version-in-two-stages.yml", 7},
		{"version-leading-zero.yml", 6},
		{"version-missing.yml", 6},
		{"version-not-decimal.yml", 8},
		{"version-not-positive.yml", 7},
		{"version-quoted.yml", 6},
		{"version-string.yml", 2},
		{"version-too-large.yml", 7},
		{"version-wrong-type.yml", 8},
		{"yaml-alias.yml", 7},
		{"yaml-syntax.yml", 5},
	}
	clear := in("manifest", manifestPath, "model-name", "", "target-alias", "")
	var out []badCase
	for _, f := range files {
		src, err := os.ReadFile(filepath.Join("..", "..", "testdata", "manifests", "bad", f.name))
		if err != nil {
			panic(err) // the corpus is part of the repository
		}
		out = append(out, badCase{name: f.name, inputs: clear, files: map[string]string{policyPath: policyFiles()[policyPath], manifestPath: string(src)},
			code: 2, file: manifestPath, line: f.line, says: []string{manifestPath + ":" + fmt.Sprint(f.line) + ":"}})
	}
	named := func(name, src string, line int, says string) badCase {
		return badCase{name: name, inputs: clear, files: map[string]string{policyPath: policyFiles()[policyPath], manifestPath: src},
			code: 2, file: manifestPath, line: line, says: []string{says}}
	}
	head := "version: 1\nmodels:\n  " + model + ":\n"
	return append(out,
		named("the model, a misspelt key", head+"    aliases: {champion: 2}\n    stagse: {Production: 2}\n", 5, `unknown key "stagse"`),
		named("the model, a quoted version", head+"    aliases:\n      champion: \"2\"\n", 5, `got the string "2"`),
		named("the model, twice", head+"    aliases: {champion: 2}\n  "+model+":\n    aliases: {champion: 2}\n", 5, "duplicate model"),
		named("the model, version 2.0", head+"    aliases: {champion: 2.0}\n", 4, "version must be a positive integer"),
		badCase{name: "missing file", inputs: clear, code: 2, says: []string{`failed to read manifest ".github/mlreg-models.yml"`}},
	)
}

// eventCase is a bad GITHUB_EVENT_PATH.
type eventCase struct {
	name   string
	event  string // GITHUB_EVENT_NAME
	write  func(t *testing.T, p string)
	warns  string // in the ::warning line
	notify string // in the notify-errors output; "" = empty
}

func writeEvent(content string) func(t *testing.T, p string) {
	return func(t *testing.T, p string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func eventCases() []eventCase {
	const parse = "pr-comment: failed to parse the event payload: "
	parseCase := func(name, payload, why string) eventCase {
		return eventCase{name: name, event: "pull_request", write: writeEvent(payload),
			warns: "notification failed: " + parse + why, notify: parse + why}
	}
	return []eventCase{
		parseCase("invalid JSON", `{"number": 7, "pull_request": {`, "unexpected end of JSON input"),
		parseCase("pull_request is a string", `{"number": 7, "pull_request": "x"}`, "pull_request is a JSON string, want an object"),
		parseCase("number is a string", `{"pull_request": {"number": "7"}}`, "pull_request.number is a JSON string, want a number"),
		parseCase("payload is an array", `[1, 2, 3]`, "the payload is a JSON array, want an object"),
		{name: "huge payload", event: "pull_request", write: func(t *testing.T, p string) {
			t.Helper()
			var b bytes.Buffer
			b.WriteString(`{"pull_request": {"number": 7, "body": "`)
			b.WriteString(strings.Repeat("x", 30<<20))
			b.WriteString(`"`) // never closed
			writeEvent(b.String())(t, p)
		}, warns: "notification failed: " + parse + "unexpected end of JSON input", notify: parse + "unexpected end of JSON input"},
		{name: "missing file", event: "pull_request", write: func(*testing.T, string) {},
			warns: "failed to read the event payload: open "},
		{name: "a directory", event: "pull_request", write: func(t *testing.T, p string) {
			t.Helper()
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}, warns: "failed to read the event payload: read "},
	}
}

// A bad event payload only costs the pull request comment: the promotion
// goes through, and a warning says why no comment was written. A payload
// that cannot be read is a warning of its own (the comment then looks for
// the pull requests that hold the commit); one that cannot be parsed is a
// failed notification, listed in notify-errors (with fail-on-notify-error it
// is status 5, as for any failed notification).
func TestBadInputEventPayload(t *testing.T) {
	t.Parallel()
	for _, tc := range eventCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			model, f := newModel(t, auc(0.91), auc(0.95))
			if err := f.SetAlias(t.Context(), model, "champion", "1"); err != nil {
				t.Fatal(err)
			}
			gh := githubfake.New(t, githubfake.Options{})
			p := filepath.Join(t.TempDir(), "event.json")
			tc.write(t, p)
			inputs := merge(promoteInputs(model), map[string]string{
				"GITHUB_API_URL": gh.URL(), "GITHUB_EVENT_NAME": tc.event, "GITHUB_EVENT_PATH": p,
				"github-token": gh.Token(), "deployment": "never",
			})
			res := runSafe(t, inputs, policyFiles())
			if res.code != 0 || res.outputs["changed"] != "true" {
				t.Fatalf("exit %d, outputs %v: a bad event payload must not fail the promotion\n%.4000s", res.code, res.outputs, res.stdout)
			}
			if got := aliasOf(t, f, model, "champion"); got != "2" {
				t.Errorf("@champion = %q, want 2", got)
			}
			var warnings []string
			for _, line := range strings.Split(res.stdout, "\n") {
				if strings.HasPrefix(line, "::warning") && strings.Contains(line, tc.warns) {
					warnings = append(warnings, line)
				}
			}
			if len(warnings) == 0 {
				t.Errorf("no warning saying %q:\n%.4000s", tc.warns, res.stdout)
			}
			t.Logf("%s", strings.Join(warnings, "\n"))
			if got := res.outputs["notify-errors"]; (tc.notify == "") != (got == "") || !strings.Contains(got, tc.notify) {
				t.Errorf("notify-errors = %q, want %q", got, tc.notify)
			}
			for _, w := range warnings {
				if len(w) > 2000 {
					t.Errorf("the warning is %d bytes: it must not echo the payload", len(w))
				}
			}
			if strings.Contains(res.stdout, "::error") {
				t.Errorf("an error annotation for a bad payload:\n%.4000s", res.stdout)
			}
			if res.outputs["comment-id"] != "" || len(gh.Comments(7)) != 0 {
				t.Errorf("commented from a bad payload: %v", gh.Comments(7))
			}
		})
	}
}

// fakeRegistry stands in for MLflow: v3 of fraud-model, READY, no champion;
// breaks replaces the answer for one path. It records every call that is not
// a read.
type fakeRegistry struct {
	srv    *httptest.Server
	mu     sync.Mutex
	writes []string
}

const fakeModel = "fraud-model"

// registryReads are the calls a plan makes; they change nothing.
var registryReads = []string{
	"GET /api/2.0/mlflow/model-versions/get",
	"GET /api/2.0/mlflow/model-versions/search",
	"GET /api/2.0/mlflow/registered-models/get",
	"GET /api/2.0/mlflow/registered-models/alias",
	"POST /api/2.0/mlflow/registered-models/get-latest-versions",
}

func newFakeRegistry(t *testing.T, path string, breaks http.HandlerFunc) *fakeRegistry {
	t.Helper()
	fr := &fakeRegistry{}
	version := `{"name": "fraud-model", "version": "3", "status": "READY", "current_stage": "None", "source": "s3://models/fraud/3"}`
	fr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call := r.Method + " " + r.URL.Path
		if !slices.Contains(registryReads, call) {
			fr.mu.Lock()
			fr.writes = append(fr.writes, call)
			fr.mu.Unlock()
		}
		if r.URL.Path == path && breaks != nil {
			breaks(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch call {
		case "GET /api/2.0/mlflow/model-versions/get":
			fmt.Fprintf(w, `{"model_version": %s}`, version)
		case "GET /api/2.0/mlflow/model-versions/search":
			fmt.Fprintf(w, `{"model_versions": [%s]}`, version)
		case "GET /api/2.0/mlflow/registered-models/alias":
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error_code": "INVALID_PARAMETER_VALUE", "message": "Registered model alias champion not found."}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error_code": "ENDPOINT_NOT_FOUND", "message": "not served by the fake"}`)
		}
	}))
	t.Cleanup(fr.srv.Close)
	return fr
}

func (fr *fakeRegistry) gotWrites() []string {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	return slices.Clone(fr.writes)
}

// answer writes status and body as JSON.
func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

func versionAnswer(fields string) http.HandlerFunc {
	return answer(http.StatusOK, `{"model_version": {"name": "fraud-model", `+fields+`}}`)
}

type registryCase struct {
	name    string
	version string // the version input; default 3
	path    string // the call whose answer is broken; default model-versions/get
	breaks  http.HandlerFunc
	says    []string
}

const getVersionPath = "/api/2.0/mlflow/model-versions/get"

func registryCases() []registryCase {
	const decodeGet = `failed to get model version "fraud-model" v3: failed to decode response of GET /api/2.0/mlflow/model-versions/get`
	return []registryCase{
		{name: "version is a JSON number", breaks: versionAnswer(`"version": 3, "status": "READY"`),
			says: []string{decodeGet, "cannot unmarshal number into Go struct field"}},
		{name: "model_version is a string", breaks: answer(http.StatusOK, `{"model_version": "fraud-model v3"}`),
			says: []string{decodeGet, "cannot unmarshal string"}},
		{name: "tags is an object", breaks: versionAnswer(`"version": "3", "status": "READY", "tags": {"a": "b"}`),
			says: []string{decodeGet, "cannot unmarshal object"}},
		{name: "truncated JSON", breaks: answer(http.StatusOK, `{"model_version": {"name": "fraud-model", "vers`),
			says: []string{decodeGet, "unexpected end of JSON input"}},
		{name: "trailing garbage", breaks: answer(http.StatusOK, `{"model_version": {"name": "fraud-model", "version": "3"}} and more`),
			says: []string{decodeGet, "invalid character 'a' after top-level value"}},
		{name: "50 MB body", breaks: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"model_version": {"name": "fraud-model", "version": "3", "description": "`)
			chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
			for range 50 << 20 / len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			fmt.Fprint(w, `", "status": "READY"`) // never closed
		}, says: []string{decodeGet, "unexpected end of JSON input"}},
		{name: "body over the limit", breaks: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			chunk := bytes.Repeat([]byte(" "), 1<<16)
			for range 65 << 20 / len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, says: []string{`failed to get model version "fraud-model" v3`, "response body exceeds"}},
		{name: "HTML page with 200", breaks: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form>...</form></body></html>")
		}, says: []string{decodeGet, `body starts "<!DOCTYPE html>`, "invalid character '<'"}},
		{name: "HTML error page", breaks: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, "<html><head><title>403 Forbidden</title></head><body><h1>Forbidden</h1><p>nginx</p></body></html>")
		}, says: []string{"403 PERMISSION_DENIED: 403 Forbidden Forbidden nginx", "EDIT permission"}},
		{name: "200 with empty body", breaks: answer(http.StatusOK, ""),
			says: []string{decodeGet, `body starts ""`, "unexpected end of JSON input"}},
		{name: "empty object", breaks: answer(http.StatusOK, "{}"),
			says: []string{`failed to get model version "fraud-model" v3: response has no "model_version" field`}},
		{name: "invalid UTF-8 string", breaks: versionAnswer("\"version\": \"3\", \"status\": \"READY\", \"description\": \"caf\xe9\""),
			says: []string{decodeGet, "not valid UTF-8"}},
		{name: "version is not a number", breaks: versionAnswer(`"version": "three", "status": "READY"`),
			says: []string{`failed to get model version "fraud-model" v3`, `version "three" is not a version number`}},
		{name: "status not READY", breaks: versionAnswer(`"version": "3", "status": "PENDING_REGISTRATION", "status_message": "uploading"`),
			says: []string{"fraud-model v3 is PENDING_REGISTRATION (uploading); only READY versions can be promoted"}},
		{name: "latest version is not a number", version: "latest", path: "/api/2.0/mlflow/model-versions/search",
			breaks: answer(http.StatusOK, `{"model_versions": [{"name": "fraud-model", "version": "1.5", "status": "READY"}]}`),
			says:   []string{`failed to find latest version of registered model "fraud-model"`, `version "1.5" is not a version number`}},
		{name: "champion is a JSON array", path: "/api/2.0/mlflow/registered-models/alias",
			breaks: answer(http.StatusOK, `[{"model_version": {"version": "2"}}]`),
			says:   []string{`failed to get alias "champion" of registered model "fraud-model"`, "cannot unmarshal array"}},
	}
}

// Registry answers that no MLflow server sends: status 3, a message that
// says which call failed and how, and no write.
func TestBadInputRegistryAnswers(t *testing.T) {
	t.Parallel()
	t.Run("control", func(t *testing.T) {
		t.Parallel()
		fr := newFakeRegistry(t, "", nil)
		res := runSafe(t, map[string]string{"tracking-uri": fr.srv.URL, "model-name": fakeModel, "version": "3",
			"target-alias": "champion", "policy": "none", "command": "validate"}, nil)
		if res.code != 0 || res.outputs["model-version"] != "3" {
			t.Fatalf("the fake does not serve a valid answer: exit %d, outputs %v\n%s", res.code, res.outputs, res.stdout)
		}
	})
	for _, tc := range registryCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := tc.path
			if path == "" {
				path = getVersionPath
			}
			version := tc.version
			if version == "" {
				version = "3"
			}
			fr := newFakeRegistry(t, path, tc.breaks)
			res := runSafe(t, map[string]string{"tracking-uri": fr.srv.URL, "model-name": fakeModel, "version": version,
				"target-alias": "champion", "policy": "none", "timeout": "60s"}, nil)
			checkAnnotation(t, badCase{code: 3, says: append([]string{"registry error", "nothing was changed"}, tc.says...)}, res)
			if w := fr.gotWrites(); len(w) != 0 {
				t.Errorf("the run wrote to the registry: %v", w)
			}
		})
	}
}

// The counts in the comment at the top of this file are the tables' sizes.
func TestBadInputCorpusSize(t *testing.T) {
	t.Parallel()
	counts := map[string]int{
		"policies": len(policyCases()), "input values": len(inputCases()),
		"event payloads": len(eventCases()), "registry answers": len(registryCases()),
		"manifests": len(manifestCases("m")),
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	if total < 60 {
		t.Errorf("the corpus has %d cases, want at least 60", total)
	}
	src, err := os.ReadFile("badinput_test.go")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^//\t(\w+(?: \w+)?) +(\d+)  `).FindAllStringSubmatch(string(src), -1) {
		documented[m[1]], _ = strconv.Atoi(m[2])
	}
	if diff := cmp.Diff(counts, documented); diff != "" {
		t.Errorf("the counts at the top of badinput_test.go are out of date (-tables +comment):\n%s", diff)
	}
	if want := fmt.Sprintf("// The bad-input corpus: %d cases,", total); !strings.Contains(string(src), want) {
		t.Errorf("the comment at the top of badinput_test.go does not say %q", want)
	}
}
