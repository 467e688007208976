package action_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/testing/faultproxy"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
	"github.com/mlreg/mlreg-action/internal/testing/testutil"
)

// startServer starts an extra MLflow server for one test. A missing server
// fails the test on CI and skips it elsewhere, as for the package's server.
func startServer(t *testing.T, opts mlflowtest.Options) *mlflowtest.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), mlflowtest.StartLimit)
	defer cancel()
	s, err := mlflowtest.Start(ctx, opts)
	if errors.Is(err, mlflowtest.ErrNoMLflow) && !testutil.Required() {
		t.Skip(mlflowtest.SkipMessage)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

// postgresServer starts PostgreSQL and an MLflow server on it.
func postgresServer(t *testing.T) *mlflowtest.Server {
	t.Helper()
	mlflowtest.RequireServer(t, srv)
	pg, err := mlflowtest.StartPostgres(t.Context())
	if errors.Is(err, mlflowtest.ErrNoPostgres) && !testutil.Required() {
		t.Skip("PostgreSQL is not installed (apt-get install postgresql); CI runs this test")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop() })
	if err := pg.CreateDatabase(t.Context(), "mlflow"); err != nil {
		t.Fatal(err)
	}
	// Several workers, as a production server runs, so requests really overlap.
	return startServer(t, mlflowtest.Options{BackendURI: pg.URI("mlflow"), ExtraArgs: []string{"--workers", "4"}})
}

func TestConcurrentPromotionsOnPostgres(t *testing.T) {
	t.Parallel()
	s := postgresServer(t)
	f := s.Fixtures()
	ctx := t.Context()
	exp, err := f.CreateExperiment(ctx, mlflowtest.UniqueName(t, "exp"))
	if err != nil {
		t.Fatal(err)
	}
	newVersion := func(model string) {
		run, err := f.CreateRun(ctx, exp, mlflowtest.RunSpec{Metrics: map[string]float64{"val_auc": 0.95}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.CreateRunVersion(ctx, model, run, nil); err != nil {
			t.Fatal(err)
		}
	}
	// The runs that wait for the lock wait until their deadline; it is far
	// enough that it never decides an outcome, however slowly a loaded
	// machine lets ten promotions take the lock in turn (a run that met it
	// would exit 4 without a holder to name, and fail the test).
	run := func(model, version string) result {
		return runAction(t, map[string]string{"tracking-uri": s.URL, "model-name": model, "version": version,
			"target-alias": "champion", "policy": "none", "timeout": "15m"}, nil)
	}

	t.Run("20 models at once", func(t *testing.T) {
		var models []string
		for i := 0; i < 20; i++ {
			m := mlflowtest.UniqueName(t, fmt.Sprintf("many%d", i))
			if err := f.CreateRegisteredModel(ctx, m); err != nil {
				t.Fatal(err)
			}
			newVersion(m)
			models = append(models, m)
		}
		codes := make([]int, len(models))
		var wg sync.WaitGroup
		start := time.Now()
		for i, m := range models {
			wg.Add(1)
			go func() { defer wg.Done(); codes[i] = run(m, "1").code }()
		}
		wg.Wait()
		t.Logf("20 concurrent promotions of different models: %s", time.Since(start).Round(time.Millisecond))
		for i, m := range models {
			if codes[i] != 0 || aliasOf(t, f, m, "champion") != "1" {
				t.Errorf("%s: exit %d, @champion %q", m, codes[i], aliasOf(t, f, m, "champion"))
			}
		}
	})

	t.Run("8 candidates against a dead run's lock", func(t *testing.T) { raceAgainstStaleLock(t, f, s.URL) })

	t.Run("10 candidates for one alias", func(t *testing.T) {
		model := mlflowtest.UniqueName(t, "race")
		if err := f.CreateRegisteredModel(ctx, model); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 11; i++ {
			newVersion(model)
		}
		if res := run(model, "1"); res.code != 0 {
			t.Fatalf("seed promotion: exit %d\n%s", res.code, res.stdout)
		}
		codes, logs := map[string]int{}, map[string]string{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for v := 2; v <= 11; v++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := run(model, strconv.Itoa(v))
				mu.Lock()
				codes[strconv.Itoa(v)] = res.code
				logs[strconv.Itoa(v)] = res.stdout
				mu.Unlock()
				if res.code == 4 && !strings.Contains(res.stdout, "held by") && !strings.Contains(res.stdout, "lost") {
					t.Errorf("v%d exit 4 without saying who holds the alias:\n%s", v, res.stdout)
				}
			}()
		}
		wg.Wait()

		holder := aliasOf(t, f, model, "champion")
		hist := chainedHistory(t, f, model)
		won := 0
		for v, c := range codes {
			switch c {
			case 0:
				won++
			case 4:
			default:
				t.Errorf("v%s exit %d, want 0 or 4\n%s", v, c, logs[v])
			}
		}
		t.Logf("10 concurrent candidates: %d applied in turn, %d exited 4; final holder v%s; %d history entries", won, 10-won, holder, len(hist))
		// Every applied promotion is in the history, chained, newest = holder: no entry lost.
		if len(hist) != won+1 {
			t.Errorf("history has %d entries, want %d (seed + %d applied): %v", len(hist), won+1, won, hist)
		}
		if won < 1 || codes[holder] != 0 {
			t.Errorf("holder v%s did not report success (codes %v)", holder, codes)
		}
		// The lock is gone after the runs.
		if _, err := f.ModelTags(ctx, "mlreg-lock."+model); err == nil {
			t.Errorf("lock model mlreg-lock.%s was left behind", model)
		}
	})
}

func TestPromotionsAgainstAStaleLock(t *testing.T) {
	t.Parallel()
	s := mlflowtest.RequireServer(t, srv)
	raceAgainstStaleLock(t, s.Fixtures(), s.URL)
}

// raceAgainstStaleLock: a run that died left the lock of a model; 8
// promotions of different versions to @champion start at once against it,
// and each reruns after an exit 4 (its plan saw a holder that another run
// replaced meanwhile) until it applies, as a workflow's retry would. Exactly
// one run takes the dead lock over; the lock never has two holders, so the
// history chains all 8 moves with none lost, and neither the lock nor a
// takeover claim is left.
func raceAgainstStaleLock(t *testing.T, f *mlflowtest.Fixtures, uri string) {
	ctx := t.Context()
	model := mlflowtest.UniqueName(t, "stale")
	if err := f.CreateModelWithVersions(ctx, model, 9, map[string]float64{"val_auc": 0.95}); err != nil {
		t.Fatal(err)
	}
	// The runs go through a proxy that forwards everything and records it:
	// it counts the lock's deletes.
	p := faultproxy.New(t, uri)
	run := func(version string) result {
		return runAction(t, map[string]string{"tracking-uri": p.URL, "model-name": model, "version": version,
			"target-alias": "champion", "policy": "none", "timeout": "15m"}, nil)
	}
	if res := run("1"); res.code != 0 {
		t.Fatalf("seed promotion: exit %d\n%s", res.code, res.stdout)
	}
	// The dead run's lock, as it left it: expired a minute ago on the
	// harness's clock.
	lock, token := mlflow.LockName(model), "0123456789abcdef"
	if err := f.CreateRegisteredModel(ctx, lock); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{promote.TagLockOwner: "dead-run", promote.TagLockToken: token,
		promote.TagLockExpires: fixedNow.Add(-time.Minute).Format(time.RFC3339)} {
		if err := f.SetModelTag(ctx, lock, k, v); err != nil {
			t.Fatal(err)
		}
	}

	seeded := len(p.Requests())
	var mu sync.Mutex
	var logs []string
	var wg sync.WaitGroup
	for v := 2; v <= 9; v++ {
		wg.Go(func() {
			for attempt := 1; ; attempt++ {
				res := run(strconv.Itoa(v))
				mu.Lock()
				logs = append(logs, res.stdout)
				mu.Unlock()
				if res.code == 0 {
					return
				}
				if res.code != 4 || attempt == 8 {
					t.Errorf("v%d attempt %d: exit %d\n%s", v, attempt, res.code, res.stdout)
					return
				}
			}
		})
	}
	wg.Wait()

	// Every run took the lock and released it once (a run that exits 4
	// does so under the lock); one more delete removed the dead run's lock.
	// Each run that deleted it saw it expired, and says so when it succeeds.
	deletes, said := 0, 0
	for _, r := range p.Requests()[seeded:] {
		if r.Method == http.MethodDelete && strings.Contains(r.Body, `"name":"`+lock+`"`) {
			deletes++
		}
	}
	for _, l := range logs {
		said += strings.Count(l, "removed the expired lock of dead-run")
	}
	t.Logf("8 candidates against a dead run's lock: %d runs after the seed, %d deletes of the lock", len(logs), deletes)
	if takeovers := deletes - len(logs); takeovers != 1 || said > 1 {
		t.Errorf("%d runs deleted the dead run's lock (%d say so), want exactly 1", takeovers, said)
	}
	hist := chainedHistory(t, f, model)
	seen := map[any]bool{}
	for _, e := range hist {
		seen[e["version"]] = true
	}
	if len(hist) != 9 || len(seen) != 9 {
		t.Errorf("history has %d entries of %d versions, want the seed and all 8 promotions once each: %v", len(hist), len(seen), hist)
	}
	for _, name := range []string{lock, promote.TakeoverName(mlflow.Rules{}, model, "dead-run", token)} {
		if _, err := f.ModelTags(ctx, name); !mlflowtest.IsErrorCode(err, "RESOURCE_DOES_NOT_EXIST") {
			t.Errorf("%s is left behind (%v)", name, err)
		}
	}
}

// chainedHistory reads the history of @champion and checks that it is a
// chain: each entry's previous version is the entry before it, and the
// newest is the holder.
func chainedHistory(t *testing.T, f *mlflowtest.Fixtures, model string) []map[string]any {
	t.Helper()
	tags, err := f.ModelTags(t.Context(), model)
	if err != nil {
		t.Fatal(err)
	}
	var hist []map[string]any
	if err := json.Unmarshal([]byte(tags["mlreg.history.alias.champion"]), &hist); err != nil {
		t.Fatal(err)
	}
	if holder := aliasOf(t, f, model, "champion"); len(hist) > 0 && hist[0]["version"] != holder {
		t.Errorf("newest history entry is v%v, the holder is v%s", hist[0]["version"], holder)
	}
	for i := 0; i+1 < len(hist); i++ {
		if hist[i]["previous_version"] != hist[i+1]["version"] {
			t.Errorf("history entry %d says previous v%v, the entry before it is v%v", i, hist[i]["previous_version"], hist[i+1]["version"])
		}
	}
	return hist
}
