package promote

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/mlflow"
)

// TestApplyTakesAndReleasesTheLock: the lock is a registered model created
// before the first write and deleted after the record, carrying its owner
// and expiry.
func TestApplyTakesAndReleasesTheLock(t *testing.T) {
	t.Parallel()
	reg := threeVersions()
	var held map[string]string
	reg.before("SetAlias", "", 1, func(m *memRegistry) {
		if l, ok := m.Model("mlreg-lock.m"); ok {
			held = map[string]string{}
			for _, tg := range l.Tags {
				held[tg.Key] = tg.Value
			}
		}
	})
	s := &Service{Reg: reg, Now: clock(t0), Lock: reg, LockOwner: testRunURL, LockTTL: time.Minute}
	_, out, err := planApply(t, s, promoteTo("2"))
	if err != nil || len(out.Notes) > 0 {
		t.Fatalf("outcome %+v, err %v", out, err)
	}
	if held[TagLockOwner] != testRunURL || held[TagLockExpires] != "2026-03-01T12:01:00Z" || len(held[TagLockToken]) != 16 {
		t.Errorf("lock tags while moving = %v; want owner, expiry now+TTL and a token", held)
	}
	w := reg.writes()
	if len(w) < 2 || w[0] != "CreateRegisteredModel mlreg-lock.m" || w[len(w)-1] != "DeleteRegisteredModel mlreg-lock.m" {
		t.Errorf("writes %v; want the lock created first and deleted last", w)
	}
	if _, ok := reg.Model("mlreg-lock.m"); ok {
		t.Error("lock left behind")
	}
}

func TestApplyLockFaults(t *testing.T) {
	t.Parallel()
	exists := &mlflow.Error{Method: "POST", StatusCode: 400, Code: mlflow.CodeResourceAlreadyExists, Message: "exists"}
	heldBy := func(owner string, expires time.Time) func(m *memRegistry) {
		return func(m *memRegistry) {
			m.CreateModel("mlreg-lock.m", TagLockOwner, owner, TagLockExpires, expires.Format(time.RFC3339), TagLockToken, "other")
		}
	}
	cases := []struct {
		name    string
		setup   func(m *memRegistry)
		timeout time.Duration // for the apply; 0 = none
		err     string        // error prefix; "" = the promotion succeeds
		notes   []string
		// among: the notes include tc.notes (others may follow).
		among   bool
		lockOut bool // the lock still exists afterwards
	}{
		{
			name:  "permission denied: promotions are not serialized",
			setup: func(m *memRegistry) { m.fail("CreateRegisteredModel", "mlreg-lock.", 0, errDenied) },
			notes: []string{`could not create the lock mlreg-lock.m (permission denied): concurrent promotions of "m" are not serialized`},
		},
		{
			name:  "registry error on create",
			setup: func(m *memRegistry) { m.fail("CreateRegisteredModel", "mlreg-lock.", 0, errUnavailable) },
			err:   "failed to create lock mlreg-lock.m: ",
		},
		{
			// The server created the lock, the answer was lost, the client's
			// retry was told it exists: the token shows it is ours.
			name:  "own create, answer lost",
			setup: func(m *memRegistry) { m.loseAnswer("CreateRegisteredModel", "mlreg-lock.", 1, exists) },
		},
		{
			name:  "lock deleted between the name check and the insert",
			setup: func(m *memRegistry) { m.fail("CreateRegisteredModel", "mlreg-lock.", 1, errNotFound) },
			notes: []string{`waited for a concurrent promotion of "m" (2 attempts)`},
		},
		{
			name: "lock released between create and read",
			setup: func(m *memRegistry) {
				heldBy("run-9", t0.Add(time.Hour))(m)
				m.before("GetRegisteredModel", "mlreg-lock.", 1, func(m *memRegistry) { m.DeleteModelDirect("mlreg-lock.m") })
			},
			notes: []string{`waited for a concurrent promotion of "m" (2 attempts)`},
		},
		{
			name: "lock unreadable",
			setup: func(m *memRegistry) {
				heldBy("run-9", t0.Add(time.Hour))(m)
				m.fail("GetRegisteredModel", "mlreg-lock.", 0, errUnavailable)
			},
			err:     "failed to read lock mlreg-lock.m: ",
			lockOut: true,
		},
		{
			name:  "expired lock of a dead run is taken over",
			setup: heldBy("run-9", t0.Add(-time.Minute)),
			notes: []string{"removed the expired lock of run-9 (expired 2026-03-01T11:59:00Z)"},
			// The takeover also counts as a second attempt ("waited for a
			// concurrent promotion"), which overstates it; not pinned here.
			among: true,
		},
		{
			name: "expired lock cannot be removed",
			setup: func(m *memRegistry) {
				heldBy("run-9", t0.Add(-time.Minute))(m)
				m.fail("DeleteRegisteredModel", "", 0, errDenied)
			},
			err:     "failed to remove expired lock mlreg-lock.m of run-9: ",
			lockOut: true,
		},
		{
			name:    "held until after the deadline",
			setup:   heldBy("run-9", t0.Add(time.Hour)),
			timeout: 10 * time.Millisecond, // shorter than the first wait: no sleep
			err:     `conflict: another promotion of "m" (run-9) holds the lock mlreg-lock.m until 2026-03-01T13:00:00Z; gave up at the deadline`,
			lockOut: true,
		},
		{
			// The server deleted the lock; the answer was lost. The client does
			// not repeat the delete (it could remove the next run's lock): the
			// lock is read, found gone, and that is the release.
			name:  "release: the delete's answer is lost",
			setup: func(m *memRegistry) { m.loseAnswer("DeleteRegisteredModel", "mlreg-lock.", 1, errReset) },
		},
		{
			name: "release: the delete fails twice, then goes through",
			setup: func(m *memRegistry) {
				m.fail("DeleteRegisteredModel", "mlreg-lock.", 1, errUnavailable)
				m.fail("DeleteRegisteredModel", "mlreg-lock.", 2, errReset)
			},
		},
		{
			// ... and meanwhile another run took the free name: its lock stays.
			name: "release: the delete's answer is lost and the next run holds the lock",
			setup: func(m *memRegistry) {
				m.loseAnswer("DeleteRegisteredModel", "mlreg-lock.", 1, errReset)
				m.before("GetRegisteredModel", "mlreg-lock.", 1, heldBy("run-9", t0.Add(time.Minute)))
			},
			lockOut: true,
		},
		{
			name:    "release fails",
			setup:   func(m *memRegistry) { m.fail("DeleteRegisteredModel", "", 0, errDenied) },
			notes:   []string{"failed to release the lock mlreg-lock.m (it expires by itself): failed to delete registered model \"mlreg-lock.m\": POST : 403 PERMISSION_DENIED: Permission denied"},
			lockOut: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := threeVersions()
			tc.setup(reg)
			s := &Service{Reg: reg, Now: clock(t0), Lock: reg, LockOwner: "me"}
			plan, err := s.Plan(t.Context(), promoteTo("2"))
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			out, err := s.Apply(ctx, plan)
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q...", err, tc.err)
				}
				if reg.alias("champion") != "1" {
					t.Errorf("a failed lock moved @champion to v%s", reg.alias("champion"))
				}
				if !strings.Contains(err.Error(), "nothing was changed") {
					t.Errorf("err = %v, want it to say nothing was changed", err)
				}
			} else {
				if err != nil {
					t.Fatalf("Apply() error: %v", err)
				}
				got := out.Notes
				if tc.among {
					got = slices.DeleteFunc(slices.Clone(got), func(n string) bool { return !slices.Contains(tc.notes, n) })
				}
				if diff := cmp.Diff(tc.notes, got); diff != "" {
					t.Errorf("notes (-want +got):\n%s", diff)
				}
				if reg.alias("champion") != "2" || len(reg.history(t, champ)) != 1 {
					t.Errorf("@champion = v%s, history %v; want the promotion recorded", reg.alias("champion"), reg.history(t, champ))
				}
			}
			if _, ok := reg.Model("mlreg-lock.m"); ok != tc.lockOut {
				t.Errorf("lock exists afterwards: %t, want %t", ok, tc.lockOut)
			}
		})
	}
}
