// Package fleet plans and applies a desired-state file (README, "Desired
// state file"): for every (model, alias or stage) entry of the manifest,
// the version that must hold the target.
//
// Plan reads the registry and sorts the entries: unchanged (the holder is
// the desired version), change (planned exactly as a single promotion of the
// desired version, with the holder seen as compare-and-set guard) or error
// (the model or version does not exist, is not READY, or the policy does not
// cover the target). An unchanged entry costs at most one request: one
// registered-models/get gives every alias and stage holder of a model at once.
//
// Apply applies a plan: nothing when any entry is an error, any change
// fails the policy, or the plan differs from the reviewed one; otherwise
// every change as promote.Service.Apply applies a single promotion (lock,
// compare-and-set, audit record with the manifest, history, replaced mark).
// Entries are independent: one failing does not stop the others, and a rerun
// completes what is left: the changes not made, and the audit records of
// targets moved by a run that stopped before recording them (Apply reads
// the version of each target in place whose history does not end with it,
// one request each, to find them). With the reviewed plan's digest, a rerun
// after a partial apply is accepted when the entries it finds in place carry
// the reviewed plan's records.
//
// Both work on up to Parallelism entries at once; the entries of one model
// are applied one after the other (they share the model's promotion lock).
// Results are in manifest order (manifest.Manifest.Entries), whatever the
// order in which the work finished.
//
// The commands use it so (exit statuses as in README's "Exit status"):
//
//	fp, err := fleet.Plan(ctx, svc, m, policy, fleet.Options{Parallelism: n, ...})
//	// err: bad options (2). fp.Err(): error entries, invalid input (2) or registry (3).
//	// validate: fp.PolicyErr() (1), fp.Differences() for fail-on-drift, fp.Drifted(), fp.Changes(), fp.Digest.
//	res, err := fleet.Apply(ctx, svc, fp, fleet.ApplyOptions{Parallelism: n, ExpectedDigest: d})
//	// promote: err wraps promote.ErrPolicyFailed (1), a registry error (3) or
//	// promote.ErrConflict (4); res.Changes() and res.Changed() hold either way.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/manifest"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// Entry statuses in a plan.
const (
	StatusUnchanged = "unchanged" // the holder is the desired version
	StatusChange    = "change"    // holder → desired, with the policy's verdict
	StatusError     = "error"     // cannot be planned: nothing is applied
)

// Parallelism bounds.
const (
	DefaultParallelism = 4
	MaxParallelism     = 64
)

// Options configure Plan. Actor, RunURL and Commit go into the audit record
// of each change; they are not part of the plan's digest.
type Options struct {
	Parallelism     int // entries planned at once; 0 means DefaultParallelism
	ArchiveExisting bool
	Approvals       checks.ApprovalChecker // nil: approvals cannot be checked
	Actor           string
	RunURL          string
	Commit          string
}

// Entry is one (model, target) of the manifest and its plan.
type Entry struct {
	Model   string
	Kind    string        // manifest.KindModel or manifest.KindPrompt
	Target  checks.Target // a single target: an alias, or a canonical stage
	Desired string        // the version the manifest says must hold the target
	Pos     manifest.Pos

	Status string // StatusUnchanged, StatusChange or StatusError
	// Holder is the version holding the target when planned, "" when unheld
	// or unknown (an error entry whose model could not be read).
	Holder  string
	Verdict string        // change: the policy's verdict (pass, fail, skipped)
	Plan    *promote.Plan // change: the single promotion's plan
	Err     error         // error: why, naming the file, line and column
	// Requests is the number of registry calls made to plan this entry (a
	// retried request counts once); the read of a model, shared by its
	// entries, counts on its first entry.
	Requests int
	// Digest is this entry's part of the plan digest.
	Digest string

	// newest is the target's newest history record, when the registry has one.
	newest *promote.Record
	// holderRead is set once Holder is what the registry said.
	holderRead bool
}

// Label renders the target as reports write it: "@champion", "stage Production".
func (e *Entry) Label() string { return e.Target.Label() }

// Differs reports whether the registry differs from the manifest for this
// entry: a change, or an error entry whose holder was read and is not the
// desired version. A difference is a change the file proposes, or drift.
func (e *Entry) Differs() bool {
	switch e.Status {
	case StatusChange:
		return true
	case StatusError:
		return e.holderRead && e.Holder != e.Desired
	}
	return false
}

// Drifted reports whether an entry that differs from the manifest does so
// because its target was moved outside mlreg-action: its history records a
// promotion, and the holder is not the version it recorded last. Otherwise
// the difference is a change the file proposes (or one no run has applied
// yet); so is that of a target mlreg-action never promoted, whose holder
// was set before the file governed it.
func (e *Entry) Drifted() bool {
	return e.Differs() && e.holderRead && e.newest != nil && e.newest.Version != e.Holder
}

// Recorded is the version the target's history last recorded, "" when it
// has no record.
func (e *Entry) Recorded() string {
	if e.newest == nil {
		return ""
	}
	return e.newest.Version
}

// recordGap reports whether an unchanged entry's history does not end with
// the desired version: an earlier run may have moved the target and stopped
// before recording it (or the target was moved by hand).
func (e *Entry) recordGap() bool {
	return e.Status == StatusUnchanged && (e.newest == nil || e.newest.Version != e.Desired)
}

// FleetPlan is the plan of a whole manifest.
type FleetPlan struct { //nolint:revive // fleet.Plan is the function that makes one
	Manifest     string // the file, as the manifest names it
	PolicyFile   string // "" with no policy
	PolicyDigest string
	Entries      []*Entry // in manifest order
	// Digest is sha256 over the canonical JSON of every entry's digest and the
	// policy digest (see digest.go).
	Digest string
	// Requests is the number of registry calls the plan made.
	Requests int

	opts Options
}

// Unchanged counts the entries already in place.
func (fp *FleetPlan) Unchanged() int { return fp.count(StatusUnchanged) }

// ChangeCount counts the entries to change.
func (fp *FleetPlan) ChangeCount() int { return fp.count(StatusChange) }

func (fp *FleetPlan) count(status string) int {
	n := 0
	for _, e := range fp.Entries {
		if e.Status == status {
			n++
		}
	}
	return n
}

// Differences returns the entries where the registry differs from the
// manifest: the changes it proposes, and drift.
func (fp *FleetPlan) Differences() []*Entry { return fp.filter((*Entry).Differs) }

// Drifted returns the entries whose target was moved outside mlreg-action
// (Entry.Drifted).
func (fp *FleetPlan) Drifted() []*Entry { return fp.filter((*Entry).Drifted) }

func (fp *FleetPlan) filter(keep func(*Entry) bool) []*Entry {
	var out []*Entry
	for _, e := range fp.Entries {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// Verdict is fail when any change fails the policy, skipped with no policy,
// and pass otherwise (nothing to change included).
func (fp *FleetPlan) Verdict() string {
	for _, e := range fp.Entries {
		if e.Status == StatusChange && e.Verdict == checks.VerdictFail {
			return checks.VerdictFail
		}
	}
	if fp.PolicyDigest == "" {
		return checks.VerdictSkipped
	}
	return checks.VerdictPass
}

// Err returns nil when every entry could be planned. Otherwise it lists the
// error entries and wraps the first one that is invalid input (status 2) or,
// when none is, the first one (a registry error, status 3).
func (fp *FleetPlan) Err() error {
	var bad []*Entry
	for _, e := range fp.Entries {
		if e.Status == StatusError {
			bad = append(bad, e)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	first := bad[0]
	for _, e := range bad {
		if isInvalid(e.Err) {
			first = e
			break
		}
	}
	return &EntriesError{What: fmt.Sprintf("failed to plan %d of %d entries of %s; nothing is applied",
		len(bad), len(fp.Entries), fp.Manifest), Entries: bad, first: first.Err}
}

// PolicyErr returns nil when no change fails the policy; otherwise an error
// wrapping promote.ErrPolicyFailed that names each failing change.
func (fp *FleetPlan) PolicyErr() error {
	var bad []*Entry
	for _, e := range fp.Entries {
		if e.Status == StatusChange && e.Verdict == checks.VerdictFail {
			bad = append(bad, e)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	lines := make([]string, len(bad))
	for i, e := range bad {
		lines[i] = fmt.Sprintf("%s %s: %s → v%s", e.Model, e.Label(), promote.VersionLabel(e.Holder), e.Desired)
		if fc := failingChecks(e.Plan); fc != "" {
			lines[i] += " (" + fc + ")"
		}
	}
	return fmt.Errorf("%w: %d of %d changes of %s fail the policy, nothing is applied: %s",
		promote.ErrPolicyFailed, len(bad), fp.ChangeCount(), fp.Manifest, strings.Join(lines, "; "))
}

func failingChecks(p *promote.Plan) string {
	if p == nil {
		return ""
	}
	var names []string
	for _, c := range p.Checks {
		if c.Status == checks.StatusFail {
			names = append(names, c.Kind+" "+c.Name)
		}
	}
	return strings.Join(names, ", ")
}

// EntriesError reports the entries that could not be planned or applied.
// It unwraps to one of them, which decides the exit status.
type EntriesError struct {
	What    string
	Entries []*Entry
	first   error
	errs    []error // apply: per entry, parallel to Entries
}

func (e *EntriesError) Error() string {
	var b strings.Builder
	b.WriteString(e.What)
	for i, en := range e.Entries {
		err := en.Err
		if e.errs != nil {
			err = e.errs[i]
		}
		fmt.Fprintf(&b, "\n  %v", err)
	}
	return b.String()
}

// Unwrap returns the error that classifies the whole.
func (e *EntriesError) Unwrap() error { return e.first }

func isInvalid(err error) bool {
	var perr checks.Errors
	var single *checks.Error
	return errors.Is(err, promote.ErrInvalid) || errors.As(err, &perr) || errors.As(err, &single)
}

// ParseParallelism reads the parallelism input: a whole number from 1 to
// MaxParallelism. It is the one rule of it, for the input and for Options.
func ParseParallelism(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxParallelism {
		return 0, fmt.Errorf("input parallelism: want a whole number from 1 to %d, got %q", MaxParallelism, v)
	}
	return n, nil
}

// parallelism is Options.Parallelism or ApplyOptions.Parallelism: 0 for
// DefaultParallelism, else what ParseParallelism takes.
func parallelism(n int) (int, error) {
	if n == 0 {
		return DefaultParallelism, nil
	}
	if _, err := ParseParallelism(strconv.Itoa(n)); err != nil {
		return 0, fmt.Errorf("%w: %w", promote.ErrInvalid, err)
	}
	return n, nil
}

// Plan plans every entry of m against the registry of svc. It returns an
// error only when it cannot start (bad options); entries that cannot be
// planned are error entries, summarised by FleetPlan.Err. Plan never changes
// the registry.
func Plan(ctx context.Context, svc *promote.Service, m *manifest.Manifest, policy *checks.Policy, opts Options) (*FleetPlan, error) {
	par, err := parallelism(opts.Parallelism)
	if err != nil {
		return nil, err
	}
	opts.Parallelism = par
	if opts.Approvals != nil {
		opts.Approvals = &memoApprovals{inner: opts.Approvals, calls: map[checks.ApprovalQuery]*approvalCall{}}
	}
	fp := &FleetPlan{Manifest: m.File, opts: opts}
	if policy != nil {
		fp.PolicyFile, fp.PolicyDigest = policy.File, policy.Digest
	}
	for _, me := range m.Entries() {
		fp.Entries = append(fp.Entries, &Entry{
			Model: me.Model, Kind: me.Kind, Target: me.Target,
			Desired: me.Version, Pos: me.Pos,
		})
	}
	p := &planner{svc: svc, fp: fp, policy: policy, sem: make(chan struct{}, par)}
	counts := make([]atomic.Int64, len(fp.Entries))
	var wg sync.WaitGroup
	for _, g := range groupByModel(fp.Entries) {
		wg.Go(func() {
			p.planModel(ctx, &wg, g, counts)
		})
	}
	wg.Wait()
	for i, e := range fp.Entries {
		e.Requests = int(counts[i].Load())
		fp.Requests += e.Requests
		e.Digest = entryDigest(e)
	}
	fp.Digest = fp.digest(nil)
	return fp, nil
}

// group is the entries of one model: indexes into FleetPlan.Entries.
type group []int

// groupByModel groups entries by model, in manifest order (entries are
// sorted by model, so each group is a run of consecutive entries).
func groupByModel(es []*Entry) []group {
	var out []group
	for i, e := range es {
		if len(out) > 0 && es[out[len(out)-1][0]].Model == e.Model {
			out[len(out)-1] = append(out[len(out)-1], i)
			continue
		}
		out = append(out, group{i})
	}
	return out
}

type planner struct {
	svc    *promote.Service
	fp     *FleetPlan
	policy *checks.Policy
	sem    chan struct{}
}

// slot runs fn while holding one of the Parallelism slots.
func (p *planner) slot(fn func()) {
	p.sem <- struct{}{}
	defer func() { <-p.sem }()
	fn()
}

// planModel reads the model once, settles every entry it can from that read,
// and plans the others (changes). It keeps its slot for the model's first
// change, so a change is planned as soon as its model is read rather than
// after every other model's read; further changes are tasks of their own.
func (p *planner) planModel(ctx context.Context, wg *sync.WaitGroup, g group, counts []atomic.Int64) {
	p.sem <- struct{}{}
	defer func() { <-p.sem }()
	fp := p.fp
	first := fp.Entries[g[0]]
	rm, err := counted(p.svc, &counts[g[0]]).Reg.GetRegisteredModel(ctx, first.Model)
	if err != nil {
		if registry.IsNotFound(err) {
			err = fmt.Errorf("registered model %q does not exist: %w", first.Model, err)
		}
		for _, i := range g {
			fp.fail(fp.Entries[i], err)
		}
		return
	}
	prompt := rm.IsPrompt()
	inline := -1
	for _, i := range g {
		e := fp.Entries[i]
		if (e.Kind == manifest.KindPrompt) != prompt {
			fp.fail(e, kindError(fp.Manifest, e, prompt))
			continue
		}
		if h, err := promote.RecordedHistory(p.svc.Reg, rm, e.Target); err == nil && len(h) > 0 {
			e.newest = &h[0]
		}
		holder, known := holderOf(rm, e)
		if known {
			e.Holder, e.holderRead = holder, true
			if holder == e.Desired {
				e.Status = StatusUnchanged
				continue
			}
		}
		if inline < 0 {
			inline = i
			continue
		}
		wg.Go(func() {
			p.slot(func() { p.planChange(ctx, e, known, &counts[i]) })
		})
	}
	if inline >= 0 {
		e := fp.Entries[inline]
		p.planChange(ctx, e, e.holderRead, &counts[inline])
	}
}

// holderOf reads the holder of an entry's target from the registered model:
// aliases are listed on it; a stage's holder is the highest version in it,
// from latest_versions, as get-latest-versions answers. known is false when
// the answer has no latest_versions at all (a server that leaves them out).
func holderOf(rm *registry.RegisteredModel, e *Entry) (holder string, known bool) {
	if e.Target.Alias != "" {
		return rm.AliasVersion(e.Target.Alias), true
	}
	if len(rm.LatestVersions) == 0 {
		return "", false
	}
	for _, mv := range rm.LatestVersions {
		if mv.CurrentStage == e.Target.Stage {
			return mv.Version, true
		}
	}
	return "", true
}

func kindError(file string, e *Entry, prompt bool) error {
	msg := fmt.Sprintf("%q is declared kind: prompt, but the registry has it as a model (no tag %s=true): "+
		"remove kind: prompt, or name the prompt", e.Model, registry.PromptTagKey)
	if !prompt {
		return &checks.Error{File: file, Line: e.Pos.Line, Column: e.Pos.Column, Msg: msg}
	}
	msg = fmt.Sprintf("%q is a prompt in the registry (tag %s=true): declare it with kind: prompt", e.Model, registry.PromptTagKey)
	return &checks.Error{File: file, Line: e.Pos.Line, Column: e.Pos.Column, Msg: msg}
}

// planChange plans an entry whose target is not held by the desired version
// as a single promotion of it, with the holder seen as compare-and-set guard.
func (p *planner) planChange(ctx context.Context, e *Entry, holderKnown bool, n *atomic.Int64) {
	fp := p.fp
	req := promote.Request{
		Model:           e.Model,
		Version:         promote.Version(e.Desired),
		Target:          e.Target,
		ArchiveExisting: fp.opts.ArchiveExisting,
		Policy:          p.policy,
		Approvals:       fp.opts.Approvals,
		Actor:           fp.opts.Actor,
		RunURL:          fp.opts.RunURL,
		Commit:          fp.opts.Commit,
		Manifest:        promote.ManifestRef{Path: fp.Manifest},
	}
	if holderKnown {
		req.Expected = promote.Expect(e.Holder)
	}
	plan, err := counted(p.svc, n).Plan(ctx, req)
	if err != nil {
		fp.fail(e, err)
		return
	}
	t := plan.Targets[0]
	if !holderKnown {
		e.Holder, e.holderRead = t.Current, true
	}
	if t.InPlace {
		// A stage the desired version shares with a higher one: it holds
		// the stage, as for a single promotion.
		e.Holder, e.Status = e.Desired, StatusUnchanged
		return
	}
	e.Status, e.Plan, e.Verdict = StatusChange, plan, plan.Verdict
}

// fail makes e an error entry; the error names the file, line and column.
func (fp *FleetPlan) fail(e *Entry, err error) {
	e.Status = StatusError
	var single *checks.Error
	if errors.As(err, &single) && single.Line > 0 {
		e.Err = err
		return
	}
	e.Err = fmt.Errorf("%s:%s: %s %s (v%s): %w", fp.Manifest, e.Pos, e.Model, e.Label(), e.Desired, err)
}

// counted returns a copy of svc whose registry calls add to n. Phase
// callbacks stay with the caller: entries run at once.
func counted(svc *promote.Service, n *atomic.Int64) *promote.Service {
	c := *svc
	c.Reg = countingRegistry{Backend: svc.Reg, n: n}
	if svc.Lock != nil {
		c.Lock = countingLocker{Locker: svc.Lock, n: n}
	}
	c.OnPhase = nil
	return &c
}
