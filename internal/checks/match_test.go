package checks

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const matchPolicy = `version: 1
rules:
  - name: fraud champion
    applies-to: {alias: champion, models: ["fraud-*"]}
  - name: any champion
    applies-to: {alias: champion}
  - name: production
    applies-to: {stage: Production, models: [fraud-eu, "credit-?"]}
  - name: challenger
    applies-to: {alias: challenger, models: ["[a-c]*"]}
`

func TestMatch(t *testing.T) {
	t.Parallel()
	pol, err := Parse("policy.yml", []byte(matchPolicy))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		model      string
		target     Target
		want       []string // rule names
		wantErr    string
		wantNoRule bool
	}{
		{name: "glob and catch-all", model: "fraud-us", target: Target{Alias: "champion"}, want: []string{"fraud champion", "any champion"}},
		{name: "catch-all only", model: "churn", target: Target{Alias: "champion"}, want: []string{"any champion"}},
		{name: "alias given with @", model: "churn", target: Target{Alias: "@champion"}, want: []string{"any champion"}},
		{name: "stage", model: "fraud-eu", target: Target{Stage: "Production"}, want: []string{"production"}},
		{name: "stage in any case", model: "fraud-eu", target: Target{Stage: "production"}, want: []string{"production"}},
		{name: "? matches one character", model: "credit-1", target: Target{Stage: "Production"}, want: []string{"production"}},
		{name: "character class", model: "bob", target: Target{Alias: "challenger"}, want: []string{"challenger"}},
		{
			name: "alias and stage get the rules of either, in file order", model: "fraud-eu",
			target: Target{Alias: "champion", Stage: "Production"},
			want:   []string{"fraud champion", "any champion", "production"},
		},
		{
			name: "? does not match two characters", model: "credit-12", target: Target{Stage: "Production"},
			// At the rules key (line 2), where a rule would go.
			wantErr: `policy.yml:2: no policy rule applies to model "credit-12" at stage Production: add a rule whose applies-to matches it (fail closed)`, wantNoRule: true,
		},
		{
			name: "stage without a rule", model: "fraud-eu", target: Target{Stage: "Staging"},
			wantErr: `model "fraud-eu" at stage Staging`, wantNoRule: true,
		},
		{
			name: "alias without a rule", model: "fraud-eu", target: Target{Alias: "shadow"},
			wantErr: `model "fraud-eu" at @shadow`, wantNoRule: true,
		},
		{
			name: "glob excludes model", model: "zed", target: Target{Alias: "challenger"},
			wantErr: `model "zed" at @challenger`, wantNoRule: true,
		},
		{
			name: "alias governed but stage not: fail closed", model: "fraud-us", target: Target{Alias: "champion", Stage: "Production"},
			wantErr: `model "fraud-us" at stage Production`, wantNoRule: true,
		},
		{
			name: "neither governed", model: "zed", target: Target{Alias: "challenger", Stage: "Staging"},
			wantErr: `model "zed" at @challenger and stage Staging`, wantNoRule: true,
		},
		{
			name: "alias match is case-sensitive", model: "churn", target: Target{Alias: "Champion"},
			wantErr: `at @Champion`, wantNoRule: true,
		},
		{
			name: "no target", model: "churn", target: Target{},
			wantErr: "failed to match policy rules: the target has neither an alias nor a stage",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rules, err := pol.Match(tc.model, tc.target)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Match() error = %v, want %q", err, tc.wantErr)
				}
				if got := errors.Is(err, ErrNoRule); got != tc.wantNoRule {
					t.Errorf("errors.Is(err, ErrNoRule) = %v, want %v", got, tc.wantNoRule)
				}
				if rules != nil {
					t.Errorf("Match() rules = %v with error", rules)
				}
				return
			}
			if err != nil {
				t.Fatalf("Match() error: %v", err)
			}
			var got []string
			for _, r := range rules {
				got = append(got, r.Name)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Match() rules (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMatchKind(t *testing.T) {
	t.Parallel()
	pol, err := Parse("policy.yml", []byte(`version: 1
rules:
  - name: any production
    applies-to: {alias: production}
  - name: model production
    applies-to: {alias: production, kind: model}
  - name: prompt production
    applies-to: {alias: production, kind: prompt}
  - name: support prompts
    applies-to: {alias: production, kind: prompt, models: ["support-*"]}
  - name: prompt staging
    applies-to: {stage: Staging, kind: prompt}
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		model   string
		kind    string
		target  Target
		want    []string
		wantErr string
	}{
		{name: "a model gets the rules without kind and kind: model", model: "support-bot", kind: EntityModel,
			target: Target{Alias: "production"}, want: []string{"any production", "model production"}},
		{name: "no kind is a model", model: "support-bot", target: Target{Alias: "production"},
			want: []string{"any production", "model production"}},
		{name: "a prompt gets only kind: prompt rules", model: "support-bot", kind: EntityPrompt,
			target: Target{Alias: "production"}, want: []string{"prompt production", "support prompts"}},
		{name: "globs apply to prompts", model: "sales-bot", kind: EntityPrompt,
			target: Target{Alias: "production"}, want: []string{"prompt production"}},
		{name: "a prompt rule does not govern models", model: "fraud", kind: EntityModel, target: Target{Stage: "Staging"},
			wantErr: `policy.yml:2: no policy rule applies to model "fraud" at stage Staging: add a rule whose applies-to matches it (fail closed)`},
		{name: "a model rule does not govern prompts", model: "support-bot", kind: EntityPrompt, target: Target{Alias: "shadow"},
			wantErr: `policy.yml:2: no policy rule applies to prompt "support-bot" at @shadow: add a rule whose applies-to matches it with kind: prompt (fail closed)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rules, err := pol.MatchKind(tc.model, tc.kind, tc.target)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !errors.Is(err, ErrNoRule) {
					t.Fatalf("MatchKind() error = %v, want %q (ErrNoRule)", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("MatchKind() error: %v", err)
			}
			var got []string
			for _, r := range rules {
				got = append(got, r.Name)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("MatchKind() rules (-want +got):\n%s", diff)
			}
		})
	}
}
