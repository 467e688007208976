package promote_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// barrier lets n calls through only once all n have arrived: calls made one
// after the other never get through (they fail after a long wait instead).
type barrier struct {
	n       int
	mu      sync.Mutex
	arrived []string
	all     chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, all: make(chan struct{})} }

func (b *barrier) arrive(call string) error {
	b.mu.Lock()
	b.arrived = append(b.arrived, call)
	if len(b.arrived) == b.n {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
		return nil
	case <-time.After(30 * time.Second):
		b.mu.Lock()
		defer b.mu.Unlock()
		return fmt.Errorf("%s waited for %d calls at once, only %v came", call, b.n, b.arrived)
	}
}

// barrierRegistry answers a candidate v2 and a champion v1 (holding
// @champion), each with a run and a logged model; the reads of one level of
// the plan must all be in flight at once to get through.
type barrierRegistry struct {
	registry.Registry // nil: any other call panics
	mlflow.Rules
	resolve    *barrier
	subjects   *barrier
	versionErr error
	aliasErr   error
}

func (r *barrierRegistry) version(v string) *mlflow.ModelVersion {
	return &mlflow.ModelVersion{Name: "m", Version: v, RunID: "run-" + v, Source: "models:/m-" + v,
		Status: mlflow.StatusReady, CurrentStage: mlflow.StageNone}
}

func (r *barrierRegistry) GetModelVersion(_ context.Context, _, v string) (*mlflow.ModelVersion, error) {
	if err := r.resolve.arrive("GetModelVersion"); err != nil {
		return nil, err
	}
	return r.version(v), r.versionErr
}

func (r *barrierRegistry) GetModelVersionByAlias(context.Context, string, string) (*mlflow.ModelVersion, error) {
	if err := r.resolve.arrive("GetModelVersionByAlias"); err != nil {
		return nil, err
	}
	return r.version("1"), r.aliasErr
}

func (r *barrierRegistry) GetRun(_ context.Context, id string) (*mlflow.Run, error) {
	if err := r.subjects.arrive("GetRun " + id); err != nil {
		return nil, err
	}
	return &mlflow.Run{Info: mlflow.RunInfo{RunID: id, Status: mlflow.RunFinished, EndTime: 1}}, nil
}

func (r *barrierRegistry) GetLoggedModel(_ context.Context, id string) (*mlflow.LoggedModel, error) {
	if err := r.subjects.arrive("GetLoggedModel " + id); err != nil {
		return nil, err
	}
	// Decoded as MLflow sends it.
	var lm mlflow.LoggedModel
	body := fmt.Sprintf(`{"data":{"metrics":[{"key":"val_auc","value":%s}]}}`, map[string]string{"m-1": "0.90", "m-2": "0.93"}[id])
	if err := json.Unmarshal([]byte(body), &lm); err != nil {
		return nil, err
	}
	return &lm, nil
}

const vsChampionPolicy = `version: 1
rules:
  - name: gate
    applies-to: {alias: champion}
    metrics:
      val_auc:
        min: 0.8
        vs-champion: {min-improvement: 0.01}
`

// TestPlanReadsIndependentRequestsAtOnce: the candidate and the champion are
// resolved at once, then both runs and both logged models are read at once,
// so an alias promotion's plan is two round trips deep, not six.
func TestPlanReadsIndependentRequestsAtOnce(t *testing.T) {
	t.Parallel()
	pol, err := checks.Parse("policy.yml", []byte(vsChampionPolicy))
	if err != nil {
		t.Fatal(err)
	}
	reg := &barrierRegistry{resolve: newBarrier(2), subjects: newBarrier(4)}
	svc := &promote.Service{Reg: reg, Now: func() time.Time { return time.Unix(0, 0) }}
	plan, err := svc.Plan(t.Context(), promote.Request{Model: "m", Version: promote.Version("2"), Target: checks.Target{Alias: "champion"}, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Verdict != checks.VerdictPass || len(plan.Checks) != 2 || plan.Checks[1].Delta != "+0.03" {
		t.Errorf("plan: verdict %s, checks %+v", plan.Verdict, plan.Checks)
	}
}

// TestPlanReportsTheCandidateErrorFirst: with both reads failing, the error
// is the candidate's, as when they ran one after the other.
func TestPlanReportsTheCandidateErrorFirst(t *testing.T) {
	t.Parallel()
	notFound := &mlflow.Error{StatusCode: http.StatusNotFound, Code: mlflow.CodeResourceDoesNotExist, Message: "no v2"}
	denied := &mlflow.Error{StatusCode: http.StatusForbidden, Code: mlflow.CodePermissionDenied, Message: "denied"}
	reg := &barrierRegistry{resolve: newBarrier(2), subjects: newBarrier(4), versionErr: notFound, aliasErr: denied}
	svc := &promote.Service{Reg: reg}
	_, err := svc.Plan(t.Context(), promote.Request{Model: "m", Version: promote.Version("2"), Target: checks.Target{Alias: "champion"}})
	if !mlflow.IsNotFound(err) || !strings.Contains(err.Error(), "no v2") {
		t.Errorf("error = %v, want the candidate's not found", err)
	}
	var apiErr *mlflow.Error
	if errors.As(err, &apiErr) && apiErr != notFound {
		t.Errorf("error wraps %v, want the candidate's", apiErr)
	}
}
