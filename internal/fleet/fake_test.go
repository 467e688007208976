package fleet_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/registry"
	"github.com/mlreg/mlreg-action/internal/testing/memregistry"
)

// fakeRegistry is the in-memory registry of internal/testing/memregistry
// (MLflow's rules; the parity suite holds it to the real server) with the
// helpers the fleet tests use: models of versions with runs, and fail and
// hook, asked before each call with its method and model (fail's error is
// returned without acting; hook acts on the registry, e.g. a move by hand).
type fakeRegistry struct {
	*memregistry.Registry

	mu   sync.Mutex
	runs []string // the runs addModel made
	fail func(op, model string, args ...string) error
	hook func(op, model string, args ...string)
}

var _ registry.Backend = (*fakeRegistry)(nil)

// metric decodes a metric as MLflow sends it.
func metric(key string, v float64) mlflow.Metric {
	var m mlflow.Metric
	if err := json.Unmarshal(fmt.Appendf(nil, `{"key":%q,"value":%v}`, key, v), &m); err != nil {
		panic(err)
	}
	return m
}

func newFake() *fakeRegistry {
	f := &fakeRegistry{Registry: memregistry.New(mlflow.Rules{})}
	f.Intercept(func(c memregistry.Call) error {
		if f.hook != nil {
			f.hook(c.Method, c.Model)
		}
		if f.fail != nil {
			return f.fail(c.Method, c.Model)
		}
		return nil
	})
	return f
}

// addModel creates model with versions 1..n, each READY with a finished run
// that logged val_auc = aucs[i] (0.80 when aucs is short).
func (f *fakeRegistry) addModel(model string, n int, aucs ...float64) {
	f.CreateModel(model)
	for i := 1; i <= n; i++ {
		v := strconv.Itoa(i)
		run := model + "-run-" + v
		auc := 0.80
		if i <= len(aucs) {
			auc = aucs[i-1]
		}
		f.AddRun(mlflow.Run{
			Info: mlflow.RunInfo{RunID: run, Status: mlflow.RunFinished, EndTime: 1},
			Data: mlflow.RunData{Metrics: []mlflow.Metric{metric("val_auc", auc)}},
		})
		f.PutVersion(model, mlflow.ModelVersion{Version: v, RunID: run, Status: mlflow.StatusReady, CurrentStage: mlflow.StageNone})
		f.mu.Lock()
		f.runs = append(f.runs, run)
		f.mu.Unlock()
	}
}

// updateRuns changes every run addModel made.
func (f *fakeRegistry) updateRuns(fn func(r *mlflow.Run)) {
	f.mu.Lock()
	runs := f.runs
	f.mu.Unlock()
	for _, id := range runs {
		r, _ := f.Run(id)
		fn(&r)
		f.AddRun(r)
	}
}

func (f *fakeRegistry) setAlias(model, alias, v string)      { f.SetAliasDirect(model, alias, v) }
func (f *fakeRegistry) setStage(model, v, stage string)      { f.SetStage(model, v, stage) }
func (f *fakeRegistry) setModelTag(model, key, value string) { f.SetModelTagDirect(model, key, value) }
func (f *fakeRegistry) alias(model, alias string) string     { return f.Alias(model, alias) }
func (f *fakeRegistry) modelTag(model, key string) string    { return f.ModelTag(model, key) }

func (f *fakeRegistry) setStatus(model, v, status string) {
	mv, _ := f.Version(model, v)
	mv.Status = status
	f.PutVersion(model, *mv)
}

func (f *fakeRegistry) stageOf(model, v string) string {
	mv, _ := f.Version(model, v)
	return mv.CurrentStage
}

// history returns the recorded history of a target.
func (f *fakeRegistry) history(model string, t checks.Target) []promote.Record {
	h, err := mlflow.Rules{}.ParseHistory(f.modelTag(model, promote.HistoryTagKey(t)))
	if err != nil {
		panic(err)
	}
	return h
}

// writes returns the calls that change the registry, the lock's excluded,
// as "Method model detail".
func (f *fakeRegistry) writes() []string {
	var out []string
	for _, c := range f.CallLog() {
		if c.Write() && !strings.HasSuffix(c.Method, "RegisteredModel") {
			out = append(out, c.Method+" "+c.Model+" "+c.Detail)
		}
	}
	return out
}

// count returns how many calls were made, of op when op is not "".
func (f *fakeRegistry) count(op string) int {
	n := 0
	for _, c := range f.CallLog() {
		if op == "" || c.Method == op {
			n++
		}
	}
	return n
}

func (f *fakeRegistry) resetCalls() { f.ResetCalls() }

// locks returns the lock models left in the registry.
func (f *fakeRegistry) locks() []string {
	var out []string
	for _, name := range f.Models() {
		if strings.HasPrefix(name, mlflow.LockPrefix) {
			out = append(out, name)
		}
	}
	return out
}
