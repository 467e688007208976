package promote

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mlreg/mlreg-action/internal/registry"
)

// Outcome is what Apply did.
type Outcome struct {
	Changed bool     `json:"changed"`
	Moves   []string `json:"moves"`           // applied moves, e.g. "@champion: v3 → v5"
	Notes   []string `json:"notes,omitempty"` // e.g. "audit record completed"
	// Previous maps a target label to the version that held it before (may be "").
	Previous map[string]string `json:"previous"`
}

// Apply moves every target of a passing plan to the candidate, verifies the
// move by reading it back, and writes the audit record. It first re-reads each
// target and stops with ErrConflict, changing nothing, if a holder differs from
// the plan or from Request.Expected.
func (s *Service) Apply(ctx context.Context, plan *Plan) (*Outcome, error) {
	if plan.Verdict == "fail" {
		return nil, fmt.Errorf("%w: refusing to apply a failing plan", ErrPolicyFailed)
	}
	s.phase("apply")
	out := &Outcome{Previous: map[string]string{}}
	work, lock, err := s.acquire(ctx, plan.Model, out)
	if err != nil {
		return nil, fmt.Errorf("%w; nothing was changed", err)
	}
	defer lock.release(ctx, out)
	if err := s.applyLocked(work, plan, out); err != nil {
		if lost := lock.lostErr(); lost != nil {
			// The work's context was cancelled: say why.
			return nil, fmt.Errorf("%w; the promotion stopped because it %w", err, lost)
		}
		return nil, err
	}
	return out, nil
}

// applyLocked is Apply under the lock: ctx ends if the lock is lost.
func (s *Service) applyLocked(ctx context.Context, plan *Plan, out *Outcome) error {
	req := plan.req
	// Compare-and-set: re-read every target before moving any.
	holders := make([]string, len(plan.Targets))
	for i, t := range plan.Targets {
		cur, err := s.currentHolder(ctx, plan.Model, t)
		if err != nil {
			return fmt.Errorf("%w; nothing was changed", err)
		}
		holders[i] = cur
		want := t.Current
		if req.Expected.Set {
			want = req.Expected.Version
		}
		if cur != want && cur != plan.Candidate.Version {
			return fmt.Errorf("%w: %s of %q is held by %s, the plan expected %s; nothing was changed",
				ErrConflict, t.Label(), plan.Model, VersionLabel(cur), VersionLabel(want))
		}
		out.Previous[t.Label()] = cur
	}
	if err := s.checkTagRoom(ctx, plan, holders); err != nil {
		return fmt.Errorf("%w; nothing was changed", err)
	}

	// The version's promotion tag is written before the move: should the run
	// stop after moving, a rerun finds it and completes the history from it.
	now := s.now()
	var moved []string
	for i, t := range plan.Targets {
		if holders[i] == plan.Candidate.Version {
			continue
		}
		rec := s.Reg.FitRecord(s.record(plan, holders[i], now))
		if err := s.Reg.SetModelVersionTag(ctx, plan.Model, plan.Candidate.Version, PromotionKey(s.Reg, t.Target), rec.JSON()); err != nil {
			return s.partial(moved, "write the promotion tag of "+t.Label(), err)
		}
		if err := s.move(ctx, plan, t); err != nil {
			if len(moved) > 0 {
				return &PartialError{Moved: moved, Step: "move " + t.Label(), Err: err}
			}
			return moveError(t.Target, plan.Candidate.Version, err)
		}
		moved = append(moved, fmt.Sprintf("%s: %s → v%s", t.Label(), VersionLabel(holders[i]), plan.Candidate.Version))
	}
	out.Moves, out.Changed = moved, len(moved) > 0

	// Read back: one registered-model read verifies aliases and gives the
	// freshest history tags for the audit record.
	s.phase("record")
	rm, err := s.Reg.GetRegisteredModel(ctx, plan.Model)
	if err != nil {
		return s.partial(moved, "read back the registered model", err)
	}
	for _, t := range plan.Targets {
		if t.Alias == "" {
			continue
		}
		if got := rm.AliasVersion(t.Alias); got != plan.Candidate.Version {
			return fmt.Errorf("%w: lost a concurrent promotion: %s of %q now points to %s, not v%s",
				ErrConflict, t.Label(), plan.Model, VersionLabel(got), plan.Candidate.Version)
		}
	}

	for i, t := range plan.Targets {
		prev := holders[i]
		if prev == plan.Candidate.Version {
			// Already in place: complete a record a failed earlier run left out.
			done, err := s.completeRecord(ctx, plan, t, rm, now)
			if err != nil {
				return s.partial(moved, "complete the audit record of "+t.Label(), err)
			}
			if done {
				out.Notes = append(out.Notes, "completed the audit record of "+t.Label()+" left unfinished by an earlier run")
			}
			continue
		}
		if err := s.recordMove(ctx, plan, t, rm, prev, now); err != nil {
			return s.partial(moved, err.step, err.err)
		}
	}
	return nil
}

// stepError is a failed step of the record and the words that name it.
type stepError struct {
	step string
	err  error
}

// recordMove writes the history entry of a move of t from prev and, with
// archive-existing, marks prev as replaced. The two are independent writes
// (the model's tag, prev's tag), sent at once: one round trip, not two. A
// rerun completes whichever of them failed.
func (s *Service) recordMove(ctx context.Context, plan *Plan, t TargetPlan, rm *registry.RegisteredModel, prev string, now time.Time) *stepError {
	var markErr error
	var wg sync.WaitGroup
	if plan.req.ArchiveExisting && t.Alias != "" && prev != "" {
		wg.Go(func() { markErr = s.markReplaced(ctx, plan, t, prev, now) })
	}
	histErr := s.appendHistory(ctx, plan.Model, t.Target, rm, s.record(plan, prev, now))
	wg.Wait()
	history, mark := "write the audit record of "+t.Label(), fmt.Sprintf("mark v%s as replaced", prev)
	switch {
	case histErr != nil && markErr != nil:
		return &stepError{step: history + " and " + mark, err: errors.Join(histErr, markErr)}
	case histErr != nil:
		return &stepError{step: history, err: histErr}
	case markErr != nil:
		return &stepError{step: mark, err: markErr}
	}
	return nil
}

func (s *Service) partial(moved []string, step string, err error) error {
	if len(moved) == 0 {
		return fmt.Errorf("failed to %s: %w; nothing was moved", step, err)
	}
	return &PartialError{Moved: moved, Step: step, Err: err}
}

// currentHolder re-reads the version holding a target ("" when unheld).
func (s *Service) currentHolder(ctx context.Context, model string, t TargetPlan) (string, error) {
	if t.Alias != "" {
		mv, err := s.aliasHolder(ctx, model, t.Alias)
		if err != nil || mv == nil {
			return "", err
		}
		return mv.Version, nil
	}
	mv, err := s.stageHolder(ctx, model, t.Stage, nil)
	if err != nil || mv == nil {
		return "", err
	}
	return mv.Version, nil
}

func (s *Service) move(ctx context.Context, plan *Plan, t TargetPlan) error {
	v := plan.Candidate.Version
	if t.Alias != "" {
		return s.Reg.SetAlias(ctx, plan.Model, t.Alias, v) // its error names the alias, the model and the version
	}
	// MLflow archives existing versions only for active stages; asking for it
	// on None or Archived is a server error. A rollback always archives them:
	// a higher version left in the stage (the one rolled away from, as a
	// rule) would go on being the one the stage resolves to.
	archive := (plan.req.ArchiveExisting || plan.req.Action == ActionRollback) &&
		(t.Stage == registry.StageStaging || t.Stage == registry.StageProduction)
	mv, err := s.Reg.TransitionStage(ctx, plan.Model, v, t.Stage, archive)
	if err != nil {
		return err // it names the model, the version and the stage
	}
	if mv.CurrentStage != t.Stage {
		return fmt.Errorf("%w: %q v%s is in stage %q after the transition to %s",
			ErrConflict, plan.Model, v, mv.CurrentStage, t.Stage)
	}
	return nil
}

func (s *Service) record(plan *Plan, prev string, now time.Time) Record {
	action := plan.req.Action
	if action == "" {
		action = ActionPromote
	}
	var approvers []string
	for _, c := range plan.Checks {
		approvers = append(approvers, c.Approvers...)
	}
	slices.Sort(approvers) // one reviewer may approve both the environment and the pull request
	approvers = slices.Compact(approvers)
	m := plan.req.Manifest
	return Record{
		Approvers:       approvers,
		Version:         plan.Candidate.Version,
		PreviousVersion: prev,
		Action:          action,
		At:              now.Format(time.RFC3339),
		By:              plan.req.Actor,
		RunURL:          plan.req.RunURL,
		Commit:          plan.req.Commit,
		PolicyDigest:    plan.PolicyDigest,
		PlanDigest:      cmp.Or(m.PlanDigest, plan.Digest),
		Verdict:         plan.Verdict,
		Manifest:        m.Path,
		ManifestEntry:   m.EntryDigest,
	}
}

// VersionLabel names a version in a message or a report: "v7", "none" for
// "" (an unheld target), and a value that is not a version number
// (registry text, from a history tag written by hand) quoted, so that it
// can break no line. It is the one spelling of a holder, "v15" or "none",
// for every package.
func VersionLabel(v string) string {
	switch {
	case v == "":
		return "none"
	case digits.MatchString(v):
		return "v" + v
	}
	return "version " + strconv.Quote(v)
}

// ErrTagLimit is wrapped by the error of a promotion that would give an
// object more tags than the registry allows; nothing is changed.
var ErrTagLimit = registry.ErrTagLimit

// checkTagRoom makes sure, before anything moves, that the registered model
// and the candidate can take the new tags of this promotion, on a registry
// that limits the tags of an object (registry.Rules.MaxTagsPerObject):
// otherwise the alias would move and the audit record could not be written.
func (s *Service) checkTagRoom(ctx context.Context, plan *Plan, holders []string) error {
	limit := s.Reg.MaxTagsPerObject()
	if limit <= 0 {
		return nil
	}
	rm, err := s.Reg.GetRegisteredModel(ctx, plan.Model)
	if err != nil {
		return err // it names the model
	}
	var modelKeys, versionKeys []string
	for i, t := range plan.Targets {
		if holders[i] == plan.Candidate.Version {
			continue
		}
		modelKeys = append(modelKeys, HistoryKey(s.Reg, t.Target))
		versionKeys = append(versionKeys, PromotionKey(s.Reg, t.Target))
	}
	room := func(what string, tags []registry.Tag, keys []string) error {
		n := len(tags)
		for _, k := range keys {
			if !slices.ContainsFunc(tags, func(t registry.Tag) bool { return t.Key == k }) {
				n++
			}
		}
		if n > limit {
			return fmt.Errorf("%s has %d tags and this promotion adds %s: %w (at most %d tags per object); remove a tag of yours and rerun",
				what, len(tags), strings.Join(keys, ", "), ErrTagLimit, limit)
		}
		return nil
	}
	if err := room(fmt.Sprintf("registered model %q", plan.Model), rm.Tags, modelKeys); err != nil {
		return err
	}
	return room(fmt.Sprintf("%q v%s", plan.Model, plan.Candidate.Version), plan.candidate.Tags, versionKeys)
}
