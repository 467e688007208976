package promote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/mlreg/mlreg-action/internal/registry"
)

// The promotion lock (see registry.Locker).
//
// MLflow has no compare-and-set: aliases and tags are upserts, so two
// promotions that both read "@champion is v8" can both move it, and two
// read-modify-writes of the history tag can drop an entry. Registered-model
// names are unique, though: creating one fails with RESOURCE_ALREADY_EXISTS
// while another exists (a primary key in MLflow's SQL stores, whichever the
// database; UC refuses a taken name too). That is the one atomic operation
// the lock is built on. The lock is a registered model named
// mlreg-lock.<model>, created before apply and deleted after record; its
// tags carry its owner, a token unique to the acquisition, and an expiry
// that the holder keeps renewing while it works (see lease), so that the
// lock of a run that died clears within DefaultLockTTL, and another run
// takes it over (see clear).

// Lock names and tag keys.
const (
	TagLockOwner   = "mlreg.lock.owner"
	TagLockExpires = "mlreg.lock.expires"
	// TagLockToken is unique to one acquisition: a create whose answer was
	// lost, retried by the client, finds the lock taken, and the token tells
	// that it is its own. It never changes, so it also tells one lock from
	// the next under the same name.
	TagLockToken = "mlreg.lock.token"
)

// DefaultLockTTL is how long a lock outlives its holder's last renewal. The
// holder renews it every third of that, and stops (cancelling its work)
// once a quarter of it is left unrenewed, so a waiter whose clock runs up to
// lockMargin ahead of the holder's never takes over a living lock.
const DefaultLockTTL = 20 * time.Second

const (
	// lockReleaseGrace is how long a release may run past the step's deadline.
	lockReleaseGrace = 2 * time.Second
	maxLockPollDelay = 2 * time.Second
	// maxClaimDepth bounds the claims of claims cleared in one attempt: each
	// level needs a run that died while it held a claim.
	maxClaimDepth = 3
	// lockDeleteAttempts bounds the deletes of one lock or claim (see deleteLock).
	lockDeleteAttempts = 8

	lockDescription     = "Held by mlreg-action while it promotes %q, renewed while it works. Deleted when the promotion ends; a run that dies leaves it to expire %s after its last renewal (tag mlreg.lock.expires)."
	takeoverDescription = "Held by mlreg-action for a moment while it removes the expired lock or claim %s; expires at %s if the run dies."
)

// lockState is a lock, or a takeover claim, as read from the registry.
type lockState struct {
	name, owner, expires, token string
}

func lockStateOf(d registry.Rules, rm *registry.RegisteredModel) lockState {
	st := lockState{name: rm.Name}
	st.owner, _ = rm.Tag(d.TagKey(TagLockOwner))
	st.expires, _ = rm.Tag(d.TagKey(TagLockExpires))
	st.token, _ = rm.Tag(d.TagKey(TagLockToken))
	return st
}

// TakeoverName is the takeover claim of the lock of model that owner took
// with token (see Service.clear), as the registry r names it: the registered
// model whose creation entitles a run to delete that lock once it has expired.
func TakeoverName(r registry.Rules, model, owner, token string) string {
	return r.TakeoverName(model, lockState{owner: owner, token: token}.id())
}

// id names this acquisition and no other: a hash of its token (and owner,
// for a lock written before locks had tokens), fit for a registered-model
// name on any registry whatever the tags hold.
func (st lockState) id() string {
	sum := sha256.Sum256([]byte(st.token + "\x00" + st.owner))
	return hex.EncodeToString(sum[:8])
}

// expired reports whether the expiry has passed at now. One that does not
// parse never expires: that is not a lock a run of ours left.
func (st lockState) expired(now time.Time) bool {
	t, err := time.Parse(time.RFC3339, st.expires)
	return err == nil && now.After(t)
}

func (s *Service) lockTTL() time.Duration {
	if s.LockTTL > 0 {
		return s.LockTTL
	}
	return DefaultLockTTL
}

// lockMargin is how much of a lease must be left for its holder to go on
// working, and the clock difference between runs that the lock tolerates.
func (s *Service) lockMargin() time.Duration { return s.lockTTL() / 4 }

// expiry is the expiry a lock written now carries, to the second as its tag says.
func (s *Service) expiry() time.Time { return s.now().Add(s.lockTTL()).Truncate(time.Second) }

func (s *Service) after(d time.Duration) <-chan time.Time {
	if s.After != nil {
		return s.After(d)
	}
	return time.After(d)
}

func (s *Service) lockTags(owner, token string, expires time.Time) []registry.Tag {
	d := s.Reg
	return []registry.Tag{{Key: d.TagKey(TagLockOwner), Value: owner}, {Key: d.TagKey(TagLockExpires), Value: expires.Format(time.RFC3339)},
		{Key: d.TagKey(TagLockToken), Value: token}}
}

// acquire takes the lock of model, waiting while another run holds it, and
// returns the context for the work done under it (cancelled if the lock is
// lost) with the lease to release. A registry that refuses to create the
// lock (permission denied) leaves promotions unserialized, reported as a
// note; the lease is then nil, and releasing it does nothing.
func (s *Service) acquire(ctx context.Context, model string, out *Outcome) (context.Context, *lease, error) {
	if s.Lock == nil {
		return ctx, nil, nil
	}
	d := s.Reg
	name := d.LockName(model)
	owner := d.TagValue(s.LockOwner)
	if owner == "" {
		owner = fmt.Sprintf("mlreg-action-%08x", rand.Uint32())
	}
	token := fmt.Sprintf("%016x", rand.Uint64())
	delay := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		expires := s.expiry()
		_, err := s.Lock.CreateRegisteredModel(ctx, name, fmt.Sprintf(lockDescription, model, s.lockTTL()), s.lockTags(owner, token, expires))
		switch {
		case err == nil:
			if attempt > 1 {
				out.Notes = append(out.Notes, fmt.Sprintf("waited for a concurrent promotion of %q (%d attempts)", model, attempt))
			}
			return s.hold(ctx, lockState{name: name, owner: owner, token: token}, expires)
		case registry.IsNotFound(err):
			// The server checks the name before inserting it; a lock deleted in
			// between (its holder released it) answers 404. That is contention:
			// try again.
			if err := registry.SleepContext(ctx, delay); err != nil {
				return nil, nil, fmt.Errorf("%w: waiting for the lock %s: %w", ErrConflict, name, err)
			}
			continue
		case registry.IsPermissionDenied(err):
			out.Notes = append(out.Notes, fmt.Sprintf("could not create the lock %s (permission denied): concurrent promotions of %q are not serialized", name, model))
			return ctx, nil, nil
		case !registry.IsAlreadyExists(err):
			return nil, nil, fmt.Errorf("failed to create lock %s: %w", name, err)
		}
		rm, err := s.Lock.GetRegisteredModel(ctx, name)
		switch {
		case registry.IsNotFound(err):
			continue // released in between
		case err != nil:
			return nil, nil, fmt.Errorf("failed to read lock %s: %w", name, err)
		}
		held := lockStateOf(d, rm)
		if held.token == token {
			// Our own create: the server executed it, its answer was lost, and
			// the client's retry was told the lock exists.
			return s.hold(ctx, held, expires)
		}
		if held.expired(s.now()) {
			removed, err := s.clear(ctx, model, owner, held, out, 0)
			if err != nil {
				return nil, nil, err
			}
			if removed {
				continue
			}
		}
		wait := delay + time.Duration(rand.Int64N(int64(delay)))
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, nil, fmt.Errorf("%w: another promotion of %q (%s) holds the lock %s until %s; gave up at the deadline",
				ErrConflict, model, held.owner, name, held.expires)
		}
		if err := registry.SleepContext(ctx, wait); err != nil {
			return nil, nil, fmt.Errorf("%w: waiting for the lock %s held by %s: %w", ErrConflict, name, held.owner, err)
		}
		delay = min(delay*2, maxLockPollDelay)
	}
}

// clear removes st, an expired lock or takeover claim found at st.name, so
// that the caller can take the lock; it reports whether it removed it.
//
// A delete goes by name, and the name outlives the lock: two waiters that
// both read the same expired lock would each delete "the lock", and the
// later delete would remove the lock the earlier one had just created. So
// deleting a lock is itself serialized by the one atomic operation: only
// the run that creates the takeover claim named after that lock's id
// (mlreg-takeover.<id>, a name no other lock shares) may delete it, and
// only once it has read, holding the claim, that the name still holds that
// same lock, still expired. Any other waiter finds the claim taken and
// waits; one that comes after the claim was deleted creates it anew, reads
// that the lock has changed, and deletes only its claim. A claim expires
// too (it is never renewed: its holder makes three requests), and the claim
// of a run that died is cleared the same way, under the claim named after it.
func (s *Service) clear(ctx context.Context, model, owner string, st lockState, out *Outcome, depth int) (bool, error) {
	d := s.Reg
	claim := lockState{name: d.TakeoverName(model, st.id()), owner: owner, token: fmt.Sprintf("%016x", rand.Uint64())}
	expires := s.expiry()
	_, err := s.Lock.CreateRegisteredModel(ctx, claim.name, fmt.Sprintf(takeoverDescription, st.name, expires.Format(time.RFC3339)),
		s.lockTags(claim.owner, claim.token, expires))
	if registry.IsNotFound(err) {
		return false, nil // a claim deleted between the name check and the insert: contention
	}
	if registry.IsAlreadyExists(err) {
		rm, rerr := s.Lock.GetRegisteredModel(ctx, claim.name)
		switch {
		case registry.IsNotFound(rerr):
			return false, nil // its holder is done: look at the lock again
		case rerr != nil:
			return false, fmt.Errorf("failed to read takeover claim %s: %w", claim.name, rerr)
		}
		other := lockStateOf(d, rm)
		switch {
		case other.token == claim.token:
			err = nil // ours: the create's answer was lost
		case other.expired(s.now()) && depth < maxClaimDepth:
			return s.clear(ctx, model, owner, other, out, depth+1)
		default:
			return false, nil // another run is taking it over
		}
	}
	if err != nil {
		return false, fmt.Errorf("failed to claim expired lock %s of %s: %w", st.name, st.owner, err)
	}
	defer func() {
		// Unless the claim may have expired: it could be another's by now.
		if s.now().Before(expires.Add(-s.lockMargin())) {
			if err := s.deleteLock(ctx, claim); err != nil {
				out.Notes = append(out.Notes, fmt.Sprintf("failed to delete the takeover claim %s (it expires by itself): %v", claim.name, err))
			}
		}
	}()
	rm, err := s.Lock.GetRegisteredModel(ctx, st.name)
	switch {
	case registry.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("failed to read lock %s: %w", st.name, err)
	}
	cur := lockStateOf(d, rm)
	if cur.id() != st.id() || !cur.expired(s.now()) || !s.now().Before(expires.Add(-s.lockMargin())) {
		return false, nil // replaced, renewed, or this run is too slow to trust its claim
	}
	if err := s.deleteLock(ctx, cur); err != nil {
		return false, fmt.Errorf("failed to remove expired lock %s of %s: %w", st.name, st.owner, err)
	}
	what := "lock"
	if depth > 0 {
		what = "takeover claim " + st.name
	}
	out.Notes = append(out.Notes, fmt.Sprintf("removed the expired %s of %s (expired %s)", what, cur.owner, cur.expires))
	return true, nil
}

// deleteLock deletes st.name while it holds st. The client does not repeat
// a delete that may have reached the server (a repeat could delete the lock
// the next run has created since); after such a failure, the name is read
// again, and the delete is sent again only while it still holds st.
func (s *Service) deleteLock(ctx context.Context, st lockState) error {
	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.Lock.DeleteRegisteredModel(ctx, st.name)
		if err == nil || registry.IsNotFound(err) {
			return nil
		}
		if refused(err) || attempt == lockDeleteAttempts {
			return err
		}
		rm, rerr := s.Lock.GetRegisteredModel(ctx, st.name)
		switch {
		case registry.IsNotFound(rerr):
			return nil
		case rerr != nil:
			return err
		case lockStateOf(s.Reg, rm).id() != st.id():
			return nil // deleted, and the name is another run's now
		}
		if registry.SleepContext(ctx, delay) != nil {
			return err
		}
		delay = min(delay*2, maxLockPollDelay)
	}
}

// lease is a held lock. A heartbeat renews it every third of the TTL, with
// compare-and-set as MLflow allows it: it reads the lock and writes the new
// expiry only if the lock still carries its token. A lock that is gone or
// carries another token was lost (the holder stalled past its expiry and
// another run took it over), and so is one left unrenewed until less than
// lockMargin is left; then the work's context is cancelled (its next request
// fails), the heartbeat stops, and the release leaves the lock alone.
type lease struct {
	s      *Service
	lock   lockState
	cancel context.CancelCauseFunc // ends the work's context
	stop   context.CancelFunc      // ends the heartbeat
	done   chan struct{}           // closed when the heartbeat has returned

	mu      sync.Mutex
	expires time.Time // as last written
	lost    error
}

// hold starts the lease of lock, written with expires.
func (s *Service) hold(ctx context.Context, lock lockState, expires time.Time) (context.Context, *lease, error) {
	work, cancel := context.WithCancelCause(ctx)
	beat, stop := context.WithCancel(ctx)
	l := &lease{s: s, lock: lock, cancel: cancel, stop: stop, done: make(chan struct{}), expires: expires}
	go l.heartbeat(beat)
	return work, l, nil
}

// lapse is when the holder stops trusting its lease.
func (l *lease) lapse() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expires.Add(-l.s.lockMargin())
}

// lostErr says why the lock was lost; nil while it is held (and for a nil lease).
func (l *lease) lostErr() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

func (l *lease) heartbeat(ctx context.Context) {
	defer close(l.done)
	every := l.s.lockTTL() / 3
	for {
		wait := min(every, max(l.lapse().Sub(l.s.now()), 0))
		select {
		case <-ctx.Done():
			return
		case <-l.s.after(wait):
		}
		err := l.renew(ctx)
		if ctx.Err() != nil {
			return // released meanwhile
		}
		if err != nil {
			err = fmt.Errorf("lost the lock %s: %w", l.lock.name, err)
			l.mu.Lock()
			l.lost = err
			l.mu.Unlock()
			l.cancel(err)
			return
		}
	}
}

// renew extends the lease; an error means the lock is lost. A renewal that
// fails before the lease lapses is not: the next beat tries again.
func (l *lease) renew(ctx context.Context) error {
	s, d := l.s, l.s.Reg
	lapse := l.lapse()
	left := lapse.Sub(s.now())
	if left <= 0 {
		return fmt.Errorf("it was not renewed in time (it expires at %s)", lapse.Add(s.lockMargin()).Format(time.RFC3339))
	}
	ctx, cancel := context.WithTimeout(ctx, left)
	defer cancel()
	failed := func(err error) error {
		if s.now().Before(lapse) {
			return nil
		}
		return fmt.Errorf("failed to renew it in time: %w", err)
	}
	rm, err := s.Lock.GetRegisteredModel(ctx, l.lock.name)
	switch {
	case registry.IsNotFound(err):
		return fmt.Errorf("it was deleted")
	case err != nil:
		return failed(err)
	}
	if cur := lockStateOf(d, rm); cur.id() != l.lock.id() {
		return fmt.Errorf("another promotion (%s) took it over", cur.owner)
	}
	expires := s.expiry()
	if err := s.Lock.SetRegisteredModelTag(ctx, l.lock.name, d.TagKey(TagLockExpires), expires.Format(time.RFC3339)); err != nil {
		return failed(err)
	}
	l.mu.Lock()
	l.expires = expires
	l.mu.Unlock()
	return nil
}

// release stops the heartbeat and deletes the lock, unless it was lost or
// has lapsed: then another run may be taking it over, and it expires by
// itself.
func (l *lease) release(ctx context.Context, out *Outcome) {
	if l == nil {
		return
	}
	l.stop()
	<-l.done
	defer l.cancel(nil)
	s := l.s
	if err := l.lostErr(); err != nil {
		out.Notes = append(out.Notes, fmt.Sprintf("did not release the lock: %v", err))
		return
	}
	if !s.now().Before(l.lapse()) {
		out.Notes = append(out.Notes, fmt.Sprintf("left the lock %s to expire: it was not renewed in time", l.lock.name))
		return
	}
	// Release even after the deadline (a lock left behind blocks the next run
	// until it expires), but overrun the step's deadline by lockReleaseGrace at most.
	d := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		d = max(time.Until(dl), lockReleaseGrace)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	defer cancel()
	if err := s.deleteLock(ctx, l.lock); err != nil {
		out.Notes = append(out.Notes, fmt.Sprintf("failed to release the lock %s (it expires by itself): %v", l.lock.name, err))
	}
}
