package promote

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
)

// Audit tag key prefixes (SPEC "Audit record, in MLflow").
const (
	PromotionTagPrefix = "mlreg.promotion." // on the promoted version
	HistoryTagPrefix   = "mlreg.history."   // on the registered model: JSON array, newest first
	ReplacedTagPrefix  = "mlreg.replaced."  // on the previous holder, with archive-existing
	// MaxHistoryChars bounds the history tag well under MLflow's 100,000-character limit;
	// the oldest entries are dropped first.
	MaxHistoryChars = 50000
)

// PromotionTagKey is the version tag that records its promotion to t (as
// written; Dialect.PromotionTagKey is the key stored).
func PromotionTagKey(t checks.Target) string { return PromotionTagPrefix + t.TagSuffix() }

// HistoryTagKey is the registered-model tag holding t's history.
func HistoryTagKey(t checks.Target) string { return HistoryTagPrefix + t.TagSuffix() }

// ReplacedTagKey is the version tag that marks a version replaced at t.
func ReplacedTagKey(t checks.Target) string { return ReplacedTagPrefix + t.TagSuffix() }

// Record is one audit entry: the promotion tag on a version, and an element of
// the history tag on the registered model.
type Record struct {
	Version         string   `json:"version,omitempty"`
	PreviousVersion string   `json:"previous_version"`
	Action          string   `json:"action,omitempty"` // promote, rollback
	At              string   `json:"at"`
	By              string   `json:"by"`
	RunURL          string   `json:"run_url"`
	Commit          string   `json:"commit"`
	PolicyDigest    string   `json:"policy_digest"`
	PlanDigest      string   `json:"plan_digest"`
	Verdict         string   `json:"verdict"`
	Approvers       []string `json:"approvers,omitempty"`
	// ApproversOmitted counts the approvers left out to fit the record in
	// Unity Catalog's tag value (FitRecord); never set on OSS.
	ApproversOmitted int `json:"approvers_omitted,omitempty"`
	// Manifest is the desired-state file of a promotion from a manifest, and
	// ManifestEntry the digest of its entry in the manifest plan.
	Manifest      string `json:"manifest,omitempty"`
	ManifestEntry string `json:"manifest_entry,omitempty"`
}

// JSON renders the record as the tag value.
func (r Record) JSON() string {
	b, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("failed to marshal audit record: %v", err))
	}
	return string(b)
}

// ParseHistory decodes a history tag value. An empty value is an empty history.
func ParseHistory(v string) ([]Record, error) {
	if v == "" {
		return nil, nil
	}
	var h []Record
	if err := json.Unmarshal([]byte(v), &h); err != nil {
		return nil, fmt.Errorf("failed to parse history tag: %w", err)
	}
	return h, nil
}

// History returns the recorded history of target t on rm, newest first
// (on MLflow's OSS registry; see Dialect.History).
func History(rm *mlflow.RegisteredModel, t checks.Target) ([]Record, error) {
	return Dialect{}.History(rm, t)
}

// History returns the recorded history of target t on rm, newest first: the
// full records on OSS, the compact entries on Unity Catalog
// (ParseCompactHistory; Service.History adds their details).
func (d Dialect) History(rm *mlflow.RegisteredModel, t checks.Target) ([]Record, error) {
	v, _ := rm.Tag(d.HistoryTagKey(t))
	if d.uc {
		return ParseCompactHistory(v)
	}
	return ParseHistory(v)
}

// encodeHistory renders the history newest first, dropping the oldest entries
// until it fits in MaxHistoryChars (on OSS).
func encodeHistory(h []Record) string { return Dialect{}.encodeHistory(h) }

// encodeHistory renders the history newest first, dropping the oldest entries
// until it fits in HistoryBound: full records on OSS, compact entries on
// Unity Catalog.
func (d Dialect) encodeHistory(h []Record) string {
	if d.uc {
		return EncodeCompactHistory(h, d.HistoryBound())
	}
	for {
		b, err := json.Marshal(h)
		if err != nil {
			panic(fmt.Sprintf("failed to marshal history: %v", err))
		}
		if len(b) <= MaxHistoryChars || len(h) <= 1 {
			return string(b)
		}
		h = h[:len(h)-1]
	}
}

func (s *Service) appendHistory(ctx context.Context, model string, t checks.Target, rm *mlflow.RegisteredModel, rec Record) error {
	d := s.Dialect
	h, err := d.History(rm, t)
	if err != nil {
		// A corrupted history must not block promotions; start it again, keeping
		// nothing we cannot read. The old value stays visible in MLflow's UI until overwritten.
		h = nil
	}
	h = append([]Record{rec}, h...)
	// Its error names the tag and the model; the caller says what it was for.
	return s.Reg.SetRegisteredModelTag(ctx, model, d.HistoryTagKey(t), d.encodeHistory(h))
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

// unfinishedRecord returns the promotion record of t on mv, which holds t,
// when the history h lacks it (isUnfinished), with its version set; nil
// otherwise (no record, an unreadable one, or a stale one).
func (d Dialect) unfinishedRecord(mv *mlflow.ModelVersion, t checks.Target, h []Record) *Record {
	v, ok := mv.Tag(d.PromotionTagKey(t))
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
func (s *Service) completeRecord(ctx context.Context, plan *Plan, t TargetPlan, rm *mlflow.RegisteredModel, now time.Time) (bool, error) {
	h, _ := s.Dialect.History(rm, t.Target)
	if len(h) > 0 && h[0].Version == plan.Candidate.Version {
		// The history is complete; the earlier run may have stopped before
		// marking the previous holder.
		return s.completeReplaced(ctx, plan, t, h[0], now)
	}
	u := s.Dialect.unfinishedRecord(plan.candidate, t.Target, h)
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
	if mlflow.IsNotFound(err) {
		return false, nil // deleted since
	}
	if err != nil {
		return false, fmt.Errorf("failed to read v%s, which %s replaced: %w", prev, t.Label(), err)
	}
	if v, ok := mv.Tag(s.Dialect.ReplacedTagKey(t.Target)); ok {
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
	runURL := plan.req.RunURL
	if s.Dialect.uc {
		runURL = truncateJSON(runURL, maxRecordRunURL)
	}
	v, err := json.Marshal(map[string]string{
		"by_version": plan.Candidate.Version,
		"at":         now.Format(time.RFC3339),
		"run_url":    runURL,
	})
	if err != nil {
		return fmt.Errorf("failed to marshal replaced tag: %w", err)
	}
	// Its error names the tag and the version; the caller says what it was for.
	return s.Reg.SetModelVersionTag(ctx, plan.Model, prev, s.Dialect.ReplacedTagKey(t.Target), string(v))
}
