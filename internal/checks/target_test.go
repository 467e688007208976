package checks

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTarget: every spelling of a target, as reports, tag keys, GitHub
// environments and the report file write it.
func TestTarget(t *testing.T) {
	t.Parallel()
	cases := []struct {
		t                              Target
		label, kind, name, suffix, env string
		split                          []Target
	}{
		{AliasTarget("champion"), "@champion", "alias", "champion", "alias.champion", "fraud@champion", []Target{{Alias: "champion"}}},
		{StageTarget("Production"), "stage Production", "stage", "Production", "stage.Production", "fraud/Production", []Target{{Stage: "Production"}}},
		{Target{Alias: "challenger", Stage: "Staging"}, "@challenger + stage Staging", "alias", "challenger", "alias.challenger", "fraud@challenger",
			[]Target{{Alias: "challenger"}, {Stage: "Staging"}}},
	}
	for _, tc := range cases {
		got := []string{tc.t.Label(), tc.t.Kind(), tc.t.Name(), tc.t.TagSuffix(), tc.t.Environment("fraud")}
		if diff := cmp.Diff([]string{tc.label, tc.kind, tc.name, tc.suffix, tc.env}, got); diff != "" {
			t.Errorf("%+v (-want +got):\n%s", tc.t, diff)
		}
		if diff := cmp.Diff(tc.split, tc.t.Split()); diff != "" {
			t.Errorf("%+v.Split() (-want +got):\n%s", tc.t, diff)
		}
		b, err := json.Marshal(struct{ Target Target }{tc.t})
		if err != nil || string(b) != `{"Target":"`+tc.label+`"}` {
			t.Errorf("json of %+v = %s, %v", tc.t, b, err)
		}
		var back struct{ Target Target }
		if err := json.Unmarshal(b, &back); err != nil || back.Target != tc.t {
			t.Errorf("json round trip of %+v = %+v, %v", tc.t, back.Target, err)
		}
	}
	if !(Target{}).IsZero() || AliasTarget("a").IsZero() {
		t.Error("IsZero is wrong")
	}
	var bad Target
	if err := bad.UnmarshalText([]byte("champion")); err == nil {
		t.Error("UnmarshalText accepted a label without @ or stage")
	}
}
