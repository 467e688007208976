package manifest_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/manifest"
	"github.com/mlreg/mlreg-action/internal/promote"
)

// An entry's target is a promote.TargetPlan's Kind and Name, so reports
// label it with TargetPlan.Label as they label a single promotion's
// targets: "@champion", "stage Production".
func TestEntryTargetLabel(t *testing.T) {
	t.Parallel()
	if manifest.TargetAlias != promote.KindAlias || manifest.TargetStage != promote.KindStage {
		t.Fatalf("target kinds %q, %q differ from promote's %q, %q", manifest.TargetAlias, manifest.TargetStage, promote.KindAlias, promote.KindStage)
	}
	m, err := manifest.Parse("models.yml", []byte("version: 1\nmodels:\n  fraud-model:\n    stages: {production: 15}\n    aliases: {champion: 15}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range m.Entries() {
		got = append(got, promote.TargetPlan{Kind: e.TargetKind, Name: e.Target}.Label())
	}
	if diff := cmp.Diff([]string{"@champion", "stage Production"}, got); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
}
