package action_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/mlreg/mlreg-action/internal/testing/faultproxy"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

// rollbackPolicy is met by every version of these tests: they are about
// which version a rollback restores, not about the gate it re-checks.
const rollbackPolicy = `version: 1
rules:
  - name: champion
    applies-to: {alias: champion}
    tags: {dataset_version: present}
  - name: production
    applies-to: {stage: Production}
    tags: {dataset_version: present}
`

// shapeStep is one thing a user does to a target. A step that runs the
// action (every op but hand, keep and remove) checks what the user sees.
type shapeStep struct {
	op string // promote, hand, keep, remove, manifest, history, rollback, rollback-to, rerun, partial
	v  string // promote, hand, keep, manifest, rollback-to: the version
	in []string

	code    int
	holder  string   // after the step: @champion's version, or the versions in stage Production ("1,2")
	says    []string // lines of the step log hold these
	changed string   // the changed output, when set
	drift   string   // history: the drift output
}

func promoteV(v string, in ...string) shapeStep { return shapeStep{op: "promote", v: v, in: in} }

// handMove moves the target outside mlreg-action, as a user does in
// MLflow's UI or client: set the alias, or transition the version into the
// stage archiving the versions there.
func handMove(v string) shapeStep { return shapeStep{op: "hand", v: v} }

// handKeep transitions v into the stage by hand, archiving nothing.
func handKeep(v string) shapeStep { return shapeStep{op: "keep", v: v} }

// handRemove deletes the alias, or archives the versions in the stage, by hand.
func handRemove() shapeStep { return shapeStep{op: "remove"} }

func manifestV(v string) shapeStep { return shapeStep{op: "manifest", v: v} }

func rollbackStep(code int, holder string, says ...string) shapeStep {
	return shapeStep{op: "rollback", code: code, holder: holder, says: says}
}

func rollbackToStep(v string, holder string, says ...string) shapeStep {
	return shapeStep{op: "rollback-to", v: v, holder: holder, says: says}
}

// withInputs adds inputs to a step that runs the action.
func withInputs(s shapeStep, in ...string) shapeStep {
	s.in = append(s.in, in...)
	return s
}

// rerunStep re-runs the workflow run of the rollback before it (its run
// URL, attempt 2).
func rerunStep(holder string, says ...string) shapeStep {
	return shapeStep{op: "rerun", holder: holder, says: says, changed: "false"}
}

// historyStep runs history: its drift output, and what its log says.
func historyStep(drift string, says ...string) shapeStep {
	return shapeStep{op: "history", drift: drift, says: says}
}

// partialStep is a rollback whose history entry cannot be written: the
// target moves, the run stops (exit 3).
func partialStep(holder string) shapeStep {
	return shapeStep{op: "partial", code: 3, holder: holder, says: []string{"rerun the same command to complete the audit record"}}
}

// shapeWorld is one model with four versions, and the target the shape moves.
type shapeWorld struct {
	model string
	f     fixtures
	stage bool
}

func (w *shapeWorld) inputs(extra ...string) map[string]string {
	in := map[string]string{"model-name": w.model, "target-alias": "champion"}
	if w.stage {
		in = map[string]string{"model-name": w.model, "target-stage": "Production"}
	}
	for i := 0; i+1 < len(extra); i += 2 {
		in[extra[i]] = extra[i+1]
	}
	return in
}

// holder is @champion's version, or the versions in stage Production.
func (w *shapeWorld) holder(t *testing.T) string {
	t.Helper()
	if !w.stage {
		return aliasOf(t, w.f, w.model, "champion")
	}
	return strings.Join(w.inProduction(t), ",")
}

func (w *shapeWorld) inProduction(t *testing.T) []string {
	t.Helper()
	var in []string
	for v := 1; v <= 4; v++ {
		mv, err := w.f.GetVersion(t.Context(), w.model, fmt.Sprint(v))
		if err != nil {
			t.Fatal(err)
		}
		if mv["current_stage"] == "Production" {
			in = append(in, fmt.Sprint(v))
		}
	}
	return in
}

func (w *shapeWorld) transition(t *testing.T, v, stage string, archive bool) {
	t.Helper()
	move := w.f.Transition
	if archive {
		move = w.f.TransitionArchiving
	}
	if err := move(t.Context(), w.model, v, stage); err != nil {
		t.Fatal(err)
	}
}

// do runs one step and returns what the user saw (nil for a hand move).
func (w *shapeWorld) do(t *testing.T, s shapeStep, files map[string]string) *result {
	t.Helper()
	ctx := t.Context()
	var in map[string]string
	switch s.op {
	case "hand":
		if w.stage {
			w.transition(t, s.v, "Production", true)
		} else if err := w.f.SetAlias(ctx, w.model, "champion", s.v); err != nil {
			t.Fatal(err)
		}
		return nil
	case "keep":
		if err := w.f.Transition(ctx, w.model, s.v, "Production"); err != nil {
			t.Fatal(err)
		}
		return nil
	case "remove":
		if !w.stage {
			if err := w.f.DeleteAlias(ctx, w.model, "champion"); err != nil {
				t.Fatal(err)
			}
		}
		for _, v := range w.inProduction(t) {
			w.transition(t, v, "Archived", false)
		}
		return nil
	case "promote":
		in = w.inputs(append([]string{"version", s.v}, s.in...)...)
	case "manifest":
		declared := fmt.Sprintf("aliases: {champion: %s}", s.v)
		if w.stage {
			declared = fmt.Sprintf("stages: {Production: %s}", s.v)
		}
		files = map[string]string{".github/mlreg-policy.yml": rollbackPolicy,
			manifestPath: fmt.Sprintf("version: 1\nmodels:\n  %s:\n    %s\n", w.model, declared)}
		in = map[string]string{"manifest": manifestPath}
	case "history":
		in = w.inputs("command", "history")
	case "rollback":
		in = w.inputs(append([]string{"command", "rollback"}, s.in...)...)
	case "rollback-to":
		in = w.inputs("command", "rollback", "rollback-to", s.v)
	case "rerun":
		in = w.inputs("command", "rollback", "GITHUB_RUN_ATTEMPT", "2")
	case "partial":
		mlflowtest.RequireServer(t, srv) // a fault proxy in front of the real server
		p := faultproxy.New(t, srv.URL)
		p.Add(faultproxy.Rule{Method: http.MethodPost, Path: "/registered-models/set-tag", Contains: "mlreg.history.",
			Times: -1, Fault: faultproxy.Status(http.StatusBadRequest)})
		in = w.inputs("command", "rollback", "tracking-uri", p.URL)
	default:
		t.Fatalf("unknown step %q", s.op)
	}
	res := runAction(t, in, files)
	return &res
}

// TestRollbackShapes runs every shape of history a user makes (hand moves,
// the same version promoted twice, rollbacks of rollbacks, re-runs, an
// unfinished record, desired-state applies; on an alias and on a stage)
// against the real MLflow server, and checks after each rollback what the
// user sees (exit status, log lines) and where the target is.
func TestRollbackShapes(t *testing.T) {
	t.Parallel()
	const at = "at 2026-11-25T12:00:00Z"
	cases := []struct {
		name  string
		stage bool
		steps []shapeStep
	}{
		{name: "moved back by hand, the same version promoted again", steps: []shapeStep{
			promoteV("1"), promoteV("2"), handMove("1"), promoteV("2"),
			rollbackStep(0, "1", "plan: @champion: v2 → v1", "rollback: v1 held @champion before the promotion of v2 "+at),
			rollbackStep(3, "1", "no earlier version recorded: the history has no version before v1"),
		}},
		{name: "moved back by hand, then rolled back", steps: []shapeStep{
			promoteV("1"), promoteV("2"), promoteV("3"), handMove("2"),
			historyStep("true", "::warning::drift: @champion of", "is held by v2, but the last recorded promotion put v3 there"),
			rollbackStep(0, "1", "::warning::drift: @champion of", "is held by v2, but the last recorded promotion put v3 there",
				"rolling back to v1", "rollback: v1 held @champion before the promotion of v2", "plan: @champion: v2 → v1"),
			rollbackStep(3, "1", "the history has no version before v1"),
		}},
		{name: "moved by hand to a version never promoted there", steps: []shapeStep{
			promoteV("1"), promoteV("2"), handMove("3"),
			rollbackStep(0, "2", "is held by v3, but the last recorded promotion put v2 there", "rolling back to v2",
				"rollback: v2 held @champion before it was moved to v3 outside mlreg-action", "plan: @champion: v3 → v2"),
			rollbackStep(0, "1", "plan: @champion: v2 → v1"),
		}},
		{name: "moved back by hand to the first version", steps: []shapeStep{
			promoteV("1"), promoteV("2"), handMove("1"),
			rollbackStep(1, "1", "is held by v1, but the last recorded promotion put v2 there", "the history has no version before v1",
				"set rollback-to to the version to restore (v2 held it last in the history)", "nothing was changed"),
			rollbackToStep("2", "2", "plan: @champion: v1 → v2"),
		}},
		{name: "removed by hand", steps: []shapeStep{
			promoteV("1"), promoteV("2"), handRemove(),
			rollbackStep(1, "", "is held by none, but the last recorded promotion put v2 there",
				"a rollback cannot tell whether to restore the last recorded holder or the one before it",
				"(v2 held it last in the history, v1 before it)"),
		}},
		{name: "moved back by hand, a new version promoted, rolled back twice", steps: []shapeStep{
			promoteV("1"), promoteV("2"), promoteV("3"), handMove("2"), promoteV("4"),
			rollbackStep(0, "2", "plan: @champion: v4 → v2", "rollback: v2 held @champion before the promotion of v4"),
			rollbackStep(0, "1", "plan: @champion: v2 → v1", "rollback: v1 held @champion before the promotion of v2"),
		}},
		{name: "rollback-to, then rollback", steps: []shapeStep{
			promoteV("1"), promoteV("2"), promoteV("3"),
			rollbackToStep("1", "1", "plan: @champion: v3 → v1"),
			rollbackStep(0, "3", "rollback: v3 held @champion before the rollback to v1", "plan: @champion: v1 → v3"),
		}},
		{name: "the rollback's workflow run re-run", steps: []shapeStep{
			promoteV("1"), promoteV("2"), promoteV("3"),
			rollbackStep(0, "2", "plan: @champion: v3 → v2"),
			rerunStep("2", "this workflow run rolled @champion back to v2 already", "a re-run changes nothing",
				"plan: @champion: v2 (already in place)"),
			rollbackStep(0, "1", "plan: @champion: v2 → v1"),
		}},
		{name: "a rollback that stopped before its history entry, run again", steps: []shapeStep{
			promoteV("1"), promoteV("2"), promoteV("3"),
			partialStep("2"),
			// Not drift: history says what the rerun completes.
			historyStep("false", "::warning::@champion of", "is held by v2 by the rollback to v2 "+at+
				", whose history entry the run that made it did not write: rerun that run to complete the record"),
			{op: "rollback", holder: "2", changed: "false", says: []string{
				"rollback: v2 holds @champion by the rollback to v2 " + at + ", whose history entry an earlier run did not write",
				"completed the audit record of @champion left unfinished by an earlier run"}},
			rollbackStep(0, "1", "plan: @champion: v2 → v1"),
		}},
		{name: "desired-state applies around a hand move", steps: []shapeStep{
			promoteV("1"), manifestV("2"), handMove("1"), manifestV("2"),
			rollbackStep(0, "1", "plan: @champion: v2 → v1",
				`::warning::@champion was put on v2 by the desired-state file ".github/mlreg-models.yml": change it there too, or its next apply moves @champion back to v2`),
		}},

		{name: "stage: moved back by hand, the same version promoted again", stage: true, steps: []shapeStep{
			promoteV("1"), promoteV("2"), handMove("1"), promoteV("2"),
			rollbackStep(0, "1", "plan: stage Production: v2 → v1", "rollback: v1 held stage Production before the promotion of v2"),
		}},
		{name: "stage: the version before kept in the stage (archive-existing false)", stage: true, steps: []shapeStep{
			promoteV("1"), promoteV("2", "archive-existing", "false"),
			rollbackStep(0, "1", "plan: stage Production: v2 → v1"),
		}},
		{name: "stage: rolled back with archive-existing false", stage: true, steps: []shapeStep{
			promoteV("1"), promoteV("2", "archive-existing", "false"),
			withInputs(rollbackStep(0, "1", "plan: stage Production: v2 → v1", "moved stage Production: v2 → v1"), "archive-existing", "false"),
		}},
		{name: "stage: moved into the stage by hand beside the holder", stage: true, steps: []shapeStep{
			promoteV("1"), promoteV("2"), handKeep("1"),
			rollbackStep(0, "1", "plan: stage Production: v2 → v1"),
		}},
		{name: "stage: moved by hand to a version never promoted there", stage: true, steps: []shapeStep{
			promoteV("1"), promoteV("2"), handMove("3"),
			rollbackStep(0, "2", "stage Production of", "is held by v3", "rolling back to v2", "plan: stage Production: v3 → v2"),
		}},
		{name: "stage: archived by hand", stage: true, steps: []shapeStep{
			promoteV("1"), promoteV("2"), handRemove(),
			rollbackStep(1, "", "is held by none", "(v2 held it last in the history, v1 before it)"),
		}},
		{name: "stage: rolled back twice", stage: true, steps: []shapeStep{
			promoteV("1"), promoteV("2"), promoteV("3"),
			rollbackStep(0, "2", "plan: stage Production: v3 → v2"),
			rollbackStep(0, "1", "plan: stage Production: v2 → v1"),
		}},
		{name: "stage: desired-state apply", stage: true, steps: []shapeStep{
			promoteV("1"), manifestV("2"),
			rollbackStep(0, "1", "plan: stage Production: v2 → v1", `stage Production was put on v2 by the desired-state file`),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			model, f := newModel(t, auc(0.91), auc(0.92), auc(0.93), auc(0.94))
			w := &shapeWorld{model: model, f: f, stage: tc.stage}
			files := map[string]string{".github/mlreg-policy.yml": rollbackPolicy}
			for i, s := range tc.steps {
				before := w.holder(t)
				res := w.do(t, s, files)
				if res == nil {
					continue
				}
				what := fmt.Sprintf("step %d (%s %s)", i+1, s.op, s.v)
				if s.op == "promote" || s.op == "manifest" {
					if res.code != 0 {
						t.Fatalf("%s: exit %d\n%s", what, res.code, res.stdout)
					}
					continue
				}
				got := w.holder(t)
				if s.op == "history" {
					s.holder = before
					if res.outputs["drift"] != s.drift {
						t.Errorf("%s: drift = %q, want %q\n%s", what, res.outputs["drift"], s.drift, res.stdout)
					}
				}
				if res.code != s.code || got != s.holder {
					t.Errorf("%s: exit %d, holder %q; want exit %d, holder %q\n%s", what, res.code, got, s.code, s.holder, res.stdout)
				}
				if s.code != 0 && s.op != "partial" && got != before {
					t.Errorf("%s: a refused rollback moved the target from %q to %q", what, before, got)
				}
				if s.changed != "" && res.outputs["changed"] != s.changed {
					t.Errorf("%s: changed = %q, want %q", what, res.outputs["changed"], s.changed)
				}
				for _, want := range s.says {
					if !slices.ContainsFunc(strings.Split(res.stdout, "\n"), func(l string) bool { return strings.Contains(l, want) }) {
						t.Errorf("%s: no log line says %q\n%s", what, want, res.stdout)
					}
				}
			}
		})
	}
}
