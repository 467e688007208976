package promote

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
)

func TestHistoryFlagsDrift(t *testing.T) {
	t.Parallel()
	prod := checks.StageTarget(mlflow.StageProduction)
	promoted := func(t *testing.T, reg *memRegistry, target checks.Target) {
		t.Helper()
		req := promoteTo("2")
		req.Target = target
		if _, _, err := planApply(t, &Service{Reg: reg, Now: clock(t0)}, req); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name     string
		target   checks.Target
		setup    func(t *testing.T, reg *memRegistry)
		current  string
		recorded string
		entries  int
		drift    string // DriftMessage; "" = no drift
	}{
		{
			name:   "never promoted, unheld",
			target: champ,
			setup:  func(_ *testing.T, reg *memRegistry) { reg.unsetAlias("champion") },
		},
		{
			name:    "held, never recorded",
			target:  champ,
			setup:   func(*testing.T, *memRegistry) {},
			current: "1",
			drift:   `@champion of "m" is held by v1, but the last recorded promotion put none there: it was moved outside mlreg-action`,
		},
		{
			name:     "promoted by mlreg-action",
			target:   champ,
			setup:    func(t *testing.T, reg *memRegistry) { promoted(t, reg, checks.Target{Alias: "champion"}) },
			current:  "2",
			recorded: "2",
			entries:  1,
		},
		{
			name:   "moved outside after a promotion",
			target: champ,
			setup: func(t *testing.T, reg *memRegistry) {
				promoted(t, reg, checks.Target{Alias: "champion"})
				reg.setAlias("champion", "3")
			},
			current:  "3",
			recorded: "2",
			entries:  1,
			drift:    `@champion of "m" is held by v3, but the last recorded promotion put v2 there: it was moved outside mlreg-action`,
		},
		{
			name:   "alias deleted outside",
			target: champ,
			setup: func(t *testing.T, reg *memRegistry) {
				promoted(t, reg, checks.Target{Alias: "champion"})
				reg.unsetAlias("champion")
			},
			recorded: "2",
			entries:  1,
			drift:    `@champion of "m" is held by none, but the last recorded promotion put v2 there: it was moved outside mlreg-action`,
		},
		{
			name:     "stage promoted by mlreg-action",
			target:   prod,
			setup:    func(t *testing.T, reg *memRegistry) { promoted(t, reg, checks.Target{Stage: "Production"}) },
			current:  "2",
			recorded: "2",
			entries:  1,
		},
		{
			name:   "stage moved outside",
			target: prod,
			setup: func(t *testing.T, reg *memRegistry) {
				promoted(t, reg, checks.Target{Stage: "Production"})
				reg.setStage("3", mlflow.StageProduction)
			},
			current:  "3",
			recorded: "2",
			entries:  1,
			drift:    `stage Production of "m" is held by v3, but the last recorded promotion put v2 there: it was moved outside mlreg-action`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := threeVersions()
			tc.setup(t, reg)
			h, err := (&Service{Reg: reg}).History(t.Context(), "m", tc.target)
			if err != nil {
				t.Fatal(err)
			}
			if h.Entries == nil {
				t.Error("Entries is nil; an empty history must render as [] in JSON")
			}
			if h.Current != tc.current || h.Recorded != tc.recorded || len(h.Entries) != tc.entries || h.Drift != (tc.drift != "") {
				t.Errorf("History = current %q recorded %q entries %d drift %t; want %q %q %d %t",
					h.Current, h.Recorded, len(h.Entries), h.Drift, tc.current, tc.recorded, tc.entries, tc.drift != "")
			}
			if got := h.DriftMessage("m"); got != tc.drift {
				t.Errorf("DriftMessage = %q\nwant %q", got, tc.drift)
			}
		})
	}
}

func TestHistoryErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		target checks.Target
		setup  func(reg *memRegistry)
		want   string
	}{
		{"registry unreachable", champ, func(reg *memRegistry) { reg.fail("GetRegisteredModel", "", 0, errUnavailable) },
			`failed to get registered model "m": `},
		{"corrupted history tag", champ, func(reg *memRegistry) { reg.SetModelTagDirect(reg.model, HistoryTagKey(champ), "[{") },
			`failed to read mlreg.history.alias.champion of "m": failed to parse history tag: `},
		{"stage unreadable", checks.StageTarget("Staging"), func(reg *memRegistry) { reg.fail("GetLatestVersions", "", 0, errUnavailable) },
			`failed to read stage Staging of "m": `},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := threeVersions()
			tc.setup(reg)
			if _, err := (&Service{Reg: reg}).History(t.Context(), "m", tc.target); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q...", err, tc.want)
			}
		})
	}
}

// rollback runs the rollback command as internal/action does: read the
// history, pick the version (or take rollbackTo), then plan and apply with
// the current holder as compare-and-set guard.
func rollback(t *testing.T, s *Service, rollbackTo string, policy *checks.Policy) (*Plan, error) {
	t.Helper()
	h, err := s.History(t.Context(), "m", champ)
	if err != nil {
		return nil, err
	}
	version := rollbackTo
	if version == "" {
		if version, err = RollbackTarget(h.Entries); err != nil {
			return nil, err
		}
	}
	req := promoteTo(version)
	req.Action, req.Expected, req.Policy = ActionRollback, Expect(h.Current), policy
	plan, err := s.Plan(t.Context(), req)
	if err != nil {
		return nil, err
	}
	_, err = s.Apply(t.Context(), plan)
	return plan, err
}

// promoteSequence promotes v1, v2, v3 to @champion, an hour apart.
func promoteSequence(t *testing.T) (*memRegistry, func() *Service) {
	t.Helper()
	reg := threeVersions()
	reg.unsetAlias("champion")
	at := t0
	next := func() *Service {
		at = at.Add(time.Hour)
		return &Service{Reg: reg, Now: clock(at)}
	}
	for _, v := range []string{"1", "2", "3"} {
		if _, _, err := planApply(t, next(), promoteTo(v)); err != nil {
			t.Fatal(err)
		}
	}
	return reg, next
}

func TestRollbackTwiceInARowGoesTwoStepsBack(t *testing.T) {
	t.Parallel()
	reg, next := promoteSequence(t)

	for _, want := range []struct{ holder, prev string }{{"2", "3"}, {"1", "2"}} {
		if _, err := rollback(t, next(), "", nil); err != nil {
			t.Fatalf("rollback to v%s: %v", want.holder, err)
		}
		if got := reg.alias("champion"); got != want.holder {
			t.Fatalf("after rollback @champion = v%s, want v%s", got, want.holder)
		}
		h := reg.history(t, champ)
		if h[0].Version != want.holder || h[0].PreviousVersion != want.prev || h[0].Action != ActionRollback {
			t.Errorf("newest entry %+v, want a rollback v%s → v%s", h[0], want.prev, want.holder)
		}
		// The version rolled away from is marked as replaced, as on a promotion.
		if mark := reg.versionTag(want.prev, "mlreg.replaced.alias.champion"); !strings.Contains(mark, `"by_version":"`+want.holder+`"`) {
			t.Errorf("v%s's replaced mark = %s, want by_version %s", want.prev, mark, want.holder)
		}
	}
	if n := len(reg.history(t, champ)); n != 5 {
		t.Errorf("history holds %d entries, want 5 (three promotions, two rollbacks)", n)
	}
	_, err := rollback(t, next(), "", nil)
	if !errors.Is(err, ErrNoRollbackTarget) || !strings.Contains(err.Error(), "the history has no version before v1") {
		t.Errorf("third rollback: err = %v, want ErrNoRollbackTarget before v1", err)
	}
	if reg.alias("champion") != "1" {
		t.Errorf("a refused rollback moved @champion to v%s", reg.alias("champion"))
	}
}

func TestRollbackToIsAStepOfItsOwn(t *testing.T) {
	t.Parallel()
	reg, next := promoteSequence(t)
	if _, err := rollback(t, next(), "1", nil); err != nil {
		t.Fatal(err)
	}
	if reg.alias("champion") != "1" {
		t.Fatalf("@champion = v%s after rollback-to 1", reg.alias("champion"))
	}
	// Undoing the explicit rollback returns to the version it replaced.
	if _, err := rollback(t, next(), "", nil); err != nil {
		t.Fatal(err)
	}
	if reg.alias("champion") != "3" {
		t.Errorf("@champion = v%s after rolling back a rollback-to, want v3", reg.alias("champion"))
	}
}

func TestRollbackRefusedWhenTheTargetMoved(t *testing.T) {
	t.Parallel()
	reg, next := promoteSequence(t)
	s := next()
	h, err := s.History(t.Context(), "m", champ)
	if err != nil {
		t.Fatal(err)
	}
	v, err := RollbackTarget(h.Entries)
	if err != nil || v != "2" {
		t.Fatalf("RollbackTarget = %q, %v; want 2", v, err)
	}
	req := promoteTo(v)
	req.Action = ActionRollback
	if h.Current != "" {
		req.Expected = Expect(h.Current)
	}
	plan, err := s.Plan(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	reg.setAlias("champion", "1") // moved between history and apply
	if _, err := s.Apply(t.Context(), plan); !errors.Is(err, ErrConflict) {
		t.Errorf("err = %v, want ErrConflict", err)
	}
	if reg.alias("champion") != "1" {
		t.Errorf("@champion = v%s, want v1 untouched", reg.alias("champion"))
	}
}

// TestRollbackSkipsChampionComparisons: a rollback goes back to a version
// that compares worse with the one it replaces, and whose run is older; the
// policy's other checks still apply.
func TestRollbackSkipsChampionComparisons(t *testing.T) {
	t.Parallel()
	const policy = `version: 1
rules:
  - name: gate
    applies-to: {alias: champion}
    metrics:
      val_auc: {min: 0.9, vs-champion: {min-improvement: 0.01}}
    run: {max-age: 1h}
`
	pol, err := checks.Parse("p.yml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	reg := threeVersions()
	withAUC(reg, "1", 0.91)
	withAUC(reg, "3", 0.95)
	reg.setAlias("champion", "3")
	reg.SetModelTagDirect(reg.model, HistoryTagKey(champ), mlflow.Rules{}.EncodeHistory([]Record{{Version: "3", PreviousVersion: "1", Action: ActionPromote, At: t0.Format(time.RFC3339)}}))
	s := &Service{Reg: reg, Now: clock(t0.Add(24 * time.Hour))}
	plan, err := rollback(t, s, "", pol)
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	got := map[string]string{}
	for _, c := range plan.Checks {
		got[c.Kind] = c.Status + ": " + c.Reason
	}
	want := map[string]string{
		checks.KindMetric:     "pass: ",
		checks.KindVsChampion: "skipped: not re-checked on rollback",
		checks.KindRunAge:     "skipped: not re-checked on rollback: the version's run is expected to be older",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	if reg.alias("champion") != "1" || reg.history(t, champ)[0].Verdict != checks.VerdictPass {
		t.Errorf("@champion = v%s, history %+v; want v1 with a passing rollback entry", reg.alias("champion"), reg.history(t, champ))
	}
}
