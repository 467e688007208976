package outcome_test

import (
	"encoding/json"
	"testing"

	"github.com/mlreg/mlreg-action/internal/outcome"
)

// TestOutcomeSpellings: the codes are the spellings of the changes
// output and marshal as such; every outcome has a label of its own.
func TestOutcomeSpellings(t *testing.T) {
	t.Parallel()
	// README, "Outputs": the changes output's outcome is would-change, blocked, promoted, failed or conflict.
	for o, code := range map[outcome.Outcome]string{outcome.WouldChange: "would-change", outcome.Blocked: "blocked",
		outcome.Promoted: "promoted", outcome.Failed: "failed", outcome.Conflict: "conflict"} {
		b, err := json.Marshal(o)
		if err != nil || string(b) != `"`+code+`"` {
			t.Errorf("%s marshals as %s (%v), want %q", o.Label(), b, err, code)
		}
	}
	all := []outcome.Outcome{outcome.Promoted, outcome.RolledBack, outcome.WouldChange, outcome.InPlace, outcome.Blocked,
		outcome.Conflict, outcome.Failed, outcome.Registered, outcome.Reused, outcome.Recorded, outcome.Drift}
	seen := map[string]outcome.Outcome{}
	for _, o := range all {
		l := o.Label()
		if prev, dup := seen[l]; dup || l == "" {
			t.Errorf("%q and %q share the label %q", prev, o, l)
		}
		seen[l] = o
	}
	if got := outcome.Outcome("").Label(); got != "" {
		t.Errorf("the zero Outcome's label is %q, want none", got)
	}
}
