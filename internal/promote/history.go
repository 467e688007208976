package promote

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"

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
		h.Target.Label(), model, verLabel(h.Current), verLabel(h.Recorded))
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
		return nil, fmt.Errorf("failed to get registered model %q: %w", model, err)
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
	if len(entries) > 0 {
		h.Recorded = entries[0].Version
	}
	h.Drift = h.Recorded != h.Current && (len(entries) > 0 || h.Current != "")
	return h, nil
}

// ErrNoRollbackTarget is returned when the history records no earlier holder.
var ErrNoRollbackTarget = errors.New("no earlier version recorded")

// RollbackTarget returns the version a rollback moves the target to: the one
// that held it before the current recorded holder. Rollback entries undo one
// step each, so two rollbacks in a row go two steps back.
func RollbackTarget(entries []Record) (string, error) {
	var stack []string
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if e.Action == "rollback" && len(stack) >= 2 && stack[len(stack)-2] == e.Version {
			stack = stack[:len(stack)-1]
			continue
		}
		if len(stack) == 0 && e.PreviousVersion != "" {
			// The oldest entry's predecessor held the target before any record.
			stack = append(stack, e.PreviousVersion)
		}
		stack = append(stack, e.Version)
	}
	if len(stack) < 2 {
		return "", fmt.Errorf("%w: the history has no version before %s", ErrNoRollbackTarget, verLabel(last(stack)))
	}
	return stack[len(stack)-2], nil
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
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
