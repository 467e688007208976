package promote

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlreg/mlreg-action/internal/mlflow"
)

// Unit tests of the lock's expiry, heartbeat and takeover, on the in-memory
// registry: interleavings forced by hooks, never by timing. The same
// takeover runs against a real server in internal/action
// (concurrency_test.go) and in the repository root's lock_e2e_test.go (a
// killed binary).

const lockM = "mlreg-lock.m"

// staleLock puts the lock of owner, taken with token and expiring at expires, in m.
func staleLock(m *memRegistry, owner, token string, expires time.Time) {
	putLock(m, lockM, owner, token, expires)
}

// claimStale puts owner's takeover claim on the lock of "dead-run" (token
// "dead"), expiring at expires, in m, and returns its name.
func claimStale(m *memRegistry, owner string, expires time.Time) string {
	name := TakeoverName(m, "m", "dead-run", "dead")
	putLock(m, name, owner, "c1", expires)
	return name
}

func putLock(m *memRegistry, name, owner, token string, expires time.Time) {
	m.DeleteModelDirect(name)
	m.CreateModel(name)
	for _, tg := range (&Service{Reg: m}).lockTags(owner, token, expires) {
		m.SetModelTagDirect(name, tg.Key, tg.Value)
	}
}

// lockTags are the tags of the lock (nil when there is none).
func (m *memRegistry) lockTags() map[string]string {
	if o, ok := m.Model(lockM); ok {
		return tagMap(o.Tags)
	}
	return nil
}

// otherNames are the registered models but m.model (locks and claims), sorted.
func (m *memRegistry) otherNames() []string {
	return slices.DeleteFunc(m.Models(), func(n string) bool { return n == m.model })
}

// guarded is one run's view of the registry. It checks the invariant the
// lock exists for: every write to the model happens while the lock names
// this run as its owner (a run that deleted another's fresh lock and took
// it would break it for the other). It answers a done context as the
// client does, and runs the hooks a test sets at exact points.
type guarded struct {
	*memRegistry
	owner      string
	violations *[]string
	vmu        *sync.Mutex

	// onLockRead runs after a read of the lock, with the owner and token it
	// read, before the caller gets it.
	onLockRead func(owner, token string)
	// onWrite runs before each write to the model.
	onWrite func(ctx context.Context)
	// onRenew runs after a write of the lock's expiry.
	onRenew func()
}

func (g *guarded) check(what string) {
	owner := ""
	if l, ok := g.Model(lockM); ok {
		owner, _ = l.Tag(TagLockOwner)
	}
	if owner != g.owner {
		g.vmu.Lock()
		*g.violations = append(*g.violations, fmt.Sprintf("%s wrote %s while the lock was %q's", g.owner, what, owner))
		g.vmu.Unlock()
	}
}

func (g *guarded) write(ctx context.Context, what string) error {
	if g.onWrite != nil {
		g.onWrite(ctx)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	g.check(what)
	return nil
}

func (g *guarded) GetRegisteredModel(ctx context.Context, name string) (*mlflow.RegisteredModel, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rm, err := g.memRegistry.GetRegisteredModel(ctx, name)
	if err == nil && name == lockM && g.onLockRead != nil {
		owner, _ := rm.Tag(TagLockOwner)
		token, _ := rm.Tag(TagLockToken)
		g.onLockRead(owner, token)
	}
	return rm, err
}

func (g *guarded) SetModelVersionTag(ctx context.Context, name, version, key, value string) error {
	if err := g.write(ctx, "tag "+key); err != nil {
		return err
	}
	return g.memRegistry.SetModelVersionTag(ctx, name, version, key, value)
}

func (g *guarded) SetAlias(ctx context.Context, name, alias, version string) error {
	if err := g.write(ctx, "@"+alias); err != nil {
		return err
	}
	return g.memRegistry.SetAlias(ctx, name, alias, version)
}

func (g *guarded) SetRegisteredModelTag(ctx context.Context, name, key, value string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if name == "m" {
		g.check("tag " + key)
	}
	err := g.memRegistry.SetRegisteredModelTag(ctx, name, key, value)
	if name == lockM && key == TagLockExpires && g.onRenew != nil {
		g.onRenew()
	}
	return err
}

// guardedRuns makes one Service per owner over reg, each behind its own guard.
func guardedRuns(reg *memRegistry, now func() time.Time, owners ...string) ([]*Service, []*guarded, func() []string) {
	var violations []string
	var vmu sync.Mutex
	var svcs []*Service
	var guards []*guarded
	for _, o := range owners {
		g := &guarded{memRegistry: reg, owner: o, violations: &violations, vmu: &vmu}
		svcs = append(svcs, &Service{Reg: g, Lock: g, Now: now, LockOwner: o})
		guards = append(guards, g)
	}
	return svcs, guards, func() []string {
		vmu.Lock()
		defer vmu.Unlock()
		return slices.Clone(violations)
	}
}

func planTo(t *testing.T, s *Service, version string) *Plan {
	t.Helper()
	p, err := s.Plan(t.Context(), promoteTo(version))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func removedNotes(outs ...*Outcome) int {
	n := 0
	for _, o := range outs {
		if o == nil {
			continue
		}
		for _, note := range o.Notes {
			if strings.HasPrefix(note, "removed the expired lock of ") {
				n++
			}
		}
	}
	return n
}

// TestTakeoverAfterAnotherTookItOver is the interleaving where two waiters
// both saw the lock expired: B read it, then A took it over and is working
// under its fresh lock before B acts on what it read. B must not delete A's
// lock (it waits for it instead, then finds @champion moved and stops).
func TestTakeoverAfterAnotherTookItOver(t *testing.T) {
	t.Parallel()
	reg := threeVersions()
	staleLock(reg, "dead-run", "dead", t0.Add(-time.Minute))
	svcs, guards, violations := guardedRuns(reg, clock(t0), "A", "B")
	a, b := svcs[0], svcs[1]
	planA, planB := planTo(t, a, "2"), planTo(t, b, "3")

	aInside, releaseA := make(chan struct{}), make(chan struct{})
	var once sync.Once
	letAGo := func() { once.Do(func() { close(releaseA) }) }
	guards[0].onWrite = func(context.Context) {
		select {
		case <-aInside:
		default:
			close(aInside)
		}
		<-releaseA
	}
	var outA *Outcome
	var errA error
	aDone := make(chan struct{})
	var started atomic.Bool
	guards[1].onLockRead = func(owner, token string) {
		switch {
		case token == "dead" && started.CompareAndSwap(false, true):
			// B has read the expired lock. Before it acts, A takes it over
			// and starts working under its own lock.
			go func() { defer close(aDone); outA, errA = a.Apply(t.Context(), planA) }()
			<-aInside
		case owner == "A":
			letAGo() // B waits for A's lock, as it should
		}
	}
	guards[1].onWrite = func(context.Context) { letAGo() } // B got in: let A show the harm
	outB, errB := b.Apply(t.Context(), planB)
	letAGo()
	<-aDone

	if v := violations(); len(v) > 0 {
		t.Errorf("two runs worked under the lock at once: %v", v)
	}
	if errA != nil {
		t.Errorf("A (took the expired lock over first): %v", errA)
	}
	if !errors.Is(errB, ErrConflict) || !strings.Contains(errB.Error(), "nothing was changed") {
		t.Errorf("B: err %v, want a conflict (A moved @champion while B waited) that changed nothing", errB)
	}
	if got := reg.alias("champion"); got != "2" || len(reg.history(t, champ)) != 1 {
		t.Errorf("@champion v%s, history %v; want A's v2 and its one entry", got, reg.history(t, champ))
	}
	if n := removedNotes(outA, outB); n != 1 {
		t.Errorf("%d runs say they removed the expired lock, want 1 (A)", n)
	}
	if left := reg.otherNames(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestTakeoverBothSawExpiry: two waiters read the expired lock before either
// acts (a barrier holds each read until both are in), then race. Exactly one
// removes it; the lock never has two holders; nothing is left behind.
func TestTakeoverBothSawExpiry(t *testing.T) {
	t.Parallel()
	for i := range 50 {
		reg := threeVersions()
		staleLock(reg, "dead-run", "dead", t0.Add(-time.Minute))
		svcs, guards, violations := guardedRuns(reg, clock(t0), "A", "B")
		var arrived sync.WaitGroup
		arrived.Add(2)
		for _, g := range guards {
			var first atomic.Bool
			g.onLockRead = func(_, token string) {
				if token == "dead" && first.CompareAndSwap(false, true) {
					arrived.Done()
					arrived.Wait()
				}
			}
		}
		plans := []*Plan{planTo(t, svcs[0], "2"), planTo(t, svcs[1], "3")}
		outs, errs := make([]*Outcome, 2), make([]error, 2)
		var wg sync.WaitGroup
		for j := range 2 {
			wg.Go(func() { outs[j], errs[j] = svcs[j].Apply(t.Context(), plans[j]) })
		}
		wg.Wait()
		if v := violations(); len(v) > 0 {
			t.Fatalf("round %d: two runs worked under the lock at once: %v", i, v)
		}
		won := 0
		for j, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, ErrConflict):
				t.Fatalf("round %d: run %d: %v", i, j, err)
			}
		}
		if n := removedNotes(outs...); won != 1 || n != 1 {
			t.Fatalf("round %d: %d runs applied and %d removed the expired lock, want 1 and 1 (errors %v)", i, won, n, errs)
		}
		if len(reg.history(t, champ)) != 1 {
			t.Fatalf("round %d: history %v, want the winner's one entry", i, reg.history(t, champ))
		}
		if left := reg.otherNames(); len(left) > 0 {
			t.Fatalf("round %d: left behind: %v", i, left)
		}
	}
}

// TestTakeoverOfADeadClaim: the run that claimed the expired lock died
// holding its claim. Once the claim has expired too, the next run clears it
// (under the claim named after it), then the lock, and promotes.
func TestTakeoverOfADeadClaim(t *testing.T) {
	t.Parallel()
	reg := threeVersions()
	staleLock(reg, "dead-run", "dead", t0.Add(-time.Minute))
	claim := claimStale(reg, "dead-claimer", t0.Add(-time.Second))
	s := &Service{Reg: reg, Lock: reg, Now: clock(t0), LockOwner: "me"}
	_, out, err := planApply(t, s, promoteTo("2"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"removed the expired takeover claim " + claim + " of dead-claimer (expired 2026-03-01T11:59:59Z)",
		"removed the expired lock of dead-run (expired 2026-03-01T11:59:00Z)",
	} {
		if !slices.Contains(out.Notes, want) {
			t.Errorf("notes %q, want %q among them", out.Notes, want)
		}
	}
	if reg.alias("champion") != "2" {
		t.Errorf("@champion v%s, want v2", reg.alias("champion"))
	}
	if left := reg.otherNames(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestTakeoverWaitsForALiveClaim: another run holds a fresh claim on the
// expired lock, so it is removing it; this run does not touch the lock, and
// takes it once that run is done.
func TestTakeoverWaitsForALiveClaim(t *testing.T) {
	t.Parallel()
	reg := threeVersions()
	staleLock(reg, "dead-run", "dead", t0.Add(-time.Minute))
	claim := claimStale(reg, "other", t0.Add(time.Minute))
	// The other run finishes its takeover (and its promotion) before this
	// run's second look at the lock.
	reg.before("GetRegisteredModel", lockM, 2, func(m *memRegistry) {
		m.DeleteModelDirect(lockM)
		m.DeleteModelDirect(claim)
	})
	s := &Service{Reg: reg, Lock: reg, Now: clock(t0), LockOwner: "me"}
	_, out, err := planApply(t, s, promoteTo("2"))
	if err != nil {
		t.Fatal(err)
	}
	if n := removedNotes(out); n != 0 {
		t.Errorf("notes %q: this run removed the lock another run had claimed", out.Notes)
	}
	if d := reg.callsOf("DeleteRegisteredModel"); !slices.Equal(d, []string{"DeleteRegisteredModel " + lockM}) {
		t.Errorf("deletes %v, want only this run's release of its own lock", d)
	}
	if left := reg.otherNames(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *fakeClock) set(at time.Time) {
	c.mu.Lock()
	c.at = at
	c.mu.Unlock()
}

// beats paces a heartbeat by hand: each send is one beat.
type beats chan time.Time

func (b beats) after(time.Duration) <-chan time.Time { return b }

// heldRun starts one promotion to v2 whose first write to the model waits
// (inside the lock) until proceed is closed, and then, with untilCancelled,
// until its context ends; inside is closed when it gets there.
func heldRun(t *testing.T, reg *memRegistry, clk *fakeClock, untilCancelled bool) (g *guarded, tick beats, inside, proceed chan struct{}, result func() (*Outcome, error)) {
	t.Helper()
	svcs, guards, violations := guardedRuns(reg, clk.Now, "A")
	s, g := svcs[0], guards[0]
	tick = make(beats)
	s.After = tick.after
	inside, proceed = make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	g.onWrite = func(ctx context.Context) {
		if first.CompareAndSwap(false, true) {
			close(inside)
			<-proceed
			if untilCancelled {
				// A run that never learnt it lost the lock would wait here.
				<-ctx.Done()
			}
		}
	}
	p := planTo(t, s, "2")
	var out *Outcome
	var err error
	done := make(chan struct{})
	go func() { defer close(done); out, err = s.Apply(t.Context(), p) }()
	return g, tick, inside, proceed, func() (*Outcome, error) {
		<-done
		if v := violations(); len(v) > 0 {
			t.Errorf("writes outside the lock: %v", v)
		}
		return out, err
	}
}

// TestHeartbeatRenewsTheLock: the holder extends the expiry while it works,
// by the TTL from each beat, so a long promotion keeps its lock; the lock it
// took expires DefaultLockTTL after it was taken.
func TestHeartbeatRenewsTheLock(t *testing.T) {
	t.Parallel()
	reg := threeVersions()
	clk := &fakeClock{at: t0}
	g, tick, inside, proceed, result := heldRun(t, reg, clk, false)
	renewed := make(chan struct{}, 1)
	g.onRenew = func() { renewed <- struct{}{} }
	<-inside
	if got := reg.lockTags()[TagLockExpires]; got != "2026-03-01T12:00:20Z" {
		t.Errorf("lock taken at 12:00:00 expires at %s, want 12:00:20 (DefaultLockTTL)", got)
	}
	for i, at := range []time.Duration{7 * time.Second, 14 * time.Second, 21 * time.Second, 28 * time.Second} {
		clk.set(t0.Add(at))
		tick <- clk.Now()
		<-renewed
		if got, want := reg.lockTags()[TagLockExpires], t0.Add(at+DefaultLockTTL).Format(time.RFC3339); got != want {
			t.Errorf("beat %d at +%s: expiry %s, want %s", i+1, at, got, want)
		}
	}
	close(proceed)
	if _, err := result(); err != nil {
		t.Fatalf("a promotion that outlived the TTL, renewing its lock: %v", err)
	}
	if reg.alias("champion") != "2" || len(reg.otherNames()) > 0 {
		t.Errorf("@champion v%s, left %v; want v2 and the lock released", reg.alias("champion"), reg.otherNames())
	}
}

// TestHeartbeatNoticesALostLock: the holder stalled past its expiry and
// another run took the lock over. The renewal reads the lock first (the
// compare of compare-and-set), sees another token, and stops the holder:
// it writes nothing more, neither the other's expiry nor the promotion,
// and leaves the other's lock alone.
func TestHeartbeatNoticesALostLock(t *testing.T) {
	t.Parallel()
	reg := threeVersions()
	clk := &fakeClock{at: t0}
	g, tick, inside, proceed, result := heldRun(t, reg, clk, true)
	<-inside
	staleLock(reg, "B", "b-token", t0.Add(time.Minute)) // B's lock now
	lostRead := make(chan struct{})
	g.onLockRead = func(owner, _ string) {
		if owner == "B" {
			close(lostRead)
		}
	}
	clk.set(t0.Add(7 * time.Second))
	tick <- clk.Now()
	<-lostRead
	close(proceed)
	out, err := result()
	const want = "the promotion stopped because it lost the lock mlreg-lock.m: another promotion (B) took it over"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "nothing was moved") {
		t.Fatalf("outcome %+v, err %v; want %q and nothing moved", out, err, want)
	}
	if reg.alias("champion") != "1" {
		t.Errorf("@champion moved to v%s by a run that had lost the lock", reg.alias("champion"))
	}
	if got := reg.lockTags()[TagLockExpires]; got != "2026-03-01T12:01:00Z" || reg.lockTags()[TagLockToken] != "b-token" {
		t.Errorf("B's lock expiry %s, token %s; want them as B wrote them", got, reg.lockTags()[TagLockToken])
	}
	if got := reg.callsOf("SetRegisteredModelTag " + lockM); len(got) > 0 {
		t.Errorf("the renewal wrote to B's lock: %v", got)
	}
}

// TestHeartbeatStopsWhenItCannotRenew: every renewal fails (the registry is
// unreachable) until less than lockMargin of the lease is left; the holder
// then stops rather than go on under a lock others may take over, and does
// not delete it: it expires by itself.
func TestHeartbeatStopsWhenItCannotRenew(t *testing.T) {
	t.Parallel()
	reg := threeVersions()
	reg.fail("GetRegisteredModel", lockM, 0, errUnavailable)
	clk := &fakeClock{at: t0}
	_, tick, inside, proceed, result := heldRun(t, reg, clk, true)
	<-inside
	failed := make(chan struct{}, 4)
	reg.before("GetRegisteredModel", lockM, 0, func(*memRegistry) { failed <- struct{}{} })
	clk.set(t0.Add(7 * time.Second))
	tick <- clk.Now()
	<-failed // a failed renewal, with 8s of the lease left: tried again later
	clk.set(t0.Add(14 * time.Second))
	tick <- clk.Now()
	<-failed // 1s left
	clk.set(t0.Add(15 * time.Second))
	tick <- clk.Now() // none left: the holder stops
	close(proceed)
	out, err := result()
	const want = "the promotion stopped because it lost the lock mlreg-lock.m: it was not renewed in time (it expires at 2026-03-01T12:00:20Z)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("outcome %+v, err %v; want %q", out, err, want)
	}
	if reg.alias("champion") != "1" {
		t.Errorf("@champion moved to v%s after the lease lapsed", reg.alias("champion"))
	}
	if reg.lockTags()[TagLockOwner] != "A" || len(reg.callsOf("DeleteRegisteredModel")) > 0 {
		t.Errorf("the lapsed lock was deleted (calls %v); it should be left to expire", reg.callsOf("DeleteRegisteredModel"))
	}
}
