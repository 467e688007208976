package manifest_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/manifest"
)

// An entry's target is a checks.Target, the type a single promotion's
// targets are, so reports label it as they label a promotion's:
// "@champion", "stage Production".
func TestEntryTargetLabel(t *testing.T) {
	t.Parallel()
	m, err := manifest.Parse("models.yml", []byte("version: 1\nmodels:\n  fraud-model:\n    stages: {production: 15}\n    aliases: {champion: 15}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range m.Entries() {
		got = append(got, e.Target.Label()+" "+e.Target.TagSuffix())
	}
	if diff := cmp.Diff([]string{"@champion alias.champion", "stage Production stage.Production"}, got); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
}
