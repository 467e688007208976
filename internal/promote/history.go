package promote

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// TargetHistory is the recorded history of one target and who holds it now.
type TargetHistory struct {
	Target  checks.Target `json:"-"`       // a single target; written as {"kind", "name"}
	Current string        `json:"current"` // version holding the target now; "" = unheld
	Entries []Record      `json:"entries"` // newest first
	// Drift is set when the current holder is not the last recorded one: the
	// target was moved outside mlreg-action.
	Drift bool `json:"drift"`
	// Recorded is the version the newest entry says holds the target ("" when no entry).
	Recorded string `json:"recorded,omitempty"`
	// Unfinished is the record on the current holder of a move by
	// mlreg-action that the history lacks: an earlier run moved the target
	// and stopped before writing the entry (isUnfinished). It is not drift,
	// and a rerun of that run completes the entry.
	Unfinished *Record `json:"unfinished,omitempty"`
}

// MarshalJSON writes the target as a plan does, kind and name first.
func (h TargetHistory) MarshalJSON() ([]byte, error) {
	type plain TargetHistory
	return json.Marshal(struct {
		Target targetJSON `json:"target"`
		plain
	}{targetJSON{Kind: h.Target.Kind(), Name: h.Target.Name()}, plain(h)})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (h *TargetHistory) UnmarshalJSON(b []byte) error {
	type plain TargetHistory
	var v struct {
		Target targetJSON `json:"target"`
		plain
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	t, err := singleTarget(v.Target.Kind, v.Target.Name)
	if err != nil {
		return err
	}
	*h = TargetHistory(v.plain)
	h.Target = t
	return nil
}

type targetJSON struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// DriftMessage explains drift in one sentence, or "" when there is none.
func (h *TargetHistory) DriftMessage(model string) string {
	if !h.Drift {
		return ""
	}
	return fmt.Sprintf("%s of %q is held by %s, but the last recorded promotion put %s there: it was moved outside mlreg-action",
		h.Target.Label(), model, VersionLabel(h.Current), VersionLabel(h.Recorded))
}

// UnfinishedMessage says in one sentence that the holder got there by a move
// whose history entry is missing, or "" when there is none.
func (h *TargetHistory) UnfinishedMessage(model string) string {
	if h.Unfinished == nil {
		return ""
	}
	return fmt.Sprintf("%s of %q is held by %s by %s, whose history entry the run that made it did not write: rerun that run to complete the record",
		h.Target.Label(), model, VersionLabel(h.Current), describe(h.Unfinished))
}

// History reads the recorded history of the single target t and its
// current holder.
func (s *Service) History(ctx context.Context, model string, t checks.Target) (*TargetHistory, error) {
	// Before any request, as Plan does.
	if err := check(s.Reg, model, t); err != nil {
		return nil, err
	}
	rm, err := s.Reg.GetRegisteredModel(ctx, model)
	if err != nil {
		return nil, err // it names the model
	}
	entries, err := RecordedHistory(s.Reg, rm, t)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s of %q: %w", HistoryKey(s.Reg, t), model, err)
	}
	if err := s.detailHistory(ctx, model, t, entries); err != nil {
		return nil, err
	}
	h := &TargetHistory{Target: t, Entries: entries}
	if h.Entries == nil {
		h.Entries = []Record{}
	}
	if t.Alias != "" {
		h.Current = rm.AliasVersion(t.Alias)
	} else if mv, err := s.stageHolder(ctx, model, t.Stage, nil); err != nil {
		return nil, err
	} else if mv != nil {
		h.Current = mv.Version
	}
	if h.Current != "" && (len(entries) == 0 || h.Current != entries[0].Version) {
		// One more read, only when the holder is not the recorded one.
		mv, err := s.Reg.GetModelVersion(ctx, model, h.Current)
		if err != nil && !registry.IsNotFound(err) {
			return nil, fmt.Errorf("failed to read v%s of %q for its audit record: %w", h.Current, model, err)
		}
		if err == nil {
			h.Unfinished = UnfinishedRecord(s.Reg, mv, t, entries)
		}
	}
	h.settle()
	return h, nil
}

// settle sets Recorded and Drift from Current, Entries and Unfinished.
func (h *TargetHistory) settle() {
	h.Recorded = ""
	if len(h.Entries) > 0 {
		h.Recorded = h.Entries[0].Version
	}
	h.Drift = h.Unfinished == nil && h.Recorded != h.Current && (len(h.Entries) > 0 || h.Current != "")
}

// ErrNoRollbackTarget is returned when the history records no earlier holder.
var ErrNoRollbackTarget = errors.New("no earlier version recorded")

// RollbackChoice is where a rollback of a target goes, read from its history.
type RollbackChoice struct {
	// Version is the version to move the target to; with InPlace, the
	// current holder.
	Version string
	// InPlace is set when the rollback asked for is done already: the
	// current holder is the unfinished rollback (or promotion) of an earlier
	// run, whose record the apply completes, or the rollback of this
	// workflow run, re-run.
	InPlace bool
	// Reason says in one line why Version.
	Reason string
	// Drift, when set, says how the registry differs from the history and
	// what the choice made of it.
	Drift string
	// Manifest, when set, warns that the current holder was put there by a
	// desired-state file, whose next apply moves the target back.
	Manifest string
}

// RerunOf identifies the workflow run asking for a rollback: its URL, and
// whether it is a re-run (run attempt 2 or later). Zero outside Actions.
type RerunOf struct {
	RunURL string
	Rerun  bool
}

// holding is one version's time at the target, in the chain of holders.
type holding struct {
	version string
	rec     *Record // the record that put it there; nil: before the oldest entry, or moved outside mlreg-action
}

// holders reads a history (newest first) as the chain of versions that held
// the target, oldest first, each step undone by a rollback taken out. An
// entry's previous version that is not the holder before it is a move
// outside mlreg-action between the two records (outsideMove).
func holders(entries []Record) []holding {
	var c []holding
	for i := len(entries) - 1; i >= 0; i-- {
		e := &entries[i]
		if len(c) == 0 && e.PreviousVersion != "" {
			c = append(c, holding{version: e.PreviousVersion}) // held the target before any record
		}
		c = outsideMove(c, e.PreviousVersion)
		switch {
		case e.Version == e.PreviousVersion:
			// Not a move.
		case e.Action == ActionRollback && len(c) >= 2 && c[len(c)-2].version == e.Version:
			c = c[:len(c)-1] // undoes one step
		default:
			c = append(c, holding{version: e.Version, rec: e})
		}
	}
	return c
}

// outsideMove applies to the chain c a move outside mlreg-action to v ("":
// the target left unheld). Back to a version that held the target earlier in
// c, it returns to that holding, undoing the steps after it, as a rollback
// to it would; to any other version it is a step of its own.
func outsideMove(c []holding, v string) []holding {
	for i := len(c) - 1; i >= 0; i-- {
		if c[i].version == v {
			return c[:i+1]
		}
	}
	if len(c) == 0 && v == "" {
		return c
	}
	return append(c, holding{version: v})
}

// Rollback returns where a rollback of the target goes: the version that
// held it before the current holder's promotion, as the chain of recorded
// holders says (holders), never the current holder. Rollback entries undo
// one step each, so two rollbacks in a row go two steps back.
//
// When the registry differs from the history (Drift), the current holder's
// place in the chain decides: a version that held the target earlier (moved
// back to it by hand) goes to the version before that holding; any other
// version (never recorded there) goes back to the last recorded holder. A
// target left unheld, or a holder with nothing recorded before it, is
// refused with status 1 (ErrPolicyFailed), naming the versions rollback-to
// can take. When the holder is the unfinished move of an earlier run
// (Unfinished), or the rollback of this workflow run re-run, there is
// nothing to move: the choice is the holder, InPlace.
func (h *TargetHistory) Rollback(model string, run RerunOf) (RollbackChoice, error) {
	label := h.Target.Label()
	if u := h.Unfinished; u != nil {
		return RollbackChoice{Version: h.Current, InPlace: true, Reason: fmt.Sprintf(
			"%s holds %s by %s, whose history entry an earlier run did not write: this run completes the record and moves nothing; run rollback again to go further back",
			VersionLabel(h.Current), label, describe(u))}, nil
	}
	if n := h.Entries; run.Rerun && run.RunURL != "" && !h.Drift && len(n) > 0 && n[0].Action == ActionRollback && n[0].RunURL == run.RunURL {
		return RollbackChoice{Version: h.Current, InPlace: true, Reason: fmt.Sprintf(
			"this workflow run rolled %s back to %s already (%s): a re-run changes nothing; start a new run to go further back",
			label, VersionLabel(h.Current), describe(&n[0]))}, nil
	}
	recorded := holders(h.Entries)
	c := recorded
	var choice RollbackChoice
	// none refuses: status 1 over drift, naming what rollback-to can take.
	none := func(why string) error {
		if h.Drift {
			return h.refuse(model, recorded, why)
		}
		return fmt.Errorf("%w: %s", ErrNoRollbackTarget, why)
	}
	if h.Drift {
		choice.Drift = h.DriftMessage(model)
		if h.Current == "" {
			return choice, none("a rollback cannot tell whether to restore the last recorded holder or the one before it")
		}
		c = outsideMove(slices.Clone(c), h.Current)
	}
	if len(c) < 2 {
		return choice, none("the history has no version before " + VersionLabel(h.Current))
	}
	to, top := c[len(c)-2], c[len(c)-1]
	if to.version == "" {
		return choice, none(fmt.Sprintf("the history has no version before %s: %s was put there when nothing held %s",
			VersionLabel(h.Current), VersionLabel(top.version), label))
	}
	if !digits.MatchString(to.version) {
		return choice, none(fmt.Sprintf("the history names %s before %s, which is not a version number", VersionLabel(to.version), VersionLabel(h.Current)))
	}
	choice.Version = to.version
	if top.rec == nil {
		choice.Reason = fmt.Sprintf("%s held %s before it was moved to %s outside mlreg-action",
			VersionLabel(to.version), label, VersionLabel(top.version))
	} else {
		choice.Reason = fmt.Sprintf("%s held %s before %s", VersionLabel(to.version), label, describe(top.rec))
		if m := top.rec.Manifest; m != "" {
			choice.Manifest = fmt.Sprintf("%s was put on %s by the desired-state file %q: change it there too, or its next apply moves %s back to %s",
				label, VersionLabel(top.version), m, label, VersionLabel(top.version))
		}
	}
	return choice, nil
}

// refuse is the error of a rollback that drift leaves without a version:
// status 1, naming what rollback-to can take (the chain c, newest last).
func (h *TargetHistory) refuse(model string, c []holding, why string) error {
	var options []string
	for i := len(c) - 1; i >= 0 && len(options) < 2; i-- {
		if v := c[i].version; v != "" && v != h.Current && digits.MatchString(v) {
			options = append(options, v)
		}
	}
	hint := "set rollback-to to the version to restore"
	switch len(options) {
	case 1:
		hint += fmt.Sprintf(" (%s held it last in the history)", VersionLabel(options[0]))
	case 2:
		hint += fmt.Sprintf(" (%s held it last in the history, %s before it)", VersionLabel(options[0]), VersionLabel(options[1]))
	}
	return &driftRefusal{fmt.Sprintf("drift: %s; %s: %s", h.DriftMessage(model), why, hint)}
}

// driftRefusal is a rollback refused over drift: status 1, as a failed
// policy (ErrPolicyFailed), and no earlier version (ErrNoRollbackTarget).
type driftRefusal struct{ msg string }

func (e *driftRefusal) Error() string { return e.msg }
func (e *driftRefusal) Is(target error) bool {
	return target == ErrPolicyFailed || target == ErrNoRollbackTarget
}

// describe names the move a record is of, e.g. "the promotion of v3 at
// 2026-11-25T12:00:00Z". Only the version, the kind of move and a time that
// parses reach the text: the record is registry text.
func describe(r *Record) string {
	what := "the promotion of "
	if r.Action == ActionRollback {
		what = "the rollback to "
	}
	s := what + VersionLabel(r.Version)
	if at, err := time.Parse(time.RFC3339, r.At); err == nil {
		s += " at " + at.UTC().Format(time.RFC3339)
	}
	return s
}

// detailHistory replaces each compact entry of a history (a registry whose
// history tag keeps compact entries, such as Unity Catalog's) with the full
// record on its version's promotion tag, when that record is the same move
// (same time and previous version): a version promoted to the target again
// since keeps only its newest record, so older moves stay compact, as do
// moves of versions deleted since. Each version is read once.
func (s *Service) detailHistory(ctx context.Context, model string, t checks.Target, h []Record) error {
	key := PromotionKey(s.Reg, t)
	read := map[string]*Record{}
	for i, e := range h {
		if !e.Compact {
			continue
		}
		full, seen := read[e.Version]
		if !seen {
			mv, err := s.Reg.GetModelVersion(ctx, model, e.Version)
			switch {
			case registry.IsNotFound(err):
			case err != nil:
				return fmt.Errorf("failed to read v%s of %q for its audit record: %w", e.Version, model, err)
			default:
				if v, ok := mv.Tag(key); ok {
					var rec Record
					if json.Unmarshal([]byte(v), &rec) == nil {
						full = &rec
					}
				}
			}
			read[e.Version] = full
		}
		if full != nil && full.At == e.At && full.PreviousVersion == e.PreviousVersion {
			rec := *full
			rec.Version, rec.Action = e.Version, cmp.Or(rec.Action, e.Action)
			h[i] = rec
		}
	}
	return nil
}
