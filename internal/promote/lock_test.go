package promote

import (
	"context"
	"errors"
	"testing"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
)

// lockingMem adds the lock's registered-model calls to memRegistry, and a hook
// that runs once when the first alias move is about to happen.
type lockingMem struct {
	*memRegistry
	locks     map[string][]mlflow.Tag
	onSet     func()
	lockBusy  chan struct{} // receives when a lock create finds the lock taken
	setCalled bool
}

func (l *lockingMem) CreateRegisteredModel(_ context.Context, name, _ string, tags []mlflow.Tag) (*mlflow.RegisteredModel, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.locks[name]; ok {
		select {
		case l.lockBusy <- struct{}{}:
		default:
		}
		return nil, &mlflow.Error{StatusCode: 400, Code: mlflow.CodeResourceAlreadyExists}
	}
	l.locks[name] = tags
	return &mlflow.RegisteredModel{Name: name}, nil
}

func (l *lockingMem) GetRegisteredModel(ctx context.Context, name string) (*mlflow.RegisteredModel, error) {
	l.mu.Lock()
	tags, ok := l.locks[name]
	l.mu.Unlock()
	if ok {
		return &mlflow.RegisteredModel{Name: name, Tags: tags}, nil
	}
	if name != l.model {
		return nil, errNotFound
	}
	return l.memRegistry.GetRegisteredModel(ctx, name)
}

func (l *lockingMem) DeleteRegisteredModel(_ context.Context, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.locks, name)
	return nil
}

func (l *lockingMem) SetAlias(ctx context.Context, name, alias, version string) error {
	l.mu.Lock()
	first := !l.setCalled
	l.setCalled = true
	l.mu.Unlock()
	if first && l.onSet != nil {
		l.onSet()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.aliases[alias] = version
	return nil
}

// TestLockSerializesConcurrentApplies interleaves two promotions planned
// against the same champion: B runs while A is about to move the alias. With
// the lock, B waits and then stops with ErrConflict; without it, both would
// report success and the history would claim both replaced v1.
func TestLockSerializesConcurrentApplies(t *testing.T) {
	t.Parallel()
	for _, locked := range []bool{true, false} {
		mem := newMem("m", mlflow.ModelVersion{Version: "1"}, mlflow.ModelVersion{Version: "2"}, mlflow.ModelVersion{Version: "3"})
		mem.aliases["champion"] = "1"
		reg := &lockingMem{memRegistry: mem, locks: map[string][]mlflow.Tag{}, lockBusy: make(chan struct{}, 1)}
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
		reg.onSet = func() {
			go func() { _, err := b.Apply(t.Context(), planB); bDone <- err }()
			select { // A goes on once B finished (no lock) or is waiting for the lock.
			case err := <-bDone:
				bDone <- err
			case <-reg.lockBusy:
			}
		}
		_, errA := a.Apply(t.Context(), planA)
		errB := <-bDone
		h, _ := mlflow.Rules{}.ParseHistory(mem.modelTag[HistoryTagKey(checks.AliasTarget("champion"))])
		if locked {
			if errA != nil || !errors.Is(errB, ErrConflict) {
				t.Errorf("locked: A err %v, B err %v; want A to succeed and B to conflict", errA, errB)
			}
			if len(h) != 1 || h[0].Version != "2" || mem.aliases["champion"] != "2" {
				t.Errorf("locked: holder v%s, history %+v; want v2 with one entry", mem.aliases["champion"], h)
			}
			if len(reg.locks) != 0 {
				t.Errorf("locked: lock left behind: %v", reg.locks)
			}
			continue
		}
		// Without the lock both report success: the hazard the lock removes.
		if errA != nil || errB != nil {
			t.Errorf("unlocked: A err %v, B err %v; the interleaving no longer shows the hazard", errA, errB)
		}
	}
}
