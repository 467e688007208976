package action_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

// promptPolicy governs models and prompts at @production with different rules.
const promptPolicy = `version: 1
rules:
  - name: models to production
    applies-to:
      alias: production
    metrics:
      val_auc: {min: 0.9}
  - name: prompts to production
    applies-to:
      alias: production
      kind: prompt
    tags:
      reviewed: "true"
`

// registerPromptScript registers three versions of a prompt with MLflow's own
// Prompt Registry API; only v2 is not reviewed.
const registerPromptScript = `
import mlflow
for i, reviewed in enumerate(["true", "false", "true"], start=1):
    mlflow.genai.register_prompt(name=%q, template="Answer {{question}} (v%%d)" %% i, tags={"reviewed": reviewed})
print("ok")
`

// loadPromptScript loads a prompt by URI with MLflow's own API.
const loadPromptScript = `
import json, mlflow
p = mlflow.genai.load_prompt(%q)
print(json.dumps({"name": p.name, "version": str(p.version), "template": p.template}))
`

// TestPromptPromotion promotes a prompt of MLflow 3's Prompt Registry under a
// kind: prompt rule that checks a tag of the prompt version.
func TestPromptPromotion(t *testing.T) {
	t.Parallel()
	s := mlflowtest.RequireServer(t, srv)
	f := s.Fixtures()
	prompt := mlflowtest.UniqueName(t, "support")
	mlflowtest.RunPython(t.Context(), t, fmt.Sprintf(registerPromptScript, prompt), "MLFLOW_TRACKING_URI="+s.URL)
	files := map[string]string{".github/mlreg-policy.yml": promptPolicy}
	in := func(extra ...string) map[string]string {
		m := map[string]string{"model-name": prompt, "target-alias": "production"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}

	// v2 is not reviewed: blocked by the prompt rule, not judged by the model rule's metrics.
	res := runAction(t, in("command", "validate", "version", "2"), files)
	if res.code != 1 {
		t.Fatalf("validate v2: exit %d, want 1\n%s", res.code, res.stdout)
	}
	for _, want := range []string{"❌ prompt " + prompt + " v2 does not meet the policy for &#64;production", "prompts to production", "reviewed (tag)"} {
		if !strings.Contains(res.summary, want) {
			t.Errorf("validate v2: the summary does not say %q:\n%s", want, res.summary)
		}
	}
	if strings.Contains(res.summary, "val_auc") || strings.Contains(res.summary, "models to production") {
		t.Errorf("validate v2: a model rule was applied to the prompt:\n%s", res.summary)
	}

	// latest is v3 (MLflow's version search leaves prompts out unless asked): it passes and moves @production.
	res = runAction(t, in(), files)
	if res.code != 0 {
		t.Fatalf("promote: exit %d\n%s", res.code, res.stdout)
	}
	wantOut := map[string]string{
		"verdict": "pass", "model-version": "3", "changed": "true",
		"model-uri": "prompts:/" + prompt + "/3", "alias-uri": "prompts:/" + prompt + "@production",
	}
	for k, v := range wantOut {
		if res.outputs[k] != v {
			t.Errorf("output %s = %q, want %q", k, res.outputs[k], v)
		}
	}
	for _, want := range []string{
		"### ✅ prompt " + prompt + " v3 promoted to &#64;production",
		"[MLflow prompt v3](" + s.URL + "/#/prompts/" + prompt + "?promptVersion=3)",
	} {
		if !strings.Contains(res.summary, want) {
			t.Errorf("promote: the summary does not say %q:\n%s", want, res.summary)
		}
	}
	if !strings.Contains(res.stdout, "candidate: prompt "+prompt+" v3 (READY)") {
		t.Errorf("promote: the log does not name the prompt:\n%s", res.stdout)
	}
	if got := aliasOf(t, f, prompt, "production"); got != "3" {
		t.Errorf("@production = %q, want 3", got)
	}
	tags, err := f.VersionTags(t.Context(), prompt, "3")
	if err != nil {
		t.Fatal(err)
	}
	if tags["mlreg.promotion.alias.production"] == "" || tags["mlflow.prompt.text"] != "Answer {{question}} (v3)" {
		t.Errorf("v3 tags = %v, want the audit record next to the template", tags)
	}

	// MLflow's own API loads the prompt by the alias-uri output.
	out := mlflowtest.RunPython(t.Context(), t, fmt.Sprintf(loadPromptScript, res.outputs["alias-uri"]), "MLFLOW_TRACKING_URI="+s.URL)
	var loaded map[string]string
	if err := json.Unmarshal([]byte(lastLine(out)), &loaded); err != nil {
		t.Fatalf("load output %q: %v", out, err)
	}
	if loaded["version"] != "3" || loaded["template"] != "Answer {{question}} (v3)" {
		t.Errorf("load_prompt(%s) = %v, want v3", res.outputs["alias-uri"], loaded)
	}

	// A policy with no kind: prompt rule does not govern the prompt: fail closed.
	models := "version: 1\nrules:\n  - name: models to production\n    applies-to: {alias: production}\n"
	res = runAction(t, in("command", "validate", "version", "1"), map[string]string{".github/mlreg-policy.yml": models})
	if want := `no policy rule applies to prompt "` + prompt + `" at @production`; res.code != 2 || !strings.Contains(res.stdout, want) {
		t.Errorf("models-only policy: exit %d (want 2), output lacks %q:\n%s", res.code, want, res.stdout)
	}
}

// A metric rule for prompts is a policy error at its line: MLflow links no
// evaluation metrics to a prompt version.
func TestPromptMetricRuleIsAPolicyError(t *testing.T) {
	t.Parallel()
	policy := `version: 1
rules:
  - name: prompts to production
    applies-to:
      alias: production
      kind: prompt
    metrics:
      answer_relevance: {min: 0.8}
`
	res := runAction(t, map[string]string{"command": "validate", "model-name": "support", "target-alias": "production",
		"tracking-uri": "http://127.0.0.1:9"}, map[string]string{".github/mlreg-policy.yml": policy})
	if res.code != 2 {
		t.Fatalf("exit %d, want 2\n%s", res.code, res.stdout)
	}
	a := errorAnnotation(t, res.stdout)
	if a.props["file"] != ".github/mlreg-policy.yml" || a.props["line"] != "7" ||
		!strings.Contains(a.msg, ".github/mlreg-policy.yml:7:5: metrics cannot be checked in a rule for prompts (applies-to kind: prompt)") {
		t.Errorf("annotation = %+v", a)
	}
}
