package promote

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
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
		// unfinished is UnfinishedMessage: the holder's record of a move the history lacks.
		unfinished string
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
			name:   "moved by a run that stopped before the history entry",
			target: champ,
			setup: func(t *testing.T, reg *memRegistry) {
				promoted(t, reg, checks.Target{Alias: "champion"})
				rec := Record{PreviousVersion: "2", Action: ActionRollback, At: t0.Add(time.Minute).Format(time.RFC3339)}
				reg.SetVersionTagDirect(reg.model, "1", PromotionTagKey(champ), rec.JSON())
				reg.setAlias("champion", "1")
			},
			current:    "1",
			recorded:   "2",
			entries:    1,
			unfinished: `@champion of "m" is held by v1 by the rollback to v1 at 2026-03-01T12:01:00Z, whose history entry the run that made it did not write: rerun that run to complete the record`,
		},
		{
			name:   "moved back outside to a version promoted there before",
			target: champ,
			setup: func(t *testing.T, reg *memRegistry) {
				promoted(t, reg, checks.Target{Alias: "champion"})
				rec := Record{PreviousVersion: "3", At: t0.Add(-time.Hour).Format(time.RFC3339)}
				reg.SetVersionTagDirect(reg.model, "1", PromotionTagKey(champ), rec.JSON())
				reg.setAlias("champion", "1")
			},
			current:  "1",
			recorded: "2",
			entries:  1,
			drift:    `@champion of "m" is held by v1, but the last recorded promotion put v2 there: it was moved outside mlreg-action`,
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
			if got := h.UnfinishedMessage("m"); got != tc.unfinished {
				t.Errorf("UnfinishedMessage = %q\nwant %q", got, tc.unfinished)
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
			"503"},
		{"corrupted history tag", champ, func(reg *memRegistry) { reg.SetModelTagDirect(reg.model, HistoryTagKey(champ), "[{") },
			`failed to read mlreg.history.alias.champion of "m": failed to parse history tag: `},
		{"stage unreadable", checks.StageTarget("Staging"), func(reg *memRegistry) { reg.fail("GetLatestVersions", "", 0, errUnavailable) },
			"503"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := threeVersions()
			tc.setup(reg)
			if _, err := (&Service{Reg: reg}).History(t.Context(), "m", tc.target); err == nil || !strings.Contains(err.Error(), tc.want) {
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
		choice, err := h.Rollback("m", RerunOf{})
		if err != nil {
			return nil, err
		}
		version = choice.Version
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
	choice, err := h.Rollback("m", RerunOf{})
	if err != nil || choice.Version != "2" {
		t.Fatalf("Rollback = %+v, %v; want v2", choice, err)
	}
	req := promoteTo(choice.Version)
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

// TestRollbackRule is the rule of TargetHistory.Rollback over every shape of
// history a user can make: the version that held the target before the
// current holder's promotion, never the current holder.
func TestRollbackRule(t *testing.T) {
	t.Parallel()
	const at, run = "2026-11-25T12:00:00Z", "https://github.com/acme/models/actions/runs/7"
	rec := func(action, v, prev string) Record {
		return Record{Version: v, PreviousVersion: prev, Action: action, At: at, RunURL: run}
	}
	p := func(v, prev string) Record { return rec(ActionPromote, v, prev) }
	rb := func(v, prev string) Record { return rec(ActionRollback, v, prev) }
	man := func(v, prev string) Record {
		r := p(v, prev)
		r.Manifest = ".github/mlreg-models.yml"
		return r
	}
	type want struct {
		version  string
		inPlace  bool
		says     []string // in Reason, Drift and Manifest, or in the error
		refused  bool     // status 1 (drift); an error that is not is ErrNoRollbackTarget, status 3
		noTarget bool     // ErrNoRollbackTarget
	}
	cases := []struct {
		name       string
		target     checks.Target
		entries    []Record // newest first
		current    string
		unfinished *Record
		run        RerunOf
		want       want
	}{
		{name: "one step back", entries: []Record{p("3", "2"), p("2", "1"), p("1", "")}, current: "3",
			want: want{version: "2", says: []string{"v2 held @champion before the promotion of v3 at " + at}}},
		{name: "after one rollback, two steps back", entries: []Record{rb("2", "3"), p("3", "2"), p("2", "1"), p("1", "")}, current: "2",
			want: want{version: "1", says: []string{"v1 held @champion before the promotion of v2"}}},
		{name: "after two rollbacks, nothing before", entries: []Record{rb("1", "2"), rb("2", "3"), p("3", "2"), p("2", "1"), p("1", "")}, current: "1",
			want: want{noTarget: true, says: []string{"the history has no version before v1"}}},
		{name: "history truncated: the oldest predecessor counts", entries: []Record{p("9", "8")}, current: "9", want: want{version: "8"}},
		{name: "explicit rollback-to is a step of its own", entries: []Record{rb("1", "3"), p("3", "2"), p("2", "1"), p("1", "")}, current: "1",
			want: want{version: "3", says: []string{"v3 held @champion before the rollback to v1"}}},
		{name: "nothing before", entries: []Record{p("1", "")}, current: "1", want: want{noTarget: true}},
		{name: "empty and unheld", current: "", want: want{noTarget: true}},

		// Hand moves between records (the history shows them: a previous
		// version that is not the holder before it).
		{name: "moved back by hand, the same version promoted again", entries: []Record{p("2", "1"), p("2", "1"), p("1", "")}, current: "2",
			want: want{version: "1", says: []string{"v1 held @champion before the promotion of v2"}}},
		{name: "moved back by hand, promoted again, rolled back", entries: []Record{rb("1", "2"), p("2", "1"), p("2", "1"), p("1", "")}, current: "1",
			want: want{noTarget: true, says: []string{"no version before v1"}}},
		{name: "moved back by hand, a new version promoted", entries: []Record{p("4", "2"), p("3", "2"), p("2", "1"), p("1", "")}, current: "4",
			want: want{version: "2"}},
		{name: "moved back by hand, a new version promoted, rolled back: the hand move undid v3",
			entries: []Record{rb("2", "4"), p("4", "2"), p("3", "2"), p("2", "1"), p("1", "")}, current: "2", want: want{version: "1"}},
		{name: "moved by hand to an unrecorded version, promoted over", entries: []Record{p("3", "5"), p("2", "1"), p("1", "")}, current: "3",
			want: want{version: "5"}},
		{name: "moved by hand to an unrecorded version, promoted over, rolled back: the hand move was a step",
			entries: []Record{rb("5", "3"), p("3", "5"), p("2", "1"), p("1", "")}, current: "5", want: want{version: "2"}},
		{name: "removed by hand, then promoted", entries: []Record{p("3", ""), p("2", "1"), p("1", "")}, current: "3",
			want: want{noTarget: true, says: []string{"v3 was put there when nothing held @champion"}}},

		// Drift now: the registry differs from the newest record.
		{name: "drift: moved back by hand to the version before", entries: []Record{p("3", "2"), p("2", "1"), p("1", "")}, current: "2",
			want: want{version: "1", says: []string{`held by v2, but the last recorded promotion put v3 there`, "v1 held @champion before the promotion of v2"}}},
		{name: "drift: moved by hand to an unrecorded version", entries: []Record{p("2", "1"), p("1", "")}, current: "5",
			want: want{version: "2", says: []string{"held by v5", "v2 held @champion before it was moved to v5 outside mlreg-action"}}},
		{name: "drift: moved back by hand to the first version", entries: []Record{p("2", "1"), p("1", "")}, current: "1",
			want: want{refused: true, says: []string{"held by v1", "the history has no version before v1", "set rollback-to", "v2 held it last in the history"}}},
		{name: "drift: removed by hand", entries: []Record{p("2", "1"), p("1", "")}, current: "",
			want: want{refused: true, says: []string{"held by none", "v2 held it last in the history, v1 before it"}}},
		{name: "drift: held, never recorded", current: "4",
			want: want{refused: true, says: []string{"held by v4, but the last recorded promotion put none there", "the history has no version before v4"}}},

		// Desired-state files write records too.
		{name: "manifest apply", entries: []Record{man("2", "1"), p("1", "")}, current: "2",
			want: want{version: "1", says: []string{`@champion was put on v2 by the desired-state file ".github/mlreg-models.yml"`, "moves @champion back to v2"}}},
		{name: "manifest applied again after a hand move", entries: []Record{man("2", "1"), man("2", "1"), p("1", "")}, current: "2",
			want: want{version: "1", says: []string{"desired-state file"}}},

		// Reruns.
		{name: "an earlier run's rollback moved the target and left no entry", entries: []Record{p("3", "2"), p("2", "1"), p("1", "")}, current: "2",
			unfinished: &Record{Version: "2", PreviousVersion: "3", Action: ActionRollback, At: at},
			want:       want{version: "2", inPlace: true, says: []string{"v2 holds @champion by the rollback to v2", "completes the record and moves nothing"}}},
		{name: "a re-run of the workflow run that rolled back", entries: []Record{rb("2", "3"), p("3", "2"), p("2", "1"), p("1", "")}, current: "2",
			run: RerunOf{RunURL: run, Rerun: true}, want: want{version: "2", inPlace: true, says: []string{"a re-run changes nothing"}}},
		{name: "a second rollback in the first attempt of the same run", entries: []Record{rb("2", "3"), p("3", "2"), p("2", "1"), p("1", "")}, current: "2",
			run: RerunOf{RunURL: run}, want: want{version: "1"}},
		{name: "a re-run of another workflow run", entries: []Record{rb("2", "3"), p("3", "2"), p("2", "1"), p("1", "")}, current: "2",
			run: RerunOf{RunURL: run + "0", Rerun: true}, want: want{version: "1"}},

		// Stages follow the same rule.
		{name: "stage: moved back by hand, promoted again", target: checks.StageTarget("Production"),
			entries: []Record{p("2", "1"), p("2", "1"), p("1", "")}, current: "2",
			want: want{version: "1", says: []string{"v1 held stage Production before the promotion of v2"}}},
		{name: "stage: moved by hand to an unrecorded version", target: checks.StageTarget("Production"),
			entries: []Record{p("2", "1"), p("1", "")}, current: "3",
			want: want{version: "2", says: []string{"stage Production of \"m\" is held by v3"}}},

		// Registry text: a history written by hand names no version.
		{name: "hostile version in the history", entries: []Record{p("3", "2\n::error::owned\u202e"), p("1", "")}, current: "3",
			want: want{noTarget: true, says: []string{`the history names version "2\n::error::owned\u202e" before v3, which is not a version number`}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target := tc.target
			if target.IsZero() {
				target = champ
			}
			h := &TargetHistory{Target: target, Current: tc.current, Entries: tc.entries, Unfinished: tc.unfinished}
			h.settle()
			got, err := h.Rollback("m", tc.run)
			text := strings.Join([]string{got.Reason, got.Drift, got.Manifest}, "\n")
			if err != nil {
				text = err.Error()
			}
			for _, s := range tc.want.says {
				if !strings.Contains(text, s) {
					t.Errorf("%q does not say %q", text, s)
				}
			}
			switch {
			case tc.want.refused || tc.want.noTarget:
				if !errors.Is(err, ErrNoRollbackTarget) || errors.Is(err, ErrPolicyFailed) != tc.want.refused {
					t.Errorf("err = %v, want ErrNoRollbackTarget, status 1 %v", err, tc.want.refused)
				}
				if strings.ContainsAny(text, "\n\u202e") {
					t.Errorf("error %q breaks a line or carries a bidi control", text)
				}
			case err != nil:
				t.Fatalf("err = %v, want v%s", err, tc.want.version)
			case got.Version != tc.want.version || got.InPlace != tc.want.inPlace:
				t.Errorf("Rollback = v%s (in place %v), want v%s (in place %v)", got.Version, got.InPlace, tc.want.version, tc.want.inPlace)
			case !got.InPlace && got.Version == h.Current:
				t.Errorf("Rollback chose the current holder v%s", got.Version)
			case (got.Drift != "") != h.Drift:
				t.Errorf("Drift = %q with drift %v", got.Drift, h.Drift)
			}
		})
	}
}

// TestRollbackRuleOverRandomHistories drives a target through random
// promotions, rollbacks, rollbacks to a version, hand moves and removals,
// and checks the rule at every step: a rollback never chooses the current
// holder, only a version that held the target before; with no drift after
// a promotion it takes the version the promotion's record names; and in a
// history without hand moves it goes where the undo stack of promotions and
// rollbacks does (the rule before drift was read).
func TestRollbackRuleOverRandomHistories(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(17, 2026))
	for seq := 0; seq < 3000; seq++ {
		var (
			holder  string
			entries []Record // newest first
			held    = map[string]bool{}
			byHand  bool
			log     []string
		)
		record := func(action, v string) {
			entries = append([]Record{{Version: v, PreviousVersion: holder, Action: action, At: "2026-11-25T12:00:00Z"}}, entries...)
			holder = v
			held[v] = true
		}
		for step := 0; step < 14; step++ {
			h := &TargetHistory{Target: champ, Current: holder, Entries: entries}
			h.settle()
			choice, err := h.Rollback("m", RerunOf{})
			fail := func(format string, args ...any) {
				t.Fatalf("after %s: Rollback = %+v, %v: %s", strings.Join(log, ", "), choice, err, fmt.Sprintf(format, args...))
			}
			switch {
			case err == nil && (choice.Version == holder || choice.InPlace):
				fail("the current holder")
			case err == nil && !held[choice.Version]:
				fail("a version that never held the target")
			case err != nil && !errors.Is(err, ErrNoRollbackTarget):
				fail("an error that is not ErrNoRollbackTarget")
			case err != nil && errors.Is(err, ErrPolicyFailed) != h.Drift:
				fail("status 1 is for drift, and only for drift")
			}
			if n := entries; !h.Drift && len(n) > 0 && n[0].Action == ActionPromote && n[0].PreviousVersion != "" &&
				(err != nil || choice.Version != n[0].PreviousVersion) {
				fail("not the version the current holder's record names, v%s", n[0].PreviousVersion)
			}
			if !byHand {
				if want := undoStack(entries); want != choice.Version {
					fail("the undo stack goes to %q", want)
				}
			}

			v := strconv.Itoa(1 + rng.IntN(5))
			switch op := rng.IntN(10); {
			case op < 4 && v != holder:
				log = append(log, "promote v"+v)
				record(ActionPromote, v)
			case op < 6 && err == nil:
				log = append(log, "rollback")
				record(ActionRollback, choice.Version)
			case op < 7 && v != holder && holder != "":
				log = append(log, "rollback-to v"+v)
				record(ActionRollback, v)
			case op < 9 && v != holder:
				log = append(log, "hand v"+v)
				holder, held[v], byHand = v, true, true
			case op == 9 && holder != "":
				log = append(log, "hand removal")
				holder, byHand = "", true
			}
		}
	}
}

// undoStack is the rule for a history without moves outside mlreg-action:
// promotions push, a rollback to the version below the top pops. "" when
// there is nothing below.
func undoStack(entries []Record) string {
	var stack []string
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if e.Action == ActionRollback && len(stack) >= 2 && stack[len(stack)-2] == e.Version {
			stack = stack[:len(stack)-1]
			continue
		}
		if len(stack) == 0 && e.PreviousVersion != "" {
			stack = append(stack, e.PreviousVersion)
		}
		stack = append(stack, e.Version)
	}
	if len(stack) < 2 {
		return ""
	}
	return stack[len(stack)-2]
}
