package promote

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
)

// Unit tests of apply and record: what the registry holds, what the error
// says and what the audit record reads after each way a promotion can stop
// half-way, and that a rerun of the same command completes it. The same
// matrix runs against a real server, through a fault proxy, in
// internal/action (faults_test.go).

var (
	t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Hour)
)

const (
	testRunURL = "https://github.com/acme/models/actions/runs/7"
	championT  = "@champion"
)

var champ = checks.AliasTarget("champion")

// threeVersions is model m with v1..v3 and @champion on v1.
func threeVersions() *memRegistry {
	reg := newMem("m", mlflow.ModelVersion{Version: "1"}, mlflow.ModelVersion{Version: "2"}, mlflow.ModelVersion{Version: "3"})
	reg.setAlias("champion", "1")
	return reg
}

func promoteTo(version string) Request {
	return Request{Model: "m", Version: mustVersion(version), Target: checks.Target{Alias: "champion"}, ArchiveExisting: true,
		Actor: "octocat", RunURL: testRunURL, Commit: "abc123"}
}

func clock(at time.Time) func() time.Time { return func() time.Time { return at } }

// planApply runs one promote command: plan, then apply.
func planApply(t *testing.T, s *Service, req Request) (*Plan, *Outcome, error) {
	t.Helper()
	plan, err := s.Plan(t.Context(), req)
	if err != nil {
		t.Fatalf("Plan() error: %v", err)
	}
	out, err := s.Apply(t.Context(), plan)
	return plan, out, err
}

// history returns the decoded history tag of target tp.
func (m *memRegistry) history(t *testing.T, tp checks.Target) []Record {
	t.Helper()
	v := m.modelTag(HistoryTagKey(tp))
	h, err := mlflow.Rules{}.ParseHistory(v)
	if err != nil {
		t.Fatalf("history tag %s is not valid JSON: %v\n%s", HistoryTagKey(tp), err, v)
	}
	return h
}

func TestApplyWritesTheAuditRecord(t *testing.T) {
	t.Parallel()
	reg := threeVersions()
	s := &Service{Reg: reg, Now: clock(t0)}
	plan, out, err := planApply(t, s, promoteTo("2"))
	if err != nil {
		t.Fatalf("Apply() error: %v", err)
	}
	wantOut := &Outcome{Changed: true, Moves: []string{"@champion: v1 → v2"}, Previous: map[string]string{championT: "1"}}
	if diff := cmp.Diff(wantOut, out); diff != "" {
		t.Errorf("outcome (-want +got):\n%s", diff)
	}
	// The promotion tag goes on the version before the move, so that a run
	// that stops after the move leaves what the rerun needs. The history and
	// the replaced mark are independent writes that go out at once
	// (recordMove): their order is not fixed.
	wantWrites := []string{
		"SetModelVersionTag 2 mlreg.promotion.alias.champion",
		"SetAlias champion=2",
		"SetRegisteredModelTag mlreg.history.alias.champion",
		"SetModelVersionTag 1 mlreg.replaced.alias.champion",
	}
	got := reg.writes()
	if len(got) == len(wantWrites) {
		slices.Sort(got[2:])
		slices.Sort(wantWrites[2:])
	}
	if diff := cmp.Diff(wantWrites, got); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
	rec := `{"version":"2","previous_version":"1","action":"promote","at":"2026-03-01T12:00:00Z","by":"octocat",` +
		`"run_url":"` + testRunURL + `","commit":"abc123","policy_digest":"","plan_digest":"` + plan.Digest + `","verdict":"skipped"}`
	if got := reg.versionTag("2", "mlreg.promotion.alias.champion"); got != rec {
		t.Errorf("promotion tag on v2:\n got %s\nwant %s", got, rec)
	}
	if got := reg.modelTag("mlreg.history.alias.champion"); got != "["+rec+"]" {
		t.Errorf("history tag:\n got %s\nwant [%s]", got, rec)
	}
	mark := `{"at":"2026-03-01T12:00:00Z","by_version":"2","run_url":"` + testRunURL + `"}`
	if got := reg.versionTag("1", "mlreg.replaced.alias.champion"); got != mark {
		t.Errorf("replaced mark on v1:\n got %s\nwant %s", got, mark)
	}
	if reg.alias("champion") != "2" {
		t.Errorf("@champion = v%s, want v2", reg.alias("champion"))
	}
}

func TestApplyWithoutArchiveExistingLeavesThePreviousHolderAlone(t *testing.T) {
	t.Parallel()
	reg := threeVersions()
	s := &Service{Reg: reg, Now: clock(t0)}
	req := promoteTo("2")
	req.ArchiveExisting = false
	if _, _, err := planApply(t, s, req); err != nil {
		t.Fatal(err)
	}
	if got := reg.versionTag("1", "mlreg.replaced.alias.champion"); got != "" {
		t.Errorf("v1 was marked replaced without archive-existing: %s", got)
	}
	// A rerun has nothing to complete either.
	reg.ResetCalls()
	_, out, err := planApply(t, &Service{Reg: reg, Now: clock(t1)}, req)
	if err != nil || out.Changed || len(out.Notes) > 0 || len(reg.writes()) > 0 {
		t.Errorf("rerun: outcome %+v, err %v, writes %v; want an unchanged no-op", out, err, reg.writes())
	}
}

// TestApplyFaultThenRerun breaks one request of apply or record, checks
// what the failed run reports and leaves, then reruns the same command
// without faults and checks that the promotion is complete and recorded
// once, and that a third run changes nothing.
func TestApplyFaultThenRerun(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		inject func(m *memRegistry)
		// says: substrings of the first run's error.
		says []string
		// partial: the error is a *PartialError with this step; "" = it is not.
		partial string
		// holder: @champion after the first run.
		holder string
		// recorded: the first run wrote the history entry.
		recorded bool
		// completes: the rerun completes a record instead of moving (the
		// first run moved): its note, and the history keeps the first
		// run's time.
		completes bool
		// done: the failed run wrote everything; the rerun finds it in place.
		done bool
	}{
		{
			name:   "promotion tag refused",
			inject: func(m *memRegistry) { m.fail("SetModelVersionTag", "mlreg.promotion.", 1, errDenied) },
			says:   []string{"failed to write the promotion tag of @champion: ", "403 PERMISSION_DENIED", "; nothing was moved"},
			holder: "1",
		},
		{
			name:   "promotion tag written, answer lost",
			inject: func(m *memRegistry) { m.loseAnswer("SetModelVersionTag", "mlreg.promotion.", 1, errReset) },
			says:   []string{"failed to write the promotion tag of @champion: ", "connection reset by peer", "; nothing was moved"},
			holder: "1",
		},
		{
			name:   "move refused",
			inject: func(m *memRegistry) { m.fail("SetAlias", "", 1, errDenied) },
			says:   []string{"403 PERMISSION_DENIED", "; nothing was moved"},
			holder: "1",
		},
		{
			name:   "move never sent",
			inject: func(m *memRegistry) { m.fail("SetAlias", "", 1, errDial) },
			says:   []string{"@champion may or may not have moved to v2", "rerun the same command, it completes the promotion either way"},
			holder: "1",
		},
		{
			name:   "move answered 503 after the retries",
			inject: func(m *memRegistry) { m.fail("SetAlias", "", 1, errUnavailable) },
			says:   []string{"503", "@champion may or may not have moved to v2"},
			holder: "1",
		},
		{
			name:      "move executed, answer lost",
			inject:    func(m *memRegistry) { m.loseAnswer("SetAlias", "", 1, errReset) },
			says:      []string{"connection reset by peer", "@champion may or may not have moved to v2 (a request was sent and no answer came back)"},
			holder:    "2",
			completes: true,
		},
		{
			name:      "read-back fails",
			inject:    func(m *memRegistry) { m.fail("GetRegisteredModel", "m", 1, errUnavailable) },
			says:      []string{"promotion applied ([@champion: v1 → v2]) but failed to read back the registered model", "rerun the same command to complete the audit record"},
			partial:   "read back the registered model",
			holder:    "2",
			completes: true,
		},
		{
			name:      "history refused",
			inject:    func(m *memRegistry) { m.fail("SetRegisteredModelTag", "mlreg.history.", 1, errDenied) },
			says:      []string{"but failed to write the audit record of @champion: ", "403 PERMISSION_DENIED"},
			partial:   "write the audit record of @champion",
			holder:    "2",
			completes: true,
		},
		{
			name:     "history written, answer lost",
			inject:   func(m *memRegistry) { m.loseAnswer("SetRegisteredModelTag", "mlreg.history.", 1, errReset) },
			says:     []string{"but failed to write the audit record of @champion"},
			partial:  "write the audit record of @champion",
			holder:   "2",
			recorded: true,
			// The replaced mark went out with the history write: both are
			// in place, and the rerun has nothing left to complete.
			done: true,
		},
		{
			name:      "replaced mark refused",
			inject:    func(m *memRegistry) { m.fail("SetModelVersionTag", "mlreg.replaced.", 1, errDenied) },
			says:      []string{"but failed to mark v1 as replaced: ", "403 PERMISSION_DENIED"},
			partial:   "mark v1 as replaced",
			holder:    "2",
			recorded:  true,
			completes: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := threeVersions()
			tc.inject(reg)
			_, _, err := planApply(t, &Service{Reg: reg, Now: clock(t0)}, promoteTo("2"))
			if err == nil {
				t.Fatal("Apply() succeeded, want an error")
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			pe, isPartial := errors.AsType[*PartialError](err)
			switch {
			case tc.partial == "" && isPartial:
				t.Errorf("error is a PartialError (%v), want a plain failure", pe)
			case tc.partial != "" && !isPartial:
				t.Errorf("error %v is not a PartialError", err)
			case isPartial:
				if diff := cmp.Diff([]string{"@champion: v1 → v2"}, pe.Moved); diff != "" || pe.Step != tc.partial {
					t.Errorf("PartialError step %q, moved (-want +got):\n%s; want step %q", pe.Step, diff, tc.partial)
				}
			}
			if errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrPolicyFailed) {
				t.Errorf("error %v maps to another exit status than a registry error", err)
			}
			if got := reg.alias("champion"); got != tc.holder {
				t.Errorf("after the failed run @champion = v%s, want v%s", got, tc.holder)
			}
			if h := reg.history(t, champ); (len(h) == 1) != tc.recorded {
				t.Errorf("after the failed run the history holds %+v; want the entry written: %t", h, tc.recorded)
			}

			// The rerun, with the registry working again.
			reg.ClearFaults()
			_, out, err := planApply(t, &Service{Reg: reg, Now: clock(t1)}, promoteTo("2"))
			if err != nil {
				t.Fatalf("rerun: %v", err)
			}
			wantAt := t1
			wantOut := &Outcome{Changed: true, Moves: []string{"@champion: v1 → v2"}, Previous: map[string]string{championT: "1"}}
			switch {
			case tc.completes:
				wantAt = t0
				wantOut = &Outcome{Previous: map[string]string{championT: "2"},
					Notes: []string{"completed the audit record of @champion left unfinished by an earlier run"}}
			case tc.done:
				wantAt = t0
				wantOut = &Outcome{Previous: map[string]string{championT: "2"}}
			}
			if diff := cmp.Diff(wantOut, out); diff != "" {
				t.Errorf("rerun outcome (-want +got):\n%s", diff)
			}
			h := reg.history(t, champ)
			if len(h) != 1 || h[0].Version != "2" || h[0].PreviousVersion != "1" || h[0].At != wantAt.Format(time.RFC3339) ||
				h[0].By != "octocat" || h[0].Action != ActionPromote {
				t.Errorf("after the rerun the history is %+v; want one entry v1 → v2 at %s by octocat", h, wantAt.Format(time.RFC3339))
			}
			mark := fmt.Sprintf(`{"at":%q,"by_version":"2","run_url":%q}`, wantAt.Format(time.RFC3339), testRunURL)
			if got := reg.versionTag("1", "mlreg.replaced.alias.champion"); got != mark {
				t.Errorf("after the rerun v1's replaced mark is %s, want %s", got, mark)
			}
			if reg.alias("champion") != "2" {
				t.Errorf("after the rerun @champion = v%s, want v2", reg.alias("champion"))
			}

			// A third run finds everything in place and writes nothing.
			reg.ResetCalls()
			_, out, err = planApply(t, &Service{Reg: reg, Now: clock(t1.Add(time.Hour))}, promoteTo("2"))
			if err != nil || out.Changed || len(out.Notes) > 0 {
				t.Errorf("third run: outcome %+v, err %v; want an unchanged no-op", out, err)
			}
			if w := reg.writes(); len(w) > 0 {
				t.Errorf("third run wrote %v", w)
			}
		})
	}
}

// TestApplyTwoTargetsStopsAfterTheFirstMove: with an alias and a stage, a
// failure after the alias moved reports what moved; the rerun moves the
// stage and completes the alias's record.
func TestApplyTwoTargetsStopsAfterTheFirstMove(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		inject func(m *memRegistry)
		step   string
	}{
		{"stage promotion tag refused", func(m *memRegistry) { m.fail("SetModelVersionTag", "mlreg.promotion.stage", 1, errDenied) },
			"write the promotion tag of stage Production"},
		{"stage move refused", func(m *memRegistry) { m.fail("TransitionStage", "", 1, errDenied) }, "move stage Production"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := threeVersions()
			reg.setStage("1", mlflow.StageProduction)
			tc.inject(reg)
			req := promoteTo("2")
			req.Target.Stage = "Production"
			_, _, err := planApply(t, &Service{Reg: reg, Now: clock(t0)}, req)
			pe, ok := errors.AsType[*PartialError](err)
			if !ok {
				t.Fatalf("err = %v, want a PartialError", err)
			}
			if diff := cmp.Diff([]string{"@champion: v1 → v2"}, pe.Moved); diff != "" || pe.Step != tc.step {
				t.Errorf("PartialError moved %v step %q; want [@champion: v1 → v2] and %q", pe.Moved, pe.Step, tc.step)
			}
			if reg.alias("champion") != "2" || reg.version("2").CurrentStage != mlflow.StageNone && reg.version("2").CurrentStage != "" {
				t.Errorf("after the failed run: @champion v%s, v2 in stage %q", reg.alias("champion"), reg.version("2").CurrentStage)
			}

			reg.ClearFaults()
			_, out, err := planApply(t, &Service{Reg: reg, Now: clock(t1)}, req)
			if err != nil {
				t.Fatalf("rerun: %v", err)
			}
			want := &Outcome{Changed: true, Moves: []string{"stage Production: v1 → v2"},
				Previous: map[string]string{championT: "2", "stage Production": "1"},
				Notes:    []string{"completed the audit record of @champion left unfinished by an earlier run"}}
			if diff := cmp.Diff(want, out); diff != "" {
				t.Errorf("rerun outcome (-want +got):\n%s", diff)
			}
			if reg.version("1").CurrentStage != mlflow.StageArchived || reg.version("2").CurrentStage != mlflow.StageProduction {
				t.Errorf("stages after the rerun: v1 %s, v2 %s; want Archived, Production", reg.version("1").CurrentStage, reg.version("2").CurrentStage)
			}
			for _, tp := range []checks.Target{champ, checks.StageTarget("Production")} {
				if h := reg.history(t, tp); len(h) != 1 || h[0].Version != "2" || h[0].PreviousVersion != "1" {
					t.Errorf("history of %s = %+v, want one entry v1 → v2", tp.Label(), h)
				}
			}
		})
	}
}

// TestRerunCompletesOnlyItsOwnRecord: a candidate that already holds the
// target gets a history entry only from a promotion tag this tool wrote and
// did not record yet.
func TestRerunCompletesOnlyItsOwnRecord(t *testing.T) {
	t.Parallel()
	stale := Record{Version: "2", PreviousVersion: "1", Action: ActionPromote, At: "2026-02-01T00:00:00Z", By: "old"}
	newer := Record{Version: "3", PreviousVersion: "2", Action: ActionPromote, At: "2026-02-10T00:00:00Z", By: "octocat"}
	cases := []struct {
		name  string
		setup func(m *memRegistry)
	}{
		{"moved outside mlreg-action: no promotion tag", func(m *memRegistry) { m.setAlias("champion", "2") }},
		{"promotion tag older than the newest entry", func(m *memRegistry) {
			m.SetVersionTagDirect(m.model, "2", PromotionTagKey(champ), stale.JSON())
			m.SetModelTagDirect(m.model, HistoryTagKey(champ), mlflow.Rules{}.EncodeHistory([]Record{newer, stale}))
			m.setAlias("champion", "2") // moved back by hand after v3
		}},
		{"unreadable promotion tag", func(m *memRegistry) {
			m.SetVersionTagDirect(m.model, "2", PromotionTagKey(champ), "{not json")
			m.setAlias("champion", "2")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := threeVersions()
			tc.setup(reg)
			before := reg.modelTag(HistoryTagKey(champ))
			_, out, err := planApply(t, &Service{Reg: reg, Now: clock(t1)}, promoteTo("2"))
			if err != nil {
				t.Fatal(err)
			}
			if out.Changed || len(out.Notes) > 0 {
				t.Errorf("outcome %+v, want unchanged without notes", out)
			}
			if w := reg.writes(); len(w) > 0 {
				t.Errorf("wrote %v, want nothing", w)
			}
			if got := reg.modelTag(HistoryTagKey(champ)); got != before {
				t.Errorf("history changed:\n%s\nwas\n%s", got, before)
			}
		})
	}
}

func TestRerunCompletesTheReplacedMark(t *testing.T) {
	t.Parallel()
	// First run: moved and recorded, the mark on v1 failed.
	setup := func(t *testing.T) *memRegistry {
		t.Helper()
		reg := threeVersions()
		reg.fail("SetModelVersionTag", "mlreg.replaced.", 1, errDenied)
		if _, _, err := planApply(t, &Service{Reg: reg, Now: clock(t0)}, promoteTo("2")); err == nil {
			t.Fatal("first run succeeded, want a partial error")
		}
		reg.ClearFaults()
		return reg
	}
	t.Run("replaced version deleted since", func(t *testing.T) {
		t.Parallel()
		reg := setup(t)
		reg.DeleteVersionDirect(reg.model, "1")
		reg.ResetCalls()
		_, out, err := planApply(t, &Service{Reg: reg, Now: clock(t1)}, promoteTo("2"))
		if err != nil || out.Changed || len(out.Notes) > 0 || len(reg.writes()) > 0 {
			t.Errorf("outcome %+v, err %v, writes %v; want a no-op", out, err, reg.writes())
		}
	})
	t.Run("replaced version unreadable", func(t *testing.T) {
		t.Parallel()
		reg := setup(t)
		reg.fail("GetModelVersion", "1", 1, errUnavailable)
		_, _, err := planApply(t, &Service{Reg: reg, Now: clock(t1)}, promoteTo("2"))
		want := "failed to complete the audit record of @champion: failed to read v1, which @champion replaced: "
		if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "; nothing was moved") {
			t.Errorf("err = %v, want %q...; nothing was moved", err, want)
		}
		if got := reg.versionTag("1", "mlreg.replaced.alias.champion"); got != "" {
			t.Errorf("v1 was marked: %s", got)
		}
	})
	t.Run("mark by another version is replaced", func(t *testing.T) {
		t.Parallel()
		reg := setup(t)
		reg.SetVersionTagDirect(reg.model, "1", "mlreg.replaced.alias.champion", `{"by_version":"9"}`)
		_, out, err := planApply(t, &Service{Reg: reg, Now: clock(t1)}, promoteTo("2"))
		if err != nil || len(out.Notes) != 1 {
			t.Fatalf("outcome %+v, err %v; want the record completed", out, err)
		}
		if got := reg.versionTag("1", "mlreg.replaced.alias.champion"); !strings.Contains(got, `"by_version":"2"`) {
			t.Errorf("v1's mark = %s, want by_version 2", got)
		}
	})
}

func TestApplyConflicts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		expected string // Request.Expected, as the input spells it
		after    func(m *memRegistry)
		want     string
		holder   string
		writes   bool // some writes happened before the conflict showed
	}{
		{
			name:   "holder moved since the plan",
			after:  func(m *memRegistry) { m.setAlias("champion", "3") },
			want:   `conflict: @champion of "m" is held by v3, the plan expected v1; nothing was changed`,
			holder: "3",
		},
		{
			name:     "expected-current-version differs",
			expected: "3",
			want:     `conflict: @champion of "m" is held by v1, the plan expected v3; nothing was changed`,
			holder:   "1",
		},
		{
			name:     "expected none, held",
			expected: "none",
			want:     `conflict: @champion of "m" is held by v1, the plan expected none; nothing was changed`,
			holder:   "1",
		},
		{
			name: "lost a concurrent promotion",
			after: func(m *memRegistry) {
				m.before("GetRegisteredModel", "m", 1, func(m *memRegistry) { m.setAlias("champion", "3") })
			},
			want:   `conflict: lost a concurrent promotion: @champion of "m" now points to v3, not v2`,
			holder: "3",
			writes: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := threeVersions()
			s := &Service{Reg: reg, Now: clock(t0)}
			req := promoteTo("2")
			req.Expected = mustExpected(tc.expected)
			plan, err := s.Plan(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			if tc.after != nil {
				tc.after(reg)
			}
			_, err = s.Apply(t.Context(), plan)
			if !errors.Is(err, ErrConflict) || err.Error() != tc.want {
				t.Errorf("err = %v\nwant %s (ErrConflict)", err, tc.want)
			}
			if got := reg.alias("champion"); got != tc.holder {
				t.Errorf("@champion = v%s, want v%s", got, tc.holder)
			}
			if h := reg.history(t, champ); len(h) != 0 {
				t.Errorf("history written on a conflict: %+v", h)
			}
			if w := reg.writes(); !tc.writes && len(w) > 0 {
				t.Errorf("wrote %v before the conflict", w)
			}
		})
	}
}

func TestApplyRefusesAFailingPlan(t *testing.T) {
	t.Parallel()
	reg := threeVersions()
	withAUC(reg, "2", 0.5)
	pol, err := checks.Parse("p.yml", []byte(digestPolicy))
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{Reg: reg, Now: clock(t0)}
	req := promoteTo("2")
	req.Policy = pol
	plan, err := s.Plan(t.Context(), req)
	if err != nil || plan.Verdict != checks.VerdictFail {
		t.Fatalf("plan verdict %v, err %v; want fail", plan, err)
	}
	if _, err := s.Apply(t.Context(), plan); !errors.Is(err, ErrPolicyFailed) || !strings.Contains(err.Error(), "refusing to apply a failing plan") {
		t.Errorf("err = %v, want ErrPolicyFailed", err)
	}
	if w := reg.writes(); len(w) > 0 {
		t.Errorf("wrote %v", w)
	}
}

func TestApplyStage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		stage, call string
	}{
		{"Production", "TransitionStage 2 Production archive=true"},
		{"staging", "TransitionStage 2 Staging archive=true"},
		// MLflow archives only from the active stages; asking for it on None is a server error.
		{"none", "TransitionStage 2 None archive=false"},
	}
	for _, tc := range cases {
		t.Run(tc.stage, func(t *testing.T) {
			t.Parallel()
			reg := threeVersions()
			reg.unsetAlias("champion")
			canonical, _ := checks.CanonicalStage(tc.stage)
			reg.setStage("1", canonical)
			req := promoteTo("2")
			req.Target = checks.Target{Stage: canonical} // as the action's input parses it
			_, out, err := planApply(t, &Service{Reg: reg, Now: clock(t0)}, req)
			if err != nil {
				t.Fatal(err)
			}
			label := "stage " + canonical
			want := &Outcome{Changed: true, Moves: []string{label + ": v1 → v2"}, Previous: map[string]string{label: "1"}}
			if diff := cmp.Diff(want, out); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
			if got := reg.callsOf("TransitionStage"); len(got) != 1 || got[0] != tc.call {
				t.Errorf("transition calls %v, want [%s]", got, tc.call)
			}
			wantPrev := mlflow.StageArchived
			if canonical == mlflow.StageNone {
				wantPrev = mlflow.StageNone
			}
			if reg.version("2").CurrentStage != canonical || reg.version("1").CurrentStage != wantPrev {
				t.Errorf("stages: v1 %s, v2 %s; want %s, %s", reg.version("1").CurrentStage, reg.version("2").CurrentStage, wantPrev, canonical)
			}
			tp := checks.StageTarget(canonical)
			if h := reg.history(t, tp); len(h) != 1 || h[0].Version != "2" || h[0].PreviousVersion != "1" {
				t.Errorf("history %+v, want one entry v1 → v2", h)
			}
			// A stage has no replaced mark: the archived stage says it.
			if got := reg.versionTag("1", ReplacedTagPrefix+tp.TagSuffix()); got != "" {
				t.Errorf("v1 got a replaced mark: %s", got)
			}
		})
	}
}

func TestMoveError(t *testing.T) {
	t.Parallel()
	const mayHave = "; @champion may or may not have moved to v5 (a request was sent and no answer came back): " +
		"rerun the same command, it completes the promotion either way"
	api := func(status int) error {
		return &mlflow.Error{Method: "POST", Path: "/api/2.0/mlflow/registered-models/alias", StatusCode: status, Code: "X", Message: "m"}
	}
	conflict := fmt.Errorf("%w: v5 is in stage Archived", ErrConflict)
	cases := []struct {
		name string
		err  error
		want string // suffix added to err's message; "" = returned unchanged
	}{
		{"conflict passes through", conflict, ""},
		{"400 refused", api(http.StatusBadRequest), "; nothing was moved"},
		{"403 refused", api(http.StatusForbidden), "; nothing was moved"},
		{"404 refused", api(http.StatusNotFound), "; nothing was moved"},
		{"408 may have run", api(http.StatusRequestTimeout), mayHave},
		{"429 may have run", api(http.StatusTooManyRequests), mayHave},
		{"500 may have run", api(http.StatusInternalServerError), mayHave},
		{"503 may have run", api(http.StatusServiceUnavailable), mayHave},
		{"reset", errReset, mayHave},
		{"never sent", errDial, mayHave},
		{"deadline", context.DeadlineExceeded, mayHave},
	}
	for _, tc := range cases {
		got := moveError(champ, "5", tc.err)
		if got.Error() != tc.err.Error()+tc.want {
			t.Errorf("%s: moveError = %q\nwant %q", tc.name, got, tc.err.Error()+tc.want)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("%s: moveError does not wrap the cause", tc.name)
		}
	}
}

func TestCreateMayHaveRun(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"400", &mlflow.Error{StatusCode: 400}, false},
		{"409", &mlflow.Error{StatusCode: 409}, false},
		{"503 with Retry-After: not executed", &mlflow.Error{StatusCode: 503, RetryAfter: time.Second}, false},
		{"503", &mlflow.Error{StatusCode: 503}, true},
		{"500", &mlflow.Error{StatusCode: 500}, true},
		{"dial failed", errDial, false},
		{"reset", errReset, true},
		{"deadline", context.DeadlineExceeded, true},
	}
	for _, tc := range cases {
		if got := createMayHaveRun(fmt.Errorf("wrapped: %w", tc.err)); got != tc.want {
			t.Errorf("%s: createMayHaveRun = %t, want %t", tc.name, got, tc.want)
		}
	}
}
