package fleet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/outcome"
	"github.com/mlreg/mlreg-action/internal/promote"
)

// ApplyOptions configure Apply.
type ApplyOptions struct {
	Parallelism int // entries applied at once; 0 means DefaultParallelism
	// ExpectedDigest, when set, is the digest of the reviewed plan: a plan
	// that differs applies nothing (promote.ErrConflict). Entries that an
	// earlier run of the reviewed plan applied count as reviewed.
	ExpectedDigest string
}

// EntryResult is what Apply did with one entry.
type EntryResult struct {
	// Outcome is InPlace, WouldChange, Blocked, Promoted, Failed (a registry
	// error, when planning or applying) or Conflict.
	Outcome  outcome.Outcome
	Changed  bool             // the registry was changed for this entry
	Err      error            // failed or conflict: why
	Promote  *promote.Outcome // changes applied, and records completed
	Notes    []string
	Requests int // registry calls made while applying this entry
}

// Result is what Apply did, entry by entry (parallel to Plan.Entries).
type Result struct {
	Plan    *FleetPlan
	Entries []EntryResult
	// Resumed is set when the plan differed from the reviewed one only by
	// entries an earlier run of the reviewed plan applied.
	Resumed bool
	// Requests is the number of registry calls Apply made.
	Requests int
	// RecordDigest names the apply across reruns: the plan digest that its
	// audit records carry. It is the digest this run applied under (the
	// reviewed one when Resumed) when it changed an entry; when it changed
	// none, the one of the newest record of this manifest among the entries
	// in place (the run that put them there), else this plan's. "" when
	// Apply refused the plan.
	RecordDigest string
}

// Changed reports whether any entry changed the registry.
func (r *Result) Changed() bool {
	for _, er := range r.Entries {
		if er.Changed {
			return true
		}
	}
	return false
}

// Apply applies fp, a plan made in this run, through svc.
//
// It applies nothing, and returns an error, when fp has an error entry
// (fp.Err), when a change fails the policy (promote.ErrPolicyFailed), or when
// opts.ExpectedDigest is set and fp is not the reviewed plan
// (promote.ErrConflict). Otherwise it applies every change as a single
// promotion is applied, with its audit record naming the manifest, and
// completes the audit records an earlier run left unfinished. An entry that
// fails does not stop the others; the error then wraps a registry error when
// any entry had one, else a conflict.
func Apply(ctx context.Context, svc *promote.Service, fp *FleetPlan, opts ApplyOptions) (*Result, error) {
	res := &Result{Plan: fp, Entries: make([]EntryResult, len(fp.Entries))}
	for i, e := range fp.Entries {
		res.Entries[i].Outcome = planOutcome(e)
	}
	par, err := parallelism(opts.Parallelism)
	if err != nil {
		return res, err
	}
	if err := fp.Err(); err != nil {
		return res, err
	}
	if err := fp.PolicyErr(); err != nil {
		return res, err
	}

	a := &applier{svc: svc, fp: fp, res: res, sem: make(chan struct{}, par),
		counts: make([]atomic.Int64, len(fp.Entries))}
	defer a.total()
	// Targets in place without their history record: read each version's
	// promotion tag (one request each) to tell a promotion an earlier run
	// left unfinished from a move by hand.
	unfinished := a.unfinishedRecords(ctx)

	planDigest := fp.Digest
	if want := opts.ExpectedDigest; want != "" && want != fp.Digest {
		if !a.resumes(want, unfinished) {
			return res, fmt.Errorf("%w: the plan of %s is %s, not the reviewed %s: the registry or the policy changed "+
				"since the review; nothing was applied, validate again", promote.ErrConflict, fp.Manifest, fp.Digest, want)
		}
		res.Resumed, planDigest = true, want
	}

	var wg sync.WaitGroup
	for _, g := range groupByModel(fp.Entries) {
		var todo []int
		for _, i := range g {
			if fp.Entries[i].Status == StatusChange || unfinished[i] != nil {
				todo = append(todo, i)
			}
		}
		if len(todo) == 0 {
			continue
		}
		// One model's entries one after the other: they take the same lock.
		wg.Go(func() {
			a.slot(func() {
				for _, i := range todo {
					a.applyEntry(ctx, i, planDigest)
				}
			})
		})
	}
	wg.Wait()
	a.total()
	res.RecordDigest = recordDigest(fp, res, planDigest)
	return res, res.err()
}

// recordDigest is Result.RecordDigest.
func recordDigest(fp *FleetPlan, res *Result, applied string) string {
	if res.Changed() {
		return applied
	}
	var newest *promote.Record
	for _, e := range fp.Entries {
		rec := e.newest
		if e.Status == StatusUnchanged && rec != nil && rec.Version == e.Desired && rec.Manifest == fp.Manifest &&
			rec.PlanDigest != "" && (newest == nil || rec.At > newest.At) {
			newest = rec
		}
	}
	if newest != nil {
		return newest.PlanDigest
	}
	return fp.Digest
}

// planOutcome is an entry's outcome before anything is applied.
func planOutcome(e *Entry) outcome.Outcome {
	switch {
	case e.Status == StatusUnchanged:
		return outcome.InPlace
	case e.Status == StatusError:
		return outcome.Failed
	case e.Verdict == checks.VerdictFail:
		return outcome.Blocked
	}
	return outcome.WouldChange
}

type applier struct {
	svc    *promote.Service
	fp     *FleetPlan
	res    *Result
	sem    chan struct{}
	counts []atomic.Int64
}

func (a *applier) slot(fn func()) {
	a.sem <- struct{}{}
	defer func() { <-a.sem }()
	fn()
}

func (a *applier) total() {
	a.res.Requests = 0
	for i := range a.res.Entries {
		a.res.Entries[i].Requests = int(a.counts[i].Load())
		a.res.Requests += a.res.Entries[i].Requests
	}
}

// unfinishedRecords returns, by entry index, the promotion record of each
// unchanged entry whose history does not end with it while the desired
// version carries a record of a move the history lacks (promote's rule,
// promote.UnfinishedRecord): the move of an earlier run that stopped before
// writing the history.
func (a *applier) unfinishedRecords(ctx context.Context) map[int]*promote.Record {
	var (
		mu  sync.Mutex
		out = map[int]*promote.Record{}
		wg  sync.WaitGroup
	)
	for i, e := range a.fp.Entries {
		if !e.recordGap() {
			continue
		}
		wg.Go(func() {
			a.slot(func() {
				mv, err := counted(a.svc, &a.counts[i]).Reg.GetModelVersion(ctx, e.Model, e.Desired)
				if err != nil {
					// Unreadable now: nothing to complete that this run can see.
					return
				}
				var newest []promote.Record
				if e.newest != nil {
					newest = []promote.Record{*e.newest}
				}
				rec := promote.UnfinishedRecord(a.svc.Reg, mv, e.Target, newest)
				if rec == nil {
					return // moved by hand, or the record of an earlier promotion: nothing of ours to complete
				}
				mu.Lock()
				out[i] = rec
				mu.Unlock()
			})
		})
	}
	wg.Wait()
	return out
}

// resumes reports whether the plan is the reviewed plan (digest want) with
// some entries applied since by a run of it: each entry now in place whose
// audit record says so counts with the digest it had in the reviewed plan.
func (a *applier) resumes(want string, unfinished map[int]*promote.Record) bool {
	subst := map[int]string{}
	for i, e := range a.fp.Entries {
		if e.Status != StatusUnchanged {
			continue
		}
		rec := unfinished[i]
		if rec == nil && e.newest != nil && e.newest.Version == e.Desired {
			rec = e.newest
		}
		if rec != nil && rec.PlanDigest == want && rec.ManifestEntry != "" {
			subst[i] = rec.ManifestEntry
		}
	}
	return len(subst) > 0 && a.fp.digest(subst) == want
}

// applyEntry applies one change, or completes one unfinished record.
func (a *applier) applyEntry(ctx context.Context, i int, planDigest string) {
	e, er := a.fp.Entries[i], &a.res.Entries[i]
	svc := counted(a.svc, &a.counts[i])
	if err := ctx.Err(); err != nil {
		er.Outcome, er.Err = outcome.Failed, a.entryErr(e, fmt.Errorf("not applied: %w", err))
		return
	}
	plan := e.Plan
	if e.Status == StatusUnchanged {
		// Complete the record: a plan of the version in place, without the
		// policy (the record written before the move has the verdict).
		p, err := svc.Plan(ctx, promote.Request{
			Model: e.Model, Version: promote.Version(e.Desired), Target: e.Target, ArchiveExisting: a.fp.opts.ArchiveExisting,
			Actor: a.fp.opts.Actor, RunURL: a.fp.opts.RunURL, Commit: a.fp.opts.Commit,
		})
		if err != nil {
			er.Outcome, er.Err = outcomeOf(err), a.entryErr(e, err)
			return
		}
		plan = p
	} else {
		plan.SetManifest(promote.ManifestRef{Path: a.fp.Manifest, PlanDigest: planDigest, EntryDigest: e.Digest})
	}
	out, err := svc.Apply(ctx, plan)
	er.Promote = out
	if err != nil {
		er.Outcome, er.Err = outcomeOf(err), a.entryErr(e, err)
		return
	}
	er.Changed, er.Notes = out.Changed, out.Notes
	if out.Changed {
		er.Outcome = outcome.Promoted
	} else {
		er.Outcome = outcome.InPlace
	}
}

func outcomeOf(err error) outcome.Outcome {
	if errors.Is(err, promote.ErrConflict) {
		return outcome.Conflict
	}
	return outcome.Failed
}

func (a *applier) entryErr(e *Entry, err error) error {
	return fmt.Errorf("%s:%s: %s %s (v%s): %w", a.fp.Manifest, e.Pos, e.Model, e.Label(), e.Desired, err)
}

// err summarises the failed entries: it wraps the first registry error, or
// when there is none the first conflict.
func (r *Result) err() error {
	var bad []*Entry
	var errs []error
	var first error
	for i, er := range r.Entries {
		if er.Err == nil {
			continue
		}
		bad, errs = append(bad, r.Plan.Entries[i]), append(errs, er.Err)
		if first == nil && er.Outcome == outcome.Failed {
			first = er.Err
		}
	}
	if len(bad) == 0 {
		return nil
	}
	if first == nil {
		first = errs[0]
	}
	return &EntriesError{What: fmt.Sprintf("failed to apply %d of %d entries of %s; the other entries are in "+
		"place, and a rerun completes what is left", len(bad), len(r.Entries), r.Plan.Manifest),
		Entries: bad, errs: errs, first: first}
}

// Change is one element of the changes output (README, "Outputs"): an entry
// that differs from the registry.
type Change struct {
	Model   string          `json:"model"`
	Target  string          `json:"target"` // @champion, stage Production
	From    *string         `json:"from"`   // null when unheld
	To      string          `json:"to"`
	Verdict string          `json:"verdict"` // pass, fail, skipped; error for an entry that could not be planned
	Outcome outcome.Outcome `json:"outcome"` // its code: would-change, blocked, promoted, failed, conflict
}

// Changes lists the entries of the plan that differ from the registry, with
// their outcome before anything is applied (would-change, blocked, failed).
func (fp *FleetPlan) Changes() []Change {
	out := []Change{}
	for _, e := range fp.Entries {
		if e.Differs() {
			out = append(out, changeOf(e, planOutcome(e)))
		}
	}
	return out
}

// Changes lists the entries that differed from the registry when planned,
// with what Apply did.
func (r *Result) Changes() []Change {
	out := []Change{}
	for i, e := range r.Plan.Entries {
		if e.Differs() {
			out = append(out, changeOf(e, r.Entries[i].Outcome))
		}
	}
	return out
}

func changeOf(e *Entry, o outcome.Outcome) Change {
	c := Change{Model: e.Model, Target: e.Label(), To: e.Desired, Verdict: e.Verdict, Outcome: o}
	if e.Status == StatusError {
		c.Verdict = "error"
	}
	if e.Holder != "" {
		from := e.Holder
		c.From = &from
	}
	return c
}

// PlanOutcome is the entry's outcome before anything is applied:
// InPlace, WouldChange, Blocked or Failed.
func (e *Entry) PlanOutcome() outcome.Outcome { return planOutcome(e) }
