package promote

import (
	"errors"
	"testing"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
)

// TestLockSerializesConcurrentApplies interleaves two promotions planned
// against the same champion: B runs while A is about to move the alias. With
// the lock, B waits and then stops with ErrConflict; without it, both would
// report success and the history would claim both replaced v1.
func TestLockSerializesConcurrentApplies(t *testing.T) {
	t.Parallel()
	for _, locked := range []bool{true, false} {
		reg := newMem("m", mlflow.ModelVersion{Version: "1"}, mlflow.ModelVersion{Version: "2"}, mlflow.ModelVersion{Version: "3"})
		reg.setAlias("champion", "1")
		lock := reg.LockName("m")
		lockBusy := make(chan struct{}, 1) // receives when a lock create finds the lock taken
		reg.Before("CreateRegisteredModel", lock, 0, func() {
			if _, held := reg.Model(lock); held {
				select {
				case lockBusy <- struct{}{}:
				default:
				}
			}
		})
		var onSet func() // runs once, when the first alias move is about to happen
		reg.Before("SetAlias", "", 1, func() { onSet() })
		newSvc := func(owner string) *Service {
			s := &Service{Reg: reg, LockOwner: owner}
			if locked {
				s.Lock = reg
			}
			return s
		}
		a, b := newSvc("A"), newSvc("B")
		req := func(v string) Request {
			return Request{Model: "m", Version: Version(v), Target: checks.Target{Alias: "champion"}}
		}
		planA, err := a.Plan(t.Context(), req("2"))
		if err != nil {
			t.Fatal(err)
		}
		planB, err := b.Plan(t.Context(), req("3"))
		if err != nil {
			t.Fatal(err)
		}
		bDone := make(chan error, 1)
		onSet = func() {
			go func() { _, err := b.Apply(t.Context(), planB); bDone <- err }()
			select { // A goes on once B finished (no lock) or is waiting for the lock.
			case err := <-bDone:
				bDone <- err
			case <-lockBusy:
			}
		}
		_, errA := a.Apply(t.Context(), planA)
		errB := <-bDone
		h, _ := mlflow.Rules{}.ParseHistory(reg.modelTag(HistoryTagKey(checks.AliasTarget("champion"))))
		if locked {
			if errA != nil || !errors.Is(errB, ErrConflict) {
				t.Errorf("locked: A err %v, B err %v; want A to succeed and B to conflict", errA, errB)
			}
			if len(h) != 1 || h[0].Version != "2" || reg.alias("champion") != "2" {
				t.Errorf("locked: holder v%s, history %+v; want v2 with one entry", reg.alias("champion"), h)
			}
			if _, ok := reg.Model(lock); ok {
				t.Errorf("locked: lock %s left behind", lock)
			}
			continue
		}
		// Without the lock both report success: the hazard the lock removes.
		if errA != nil || errB != nil {
			t.Errorf("unlocked: A err %v, B err %v; the interleaving no longer shows the hazard", errA, errB)
		}
	}
}
