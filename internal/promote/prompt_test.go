package promote

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
)

const promptPolicy = `version: 1
rules:
  - name: models
    applies-to: {alias: production}
    metrics:
      val_auc: {min: 0.9}
  - name: prompts
    applies-to: {alias: production, kind: prompt}
    tags:
      reviewed: "true"
`

// A prompt version is judged by the kind: prompt rules only, on its own tags.
func TestPlanPrompt(t *testing.T) {
	t.Parallel()
	pol, err := checks.Parse("policy.yml", []byte(promptPolicy))
	if err != nil {
		t.Fatal(err)
	}
	prompt := func(v, reviewed string) mlflow.ModelVersion {
		return mlflow.ModelVersion{Version: v, Source: "dummy-source", Tags: []mlflow.Tag{
			{Key: mlflow.PromptTagKey, Value: "true"}, {Key: "mlflow.prompt.text", Value: "Hello {{name}}"}, {Key: "reviewed", Value: reviewed}}}
	}
	reg := newMem("support", prompt("1", "true"), prompt("2", "false"))
	s := &Service{Reg: reg}
	for _, tc := range []struct{ version, verdict string }{{"1", checks.VerdictPass}, {"2", checks.VerdictFail}} {
		plan, err := s.Plan(t.Context(), Request{Model: "support", Version: mustVersion(tc.version), Target: checks.Target{Alias: "production"}, Policy: pol})
		if err != nil {
			t.Fatal(err)
		}
		if !plan.Prompt || plan.Verdict != tc.verdict {
			t.Errorf("v%s: prompt %v verdict %s, want a prompt plan with verdict %s", tc.version, plan.Prompt, plan.Verdict, tc.verdict)
		}
		if diff := cmp.Diff([]string{"prompts"}, plan.Rules); diff != "" {
			t.Errorf("v%s: rules (-want +got):\n%s", tc.version, diff)
		}
	}

	// A model is judged by the model rules, and a policy without a prompt rule fails closed for a prompt.
	model := newMem("fraud", mlflow.ModelVersion{Version: "1"})
	withAUC(model, "1", 0.95)
	plan, err := (&Service{Reg: model}).Plan(t.Context(), Request{Model: "fraud", Version: mustVersion("1"), Target: checks.Target{Alias: "production"}, Policy: pol})
	if err != nil || plan.Prompt || plan.Verdict != checks.VerdictPass || len(plan.Rules) != 1 || plan.Rules[0] != "models" {
		t.Errorf("model plan = %+v, %v; want the models rule passing", plan, err)
	}
	onlyModels, err := checks.Parse("policy.yml", []byte("version: 1\nrules:\n  - name: models\n    applies-to: {alias: production}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Plan(t.Context(), Request{Model: "support", Version: mustVersion("1"), Target: checks.Target{Alias: "production"}, Policy: onlyModels})
	if !errors.Is(err, checks.ErrNoRule) || !errors.Is(err, ErrInvalid) {
		t.Errorf("prompt under a models-only policy: err = %v, want ErrNoRule (invalid)", err)
	}
}
