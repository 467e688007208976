package promote

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// Audit tag key prefixes (README, "Audit record, in MLflow"), as written; the
// registry stores each key in its own form (registry.Rules.TagKey).
const (
	PromotionTagPrefix = "mlreg.promotion." // on the promoted version
	HistoryTagPrefix   = "mlreg.history."   // on the registered model: JSON array, newest first
	ReplacedTagPrefix  = "mlreg.replaced."  // on the previous holder, with archive-existing
)

// PromotionTagKey is the version tag that records its promotion to t (as
// written; PromotionKey is the key stored).
func PromotionTagKey(t checks.Target) string { return PromotionTagPrefix + t.TagSuffix() }

// HistoryTagKey is the registered-model tag holding t's history.
func HistoryTagKey(t checks.Target) string { return HistoryTagPrefix + t.TagSuffix() }

// ReplacedTagKey is the version tag that marks a version replaced at t.
func ReplacedTagKey(t checks.Target) string { return ReplacedTagPrefix + t.TagSuffix() }

// PromotionKey is the key under which r stores the promotion tag of t.
func PromotionKey(r registry.Rules, t checks.Target) string { return r.TagKey(PromotionTagKey(t)) }

// HistoryKey is the key under which r stores the history tag of t.
func HistoryKey(r registry.Rules, t checks.Target) string { return r.TagKey(HistoryTagKey(t)) }

// ReplacedKey is the key under which r stores the replaced mark of t.
func ReplacedKey(r registry.Rules, t checks.Target) string { return r.TagKey(ReplacedTagKey(t)) }

// Record is one audit entry: the promotion tag on a version, and an element
// of the history tag on the registered model (see registry.Record).
type Record = registry.Record

// RecordedHistory returns the recorded history of target t on rm, newest
// first, as r lays it out (registry.Rules.ParseHistory).
func RecordedHistory(r registry.Rules, rm *registry.RegisteredModel, t checks.Target) ([]Record, error) {
	v, _ := rm.Tag(HistoryKey(r, t))
	return r.ParseHistory(v)
}

func (s *Service) appendHistory(ctx context.Context, model string, t checks.Target, rm *registry.RegisteredModel, rec Record) error {
	h, err := RecordedHistory(s.Reg, rm, t)
	if err != nil {
		// A corrupted history must not block promotions; start it again, keeping
		// nothing we cannot read. The old value stays visible in MLflow's UI until overwritten.
		h = nil
	}
	h = append([]Record{rec}, h...)
	// Its error names the tag and the model; the caller says what it was for.
	return s.Reg.SetRegisteredModelTag(ctx, model, HistoryKey(s.Reg, t), s.Reg.EncodeHistory(h))
}

// isUnfinished reports whether rec, the promotion record on a version that
// holds its target, is of a move the history h (newest first) lacks: an
// earlier run moved the target and stopped before writing the entry. It is
// when the history is empty, when rec is newer than the newest entry, or
// when it is as new and moved the target from the version that entry put
// there. A record older than the newest entry, or as old and from another
// version, is of an earlier promotion of the version: the target was moved
// back to it outside mlreg-action since.
func isUnfinished(rec Record, h []Record) bool {
	if len(h) == 0 || rec.At > h[0].At {
		return true
	}
	return rec.At == h[0].At && rec.PreviousVersion == h[0].Version
}

// UnfinishedRecord returns the promotion record of t on mv, which holds t,
// when the history h (newest first; its newest entry is all it reads) lacks
// it (isUnfinished), with its version set; nil otherwise (no record, an
// unreadable one, or a stale one). It is the one rule of an unfinished
// record: history reports it, rollback and a promotion complete it, and so
// does the apply of a manifest.
func UnfinishedRecord(r registry.Rules, mv *registry.ModelVersion, t checks.Target, h []Record) *Record {
	v, ok := mv.Tag(PromotionKey(r, t))
	if !ok {
		return nil
	}
	var rec Record
	if err := json.Unmarshal([]byte(v), &rec); err != nil || !isUnfinished(rec, h) {
		return nil
	}
	rec.Version = mv.Version
	return &rec
}

// completeRecord finishes the audit record of a target the candidate already
// holds, when an earlier run stopped after moving it: the history entry (from
// the promotion tag written before the move) and, with archive-existing, the
// mark on the version it replaced. It reports whether it wrote anything.
func (s *Service) completeRecord(ctx context.Context, plan *Plan, t TargetPlan, rm *registry.RegisteredModel, now time.Time) (bool, error) {
	h, _ := RecordedHistory(s.Reg, rm, t.Target)
	if len(h) > 0 && h[0].Version == plan.Candidate.Version {
		// The history is complete; the earlier run may have stopped before
		// marking the previous holder.
		return s.completeReplaced(ctx, plan, t, h[0], now)
	}
	u := UnfinishedRecord(s.Reg, plan.candidate, t.Target, h)
	if u == nil {
		// Moved outside this tool (history reports it as drift), or a stale
		// record of an earlier promotion: nothing of ours to complete.
		return false, nil
	}
	rec := *u
	if err := s.appendHistory(ctx, plan.Model, t.Target, rm, rec); err != nil {
		return false, err
	}
	if _, err := s.completeReplaced(ctx, plan, t, rec, now); err != nil {
		return true, err
	}
	return true, nil
}

// completeReplaced writes the mark on the version that rec's promotion
// replaced, when archive-existing asks for one and it is missing. It reports
// whether it wrote it.
func (s *Service) completeReplaced(ctx context.Context, plan *Plan, t TargetPlan, rec Record, now time.Time) (bool, error) {
	prev := rec.PreviousVersion
	if !plan.req.ArchiveExisting || t.Alias == "" || prev == "" || prev == plan.Candidate.Version {
		return false, nil
	}
	mv, err := s.Reg.GetModelVersion(ctx, plan.Model, prev)
	if registry.IsNotFound(err) {
		return false, nil // deleted since
	}
	if err != nil {
		return false, fmt.Errorf("failed to read v%s, which %s replaced: %w", prev, t.Label(), err)
	}
	if v, ok := mv.Tag(ReplacedKey(s.Reg, t.Target)); ok {
		var mark struct {
			ByVersion string `json:"by_version"`
		}
		if json.Unmarshal([]byte(v), &mark) == nil && mark.ByVersion == plan.Candidate.Version {
			return false, nil
		}
	}
	if at, err := time.Parse(time.RFC3339, rec.At); err == nil {
		now = at
	}
	if err := s.markReplaced(ctx, plan, t, prev, now); err != nil {
		return false, err
	}
	return true, nil
}

func (s *Service) markReplaced(ctx context.Context, plan *Plan, t TargetPlan, prev string, now time.Time) error {
	v, err := json.Marshal(map[string]string{
		"by_version": plan.Candidate.Version,
		"at":         now.Format(time.RFC3339),
		// The run URL as the registry keeps it in a record.
		"run_url": s.Reg.FitRecord(Record{RunURL: plan.req.RunURL}).RunURL,
	})
	if err != nil {
		return fmt.Errorf("failed to marshal replaced tag: %w", err)
	}
	// Its error names the tag and the version; the caller says what it was for.
	return s.Reg.SetModelVersionTag(ctx, plan.Model, prev, ReplacedKey(s.Reg, t.Target), string(v))
}
