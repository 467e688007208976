package promote

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/mlreg/mlreg-action/internal/registry"
)

// The promotion lock (see registry.Locker). MLflow has no compare-and-set:
// aliases and tags are upserts, so two promotions that both read
// "@champion is v8" can both move it, and two read-modify-writes of the
// history tag can drop an entry. Registered-model names are unique, though.
// The lock is a registered model named by the registry's rules
// (registry.Rules.LockName), created before apply and deleted after record;
// it carries its owner and expiry in tags so a lock left by a killed run
// expires.

// Lock tag keys.
const (
	TagLockOwner   = "mlreg.lock.owner"
	TagLockExpires = "mlreg.lock.expires"
	// TagLockToken is unique to one acquisition: a create whose answer was
	// lost, retried by the client, finds the lock taken, and the token tells
	// that it is its own.
	TagLockToken = "mlreg.lock.token"
	// lockReleaseGrace is how long a release may run past the step's deadline.
	lockReleaseGrace = 2 * time.Second
	DefaultLockTTL   = 2 * time.Minute
	lockDescription  = "Held by mlreg-action while it promotes %q. Deleted when the promotion ends; expires at %s if the run dies."
	maxLockPollDelay = 2 * time.Second
)

// acquire takes the lock of model, waiting while another run holds it. It
// returns a release function; a registry that refuses to create the lock
// (permission denied) leaves promotions unserialized, reported as a note.
func (s *Service) acquire(ctx context.Context, model string, out *Outcome) (func(), error) {
	noop := func() {}
	if s.Lock == nil {
		return noop, nil
	}
	d := s.Reg
	name := d.LockName(model)
	ttl := s.LockTTL
	if ttl <= 0 {
		ttl = DefaultLockTTL
	}
	owner := d.TagValue(s.LockOwner)
	if owner == "" {
		owner = fmt.Sprintf("mlreg-action-%08x", rand.Uint32())
	}
	token := fmt.Sprintf("%016x", rand.Uint64())
	delay := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		expires := s.now().Add(ttl).Format(time.RFC3339)
		_, err := s.Lock.CreateRegisteredModel(ctx, name, fmt.Sprintf(lockDescription, model, expires),
			[]registry.Tag{{Key: d.TagKey(TagLockOwner), Value: owner}, {Key: d.TagKey(TagLockExpires), Value: expires}, {Key: d.TagKey(TagLockToken), Value: token}})
		switch {
		case err == nil:
			if attempt > 1 {
				out.Notes = append(out.Notes, fmt.Sprintf("waited for a concurrent promotion of %q (%d attempts)", model, attempt))
			}
			return func() { s.release(ctx, name, out) }, nil
		case registry.IsNotFound(err):
			// The server checks the name before inserting it; a lock deleted in
			// between (its holder released it) answers 404. That is contention:
			// try again.
			if err := registry.SleepContext(ctx, delay); err != nil {
				return nil, fmt.Errorf("%w: waiting for the lock %s: %w", ErrConflict, name, err)
			}
			continue
		case registry.IsPermissionDenied(err):
			out.Notes = append(out.Notes, fmt.Sprintf("could not create the lock %s (permission denied): concurrent promotions of %q are not serialized", name, model))
			return noop, nil
		case !registry.IsAlreadyExists(err):
			return nil, fmt.Errorf("failed to create lock %s: %w", name, err)
		}
		held, err := s.Lock.GetRegisteredModel(ctx, name)
		switch {
		case registry.IsNotFound(err):
			continue // released in between
		case err != nil:
			return nil, fmt.Errorf("failed to read lock %s: %w", name, err)
		}
		if tok, _ := held.Tag(d.TagKey(TagLockToken)); tok == token {
			// Our own create: the server executed it, its answer was lost, and
			// the client's retry was told the lock exists.
			return func() { s.release(ctx, name, out) }, nil
		}
		holder, _ := held.Tag(d.TagKey(TagLockOwner))
		exp, _ := held.Tag(d.TagKey(TagLockExpires))
		if t, perr := time.Parse(time.RFC3339, exp); perr == nil && s.now().After(t) {
			// A run that died holding the lock: take it over.
			if err := s.Lock.DeleteRegisteredModel(ctx, name); err != nil && !registry.IsNotFound(err) {
				return nil, fmt.Errorf("failed to remove expired lock %s of %s: %w", name, holder, err)
			}
			out.Notes = append(out.Notes, fmt.Sprintf("removed the expired lock of %s (expired %s)", holder, exp))
			continue
		}
		wait := delay + time.Duration(rand.Int64N(int64(delay)))
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, fmt.Errorf("%w: another promotion of %q (%s) holds the lock %s until %s; gave up at the deadline",
				ErrConflict, model, holder, name, exp)
		}
		if err := registry.SleepContext(ctx, wait); err != nil {
			return nil, fmt.Errorf("%w: waiting for the lock %s held by %s: %w", ErrConflict, name, holder, err)
		}
		delay = min(delay*2, maxLockPollDelay)
	}
}

func (s *Service) release(ctx context.Context, name string, out *Outcome) {
	// Release even after the deadline (a lock left behind blocks the next run
	// until it expires), but overrun the step's deadline by lockReleaseGrace at most.
	d := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		d = max(time.Until(dl), lockReleaseGrace)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	defer cancel()
	if err := s.Lock.DeleteRegisteredModel(ctx, name); err != nil && !registry.IsNotFound(err) {
		out.Notes = append(out.Notes, fmt.Sprintf("failed to release the lock %s (it expires by itself): %v", name, err))
	}
}
