package action_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

// The tests in this file run the commands over the corpus that internal/testing/mlflowtest builds with MLflow's Python
// API (pyfixtures/corpus.py), the way users make their models. After every promotion and rollback the model
// the alias points at is loaded with mlflow.pyfunc.load_model and predicts one row: it must be the version's
// own logged model and predict what the trained model predicted.

func pyCorpus(t *testing.T) *mlflowtest.PyCorpus {
	t.Helper()
	return mlflowtest.Corpus(t.Context(), t, srv)
}

// uniqueAlias returns base-<random>: the corpus is built once per test binary, so each test (and each
// -count repetition) promotes and rolls back its own alias, with its own history.
func uniqueAlias(t *testing.T, base string) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return base + "-" + hex.EncodeToString(b[:])
}

// corpusPolicy writes policy (whose rules apply to ALIAS) for alias.
func corpusPolicy(policy, alias string) map[string]string {
	return map[string]string{".github/mlreg-policy.yml": strings.ReplaceAll(policy, "ALIAS", alias)}
}

// TestCorpusBuilt builds the corpus and checks its description. It is deliberately not parallel: Go runs every
// sequential test before it releases the parallel ones, so the build (a burst of Python CPU and hundreds of
// requests to the shared server) does not overlap the timing-sensitive tests of this package.
func TestCorpusBuilt(t *testing.T) {
	c := pyCorpus(t)
	models := map[string]mlflowtest.PyModel{
		"sklearn": c.Sklearn, "pyfunc": c.PyFunc, "autolog": c.Autolog, "dataset": c.Dataset, "multi": c.Multi,
		"nonfinite": c.NonFinite, "nonfinite-linked": c.NonFiniteLinked,
	}
	f := srv.Fixtures()
	for key, m := range models {
		want := 3
		if key == "nonfinite-linked" {
			want = 1
		}
		if len(m.Versions) != want {
			t.Errorf("%s (%s): %d versions, want %d", key, m.Name, len(m.Versions), want)
		}
		for i, v := range m.Versions {
			mv, err := f.GetVersion(t.Context(), m.Name, v.Version)
			if err != nil {
				t.Fatal(err)
			}
			if v.Version != strconv.Itoa(i+1) || mv["source"] != "models:/"+v.ModelID || mv["run_id"] != v.RunID || v.Prediction == nil {
				t.Errorf("%s v%s: source %v run %v, described as %+v", key, v.Version, mv["source"], mv["run_id"], v)
			}
		}
	}
	if len(c.Prompt.Versions) != 4 {
		t.Errorf("prompt %s: %d versions, want 4", c.Prompt.Name, len(c.Prompt.Versions))
	}
}

// corpusFixture is a corpus model with a realistic policy for @champion.
type corpusFixture struct {
	name   string
	model  func(*mlflowtest.PyCorpus) mlflowtest.PyModel
	policy string
	// vsChampion: the policy compares with the champion, so v1 does not pass against v3.
	vsChampion bool
}

var corpusFixtures = []corpusFixture{
	{
		name:  "sklearn log_model registered_model_name",
		model: func(c *mlflowtest.PyCorpus) mlflowtest.PyModel { return c.Sklearn },
		policy: `version: 1
rules:
  - name: accuracy gate
    applies-to: {alias: ALIAS}
    metrics:
      val_accuracy:
        min: 0.7
        vs-champion: {min-improvement: 0.01}
    tags:
      dataset_version: present
    run: {status: FINISHED}
`,
		vsChampion: true,
	},
	{
		name:  "pyfunc PythonModel",
		model: func(c *mlflowtest.PyCorpus) mlflowtest.PyModel { return c.PyFunc },
		policy: `version: 1
rules:
  - name: scorer gate
    applies-to: {alias: ALIAS}
    metrics:
      val_f1: {min: 0.5}
    run: {status: FINISHED}
`,
	},
	{
		name:  "sklearn autolog",
		model: func(c *mlflowtest.PyCorpus) mlflowtest.PyModel { return c.Autolog },
		policy: `version: 1
rules:
  - name: autologged training quality
    applies-to: {alias: ALIAS}
    metrics:
      training_accuracy_score: {min: 0.85}
      training_f1_score:
        min: 0.85
        vs-champion: {max-regression: 0.0}
`,
		vsChampion: true,
	},
	{
		name:  "metrics on logged model and dataset",
		model: func(c *mlflowtest.PyCorpus) mlflowtest.PyModel { return c.Dataset },
		policy: `version: 1
rules:
  - name: holdout gate
    applies-to: {alias: ALIAS}
    metrics:
      accuracy: {min: 0.75, dataset: holdout}
`,
	},
	{
		name:  "several logged models in one run",
		model: func(c *mlflowtest.PyCorpus) mlflowtest.PyModel { return c.Multi },
		// The run holds one val_accuracy (the last logged); only each logged model's own value separates them.
		policy: `version: 1
rules:
  - name: model selection
    applies-to: {alias: ALIAS}
    metrics:
      val_accuracy:
        min: 0.7
        dataset: validation
        vs-champion: {min-improvement: 0.01}
`,
		vsChampion: true,
	},
	{
		name:  "NaN and infinite metrics the policy does not use",
		model: func(c *mlflowtest.PyCorpus) mlflowtest.PyModel { return c.NonFinite },
		policy: `version: 1
rules:
  - name: accuracy only
    applies-to: {alias: ALIAS}
    metrics:
      val_accuracy: {min: 0.7}
`,
	},
}

// TestCorpusLifecycle runs validate, promote (v1, v2, v3), history, rollback twice and history again over
// every model of the corpus.
func TestCorpusLifecycle(t *testing.T) {
	t.Parallel()
	c := pyCorpus(t)
	for _, fx := range corpusFixtures {
		t.Run(fx.name, func(t *testing.T) {
			t.Parallel()
			m := fx.model(c)
			alias := uniqueAlias(t, "champion")
			files := corpusPolicy(fx.policy, alias)

			res := runAction(t, promoteInputs(m.Name, "target-alias", alias, "command", "validate", "version", "1"), files)
			if res.code != 0 || res.outputs["verdict"] != "pass" || res.outputs["changed"] != "false" {
				t.Fatalf("validate v1: exit %d outputs %v\n%s", res.code, res.outputs, res.stdout)
			}
			for n := 1; n <= 3; n++ {
				v := m.V(t, n)
				res := runAction(t, promoteInputs(m.Name, "target-alias", alias, "version", v.Version), files)
				if res.code != 0 || res.outputs["changed"] != "true" || res.outputs["model-version"] != v.Version {
					t.Fatalf("promote v%s: exit %d outputs %v\n%s", v.Version, res.code, res.outputs, res.stdout)
				}
				if want := "models:/" + m.Name + "@" + alias; res.outputs["alias-uri"] != want {
					t.Errorf("alias-uri = %q, want %q", res.outputs["alias-uri"], want)
				}
				assertServes(t, c, m, alias, v)
			}
			if fx.vsChampion {
				res := runAction(t, promoteInputs(m.Name, "target-alias", alias, "command", "validate", "version", "1"), files)
				if res.code != 1 || res.outputs["verdict"] != "fail" {
					t.Errorf("validate v1 against champion v3: exit %d outputs %v, want 1 and fail\n%s", res.code, res.outputs, res.stdout)
				}
			}
			assertHistory(t, m.Name, alias, [][2]string{{"3", "2"}, {"2", "1"}, {"1", ""}})

			for _, n := range []int{2, 1} {
				v := m.V(t, n)
				res := runAction(t, promoteInputs(m.Name, "target-alias", alias, "command", "rollback"), files)
				if res.code != 0 || res.outputs["model-version"] != v.Version {
					t.Fatalf("rollback to v%s: exit %d outputs %v\n%s", v.Version, res.code, res.outputs, res.stdout)
				}
				assertServes(t, c, m, alias, v)
			}
			assertHistory(t, m.Name, alias, [][2]string{{"1", "2"}, {"2", "3"}, {"3", "2"}, {"2", "1"}, {"1", ""}})
		})
	}
}

// assertServes checks that @alias holds want, and that the model it points at loads with
// mlflow.pyfunc.load_model, is want's logged model, and predicts what the trained model predicted.
func assertServes(t *testing.T, c *mlflowtest.PyCorpus, m mlflowtest.PyModel, alias string, want mlflowtest.PyVersion) {
	t.Helper()
	f := srv.Fixtures()
	if got := aliasOf(t, f, m.Name, alias); got != want.Version {
		t.Fatalf("@%s = %q, want %s", alias, got, want.Version)
	}
	p := c.Predict(t.Context(), t, "models:/"+m.Name+"@"+alias)
	if p.ModelID != want.ModelID {
		t.Errorf("models:/%s@%s loaded logged model %q, want v%s's %q", m.Name, alias, p.ModelID, want.Version, want.ModelID)
	}
	if fmt.Sprint(p.Values[0]) != fmt.Sprint(want.Prediction) {
		t.Errorf("models:/%s@%s predicted %v, want %v (the trained v%s's prediction)", m.Name, alias, p.Values[0], want.Prediction, want.Version)
	}
}

// assertHistory checks the history of @alias, newest first, as (version, previous_version) pairs.
func assertHistory(t *testing.T, model, alias string, want [][2]string) {
	t.Helper()
	res, hs := historyJSON(t, model, "target-alias", alias)
	if res.code != 0 || res.outputs["drift"] != "false" {
		t.Errorf("history: exit %d outputs %v\n%s", res.code, res.outputs, res.stdout)
	}
	if len(hs) == 0 {
		t.Fatalf("history is empty:\n%s", res.stdout)
	}
	var got [][2]string
	for _, e := range hs[0]["entries"].([]any) {
		m := e.(map[string]any)
		got = append(got, [2]string{fmt.Sprint(m["version"]), fmt.Sprint(m["previous_version"])})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history newest first (-want +got):\n%s", diff)
	}
}

// TestCorpusRegister registers each fixture's logged model again, as users name it: runs:/<run>/<name> (which
// MLflow 3 resolves to the run's logged model of that name) or models:/<model_id>; then promotes the new
// version and loads it back.
func TestCorpusRegister(t *testing.T) {
	t.Parallel()
	c := pyCorpus(t)
	type regCase struct {
		name   string
		from   mlflowtest.PyVersion
		inputs func(v mlflowtest.PyVersion) map[string]string
	}
	fromRun := func(v mlflowtest.PyVersion) map[string]string {
		return map[string]string{"run-id": v.RunID, "artifact-path": v.ArtifactPath}
	}
	fromModel := func(v mlflowtest.PyVersion) map[string]string {
		return map[string]string{"source": "models:/" + v.ModelID}
	}
	cases := []regCase{
		{"runs:/ sklearn log_model", c.Sklearn.V(t, 3), fromRun},
		{"runs:/ pyfunc PythonModel", c.PyFunc.V(t, 3), fromRun},
		{"runs:/ autolog", c.Autolog.V(t, 3), fromRun},
		{"runs:/ dataset-linked", c.Dataset.V(t, 2), fromRun},
		{"runs:/ one of several in a run", c.Multi.V(t, 2), fromRun},
		{"runs:/ NaN metrics in the run", c.NonFinite.V(t, 3), fromRun},
		{"models:/ logged model", c.Dataset.V(t, 2), fromModel},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := srv.Fixtures()
			model := mlflowtest.UniqueName(t, "reg")
			in := map[string]string{"command": "register", "model-name": model}
			for k, v := range tc.inputs(tc.from) {
				in[k] = v
			}
			res := runAction(t, in, nil)
			if res.code != 0 || res.outputs["model-version"] != "1" {
				t.Fatalf("register: exit %d outputs %v\n%s", res.code, res.outputs, res.stdout)
			}
			mv, err := f.GetVersion(t.Context(), model, "1")
			if err != nil {
				t.Fatal(err)
			}
			if mv["source"] != "models:/"+tc.from.ModelID || mv["run_id"] != tc.from.RunID || mv["status"] != "READY" {
				t.Errorf("version source %v run %v status %v; want models:/%s, run %s, READY",
					mv["source"], mv["run_id"], mv["status"], tc.from.ModelID, tc.from.RunID)
			}
			res = runAction(t, promoteInputs(model, "policy", "none"), nil)
			if res.code != 0 {
				t.Fatalf("promote the registered version: exit %d\n%s", res.code, res.stdout)
			}
			want := tc.from
			want.Version = "1"
			assertServes(t, c, mlflowtest.PyModel{Name: model}, "champion", want)
		})
	}
}

// lineWith returns the first line of s that contains sub ("" when none does).
func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// TestCorpusNonFiniteMetricUsed: a policy that uses a NaN or infinite metric fails (status 1), shows the value
// as NaN, +Inf or -Inf and changes nothing.
func TestCorpusNonFiniteMetricUsed(t *testing.T) {
	t.Parallel()
	c := pyCorpus(t)
	cases := []struct {
		name, model, metric, rule, want string
	}{
		{"NaN last value on the run", c.NonFinite.Name, "train_loss", "{max: 1.0}", "NaN"},
		{"+inf last value on the run", c.NonFinite.Name, "grad_norm", "{max: 100}", "+Inf"},
		{"-inf last value on the run", c.NonFinite.Name, "min_log_likelihood", "{min: -1000}", "-Inf"},
		{"NaN in the history, aggregate max", c.NonFinite.Name, "train_loss", "{max: 1.0, aggregate: max}", "NaN"},
		{"NaN on the logged model and dataset", c.NonFiniteLinked.Name, "val_loss", "{max: 0.5, dataset: holdout}", "NaN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			policy := fmt.Sprintf("version: 1\nrules:\n  - name: non-finite\n    applies-to: {alias: nan-gate}\n    metrics:\n      %s: %s\n", tc.metric, tc.rule)
			files := map[string]string{".github/mlreg-policy.yml": policy}
			for _, command := range []string{"validate", "promote"} {
				res := runAction(t, map[string]string{"command": command, "model-name": tc.model, "version": "1", "target-alias": "nan-gate"}, files)
				if res.code != 1 || res.outputs["verdict"] != "fail" || res.outputs["changed"] != "false" {
					t.Errorf("%s: exit %d outputs %v, want 1, fail, unchanged\n%s", command, res.code, res.outputs, res.stdout)
				}
				if l := lineWith(res.stdout, "metric "+tc.metric); !strings.Contains(l, ": "+tc.want+" ") {
					t.Errorf("%s: the check of %s does not show %s: %q\n%s", command, tc.metric, tc.want, l, res.stdout)
				}
			}
			if got := aliasOf(t, srv.Fixtures(), tc.model, "nan-gate"); got != "" {
				t.Errorf("@nan-gate = %q, want unset", got)
			}
		})
	}
}

// TestCorpusNaNOnLoggedModelUnused: a NaN metric on the logged model (and in the run) that the policy does not
// use does not stop the promotion.
func TestCorpusNaNOnLoggedModelUnused(t *testing.T) {
	t.Parallel()
	c := pyCorpus(t)
	m := c.NonFiniteLinked
	alias := uniqueAlias(t, "champion")
	policy := "version: 1\nrules:\n  - name: holdout accuracy\n    applies-to: {alias: ALIAS}\n    metrics:\n      val_accuracy: {min: 0.7, dataset: holdout}\n"
	res := runAction(t, promoteInputs(m.Name, "target-alias", alias), corpusPolicy(policy, alias))
	if res.code != 0 || res.outputs["changed"] != "true" {
		t.Fatalf("promote: exit %d outputs %v\n%s", res.code, res.outputs, res.stdout)
	}
	assertServes(t, c, m, alias, m.V(t, 1))
}

// TestCorpusDatasetSelectsTheValue: the same key logged on two datasets; the policy's dataset picks the value.
// v3 of the dataset fixture is an unpruned tree, perfect on train and weaker on holdout.
func TestCorpusDatasetSelectsTheValue(t *testing.T) {
	t.Parallel()
	c := pyCorpus(t)
	v := c.Dataset.V(t, 3)
	train, holdout := v.Metrics["accuracy/train"], v.Metrics["accuracy/holdout"]
	if !(holdout < train) {
		t.Fatalf("corpus: v3 holdout accuracy %v is not below its train accuracy %v", holdout, train)
	}
	bound := strconv.FormatFloat((train+holdout)/2, 'f', 4, 64)
	for _, tc := range []struct {
		dataset string
		code    int
		shown   float64
	}{{"holdout", 1, holdout}, {"train", 0, train}} {
		policy := fmt.Sprintf("version: 1\nrules:\n  - name: gate\n    applies-to: {alias: dataset-gate}\n    metrics:\n      accuracy: {min: %s, dataset: %s}\n", bound, tc.dataset)
		res := runAction(t, map[string]string{"command": "validate", "model-name": c.Dataset.Name, "version": v.Version, "target-alias": "dataset-gate"},
			map[string]string{".github/mlreg-policy.yml": policy})
		if res.code != tc.code {
			t.Errorf("dataset %s, min %s: exit %d, want %d\n%s", tc.dataset, bound, res.code, tc.code, res.stdout)
		}
		if l := lineWith(res.stdout, "metric accuracy"); !strings.Contains(l, tc.dataset) || !strings.Contains(l, ": "+strconv.FormatFloat(tc.shown, 'g', -1, 64)+" ") {
			t.Errorf("dataset %s: the check does not show %v on that dataset: %q\n%s", tc.dataset, tc.shown, l, res.stdout)
		}
	}
}

// TestCorpusPrompts promotes and rolls back prompt versions registered with mlflow.genai.register_prompt, each
// step followed by loading prompts:/<name>@<alias> with mlflow.genai.load_prompt.
func TestCorpusPrompts(t *testing.T) {
	t.Parallel()
	c := pyCorpus(t)
	p := c.Prompt
	alias := uniqueAlias(t, "production")
	files := corpusPolicy(`version: 1
rules:
  - name: reviewed templates
    applies-to: {alias: ALIAS, kind: prompt}
    tags:
      reviewed: "true"
`, alias)
	in := func(extra ...string) map[string]string {
		m := map[string]string{"model-name": p.Name, "target-alias": alias}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	serves := func(t *testing.T, n int) {
		t.Helper()
		v := p.Versions[n-1]
		if got := aliasOf(t, srv.Fixtures(), p.Name, alias); got != v.Version {
			t.Fatalf("@%s = %q, want %s", alias, got, v.Version)
		}
		r := c.RenderPrompt(t.Context(), t, "prompts:/"+p.Name+"@"+alias)
		want := strings.NewReplacer("{{text}}", c.PromptVars["text"], "{{words}}", c.PromptVars["words"]).Replace(v.Template)
		if r.Version != v.Version || r.Text != want {
			t.Errorf("prompts:/%s@%s rendered v%s %q, want v%s %q", p.Name, alias, r.Version, r.Text, v.Version, want)
		}
	}

	res := runAction(t, in("command", "validate", "version", "1"), files)
	if res.code != 0 || res.outputs["verdict"] != "pass" {
		t.Fatalf("validate v1: exit %d outputs %v\n%s", res.code, res.outputs, res.stdout)
	}
	if !strings.Contains(strings.ToLower(res.summary), "prompt") {
		t.Errorf("the report does not say prompt:\n%s", res.summary)
	}
	for n := 1; n <= 3; n++ {
		res := runAction(t, in("version", strconv.Itoa(n)), files)
		if res.code != 0 || res.outputs["changed"] != "true" {
			t.Fatalf("promote v%d: exit %d outputs %v\n%s", n, res.code, res.outputs, res.stdout)
		}
		want := map[string]string{
			"model-uri": fmt.Sprintf("prompts:/%s/%d", p.Name, n),
			"alias-uri": "prompts:/" + p.Name + "@" + alias,
		}
		for k, v := range want {
			if res.outputs[k] != v {
				t.Errorf("promote v%d: output %s = %q, want %q", n, k, res.outputs[k], v)
			}
		}
		serves(t, n)
	}
	// v4 is not reviewed.
	res = runAction(t, in("version", "4"), files)
	if res.code != 1 || res.outputs["changed"] != "false" {
		t.Errorf("promote unreviewed v4: exit %d outputs %v, want 1\n%s", res.code, res.outputs, res.stdout)
	}
	serves(t, 3)
	// A rule without kind: prompt does not apply to a prompt: no rule matches, which fails closed.
	modelRule := corpusPolicy("version: 1\nrules:\n  - name: models\n    applies-to: {alias: ALIAS}\n    tags: {reviewed: \"true\"}\n", alias)
	if res := runAction(t, in("command", "validate", "version", "3"), modelRule); res.code != 2 || !strings.Contains(res.stdout, "no policy rule applies") {
		t.Errorf("validate a prompt under a rule without kind: prompt: exit %d, want 2 (no policy rule applies)\n%s", res.code, res.stdout)
	}

	for _, n := range []int{2, 1} {
		res := runAction(t, in("command", "rollback"), files)
		if res.code != 0 || res.outputs["model-version"] != strconv.Itoa(n) {
			t.Fatalf("rollback to v%d: exit %d outputs %v\n%s", n, res.code, res.outputs, res.stdout)
		}
		serves(t, n)
	}
	res, hs := historyJSON(t, p.Name, "target-alias", alias)
	if res.code != 0 || len(hs) == 0 {
		t.Fatalf("history: exit %d\n%s", res.code, res.stdout)
	}
	var got [][2]string
	for _, e := range hs[0]["entries"].([]any) {
		m := e.(map[string]any)
		got = append(got, [2]string{fmt.Sprint(m["version"]), fmt.Sprint(m["previous_version"])})
	}
	if diff := cmp.Diff([][2]string{{"1", "2"}, {"2", "3"}, {"3", "2"}, {"2", "1"}, {"1", ""}}, got); diff != "" {
		t.Errorf("prompt history newest first (-want +got):\n%s", diff)
	}
}
