package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

const (
	alias           = "champion"
	metricKey       = "val_auc"
	championAUC     = 0.90
	candidateAUC    = 0.93
	logBatchMetrics = 1000 // the server's limit of metrics per runs/log-batch
)

// promoted is a registered model set up for the promotion: v1 is the champion (holds @champion), v2 the
// candidate, both with a finished run that logged val_auc; any further versions are fillers.
type promoted struct {
	Model              string
	Champion           string // "1"
	Candidate          string // "2"
	ChampionRun        string
	CandidateRun       string
	Versions           int // versions the model has now
	HistoryPoints      int // points of val_auc's history in each of the two runs (0: one value)
	experimentID       string
	f                  *mlflowtest.Fixtures
	fillerConcurrency  int
	fixtureRequestTime time.Duration
}

// newPromoted creates the model, its two runs and versions, and points @champion at v1. With historyPoints > 0
// each run logs val_auc historyPoints times (runs/log-batch, 1000 per call), around a mean of 0.90 (champion)
// and 0.93 (candidate).
func newPromoted(ctx context.Context, f *mlflowtest.Fixtures, experimentID, model string, historyPoints, concurrency int) (*promoted, error) {
	p := &promoted{Model: model, experimentID: experimentID, f: f, HistoryPoints: historyPoints, fillerConcurrency: concurrency}
	if err := f.CreateRegisteredModel(ctx, model); err != nil {
		return nil, err
	}
	var err error
	if p.ChampionRun, err = p.createRun(ctx, "champion", championAUC); err != nil {
		return nil, err
	}
	if p.CandidateRun, err = p.createRun(ctx, "candidate", candidateAUC); err != nil {
		return nil, err
	}
	for _, v := range []struct {
		run  string
		want string
		dst  *string
	}{{p.ChampionRun, "1", &p.Champion}, {p.CandidateRun, "2", &p.Candidate}} {
		got, err := f.CreateRunVersion(ctx, model, v.run, map[string]string{"dataset_version": "bench-2026-01"})
		if err != nil {
			return nil, err
		}
		if got != v.want {
			return nil, fmt.Errorf("failed to create version %s of %q: the server numbered it %s", v.want, model, got)
		}
		*v.dst = got
	}
	p.Versions = 2
	if err := f.SetAlias(ctx, model, alias, p.Champion); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *promoted) createRun(ctx context.Context, name string, auc float64) (string, error) {
	spec := mlflowtest.RunSpec{
		Name:    name,
		Metrics: map[string]float64{metricKey: auc},
		Tags:    map[string]string{"dataset_version": "bench-2026-01"},
	}
	if p.HistoryPoints == 0 {
		return p.f.CreateRun(ctx, p.experimentID, spec)
	}
	// A long history is logged in batches of 1000 (CreateRun packs fewer per call), then the final value.
	spec.Metrics = nil
	spec.Status = "RUNNING"
	runID, err := p.f.CreateRun(ctx, p.experimentID, spec)
	if err != nil {
		return "", err
	}
	start := time.Now().Add(-time.Hour).UnixMilli()
	batches := (p.HistoryPoints + logBatchMetrics - 1) / logBatchMetrics
	err = parallel(ctx, p.fillerConcurrency, batches, func(ctx context.Context, b int) error {
		lo, hi := b*logBatchMetrics, min((b+1)*logBatchMetrics, p.HistoryPoints)
		metrics := make([]map[string]any, 0, hi-lo)
		for i := lo; i < hi; i++ {
			// A slow wobble around auc: the mean over the whole history is auc (to 1e-4).
			v := auc + 0.01*math.Sin(float64(i)*2*math.Pi/1000)
			metrics = append(metrics, map[string]any{"key": metricKey, "value": v, "timestamp": start + int64(i), "step": i})
		}
		return p.f.Do(ctx, http.MethodPost, "runs/log-batch", nil, map[string]any{"run_id": runID, "metrics": metrics}, nil)
	})
	if err != nil {
		return "", fmt.Errorf("failed to log the history of run %s: %w", runID, err)
	}
	end := map[string]any{"run_id": runID, "status": "FINISHED", "end_time": time.Now().UnixMilli()}
	if err := p.f.Do(ctx, http.MethodPost, "runs/update", nil, end, nil); err != nil {
		return "", fmt.Errorf("failed to finish run %s: %w", runID, err)
	}
	return runID, nil
}

// grow adds filler versions (remote sources, two tags each, no run) until the model has n versions.
func (p *promoted) grow(ctx context.Context, n int) error {
	if n <= p.Versions {
		return nil
	}
	began := time.Now()
	// The highest version number the server handed out is the count: a create retried after a 5xx may have
	// gone through the first time too.
	var highest atomic.Int64
	highest.Store(int64(p.Versions))
	err := parallel(ctx, p.fillerConcurrency, n-p.Versions, func(ctx context.Context, i int) error {
		src := fmt.Sprintf("s3://mlreg-bench/%s/filler-%d", p.Model, p.Versions+i+1)
		tags := map[string]string{"git_sha": fmt.Sprintf("%040x", p.Versions+i), "dataset_version": "bench-2025-12"}
		v, err := p.f.CreateVersion(ctx, p.Model, src, "", tags)
		if err != nil {
			return err
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			for old := highest.Load(); n > old && !highest.CompareAndSwap(old, n); old = highest.Load() {
			}
		}
		return nil
	})
	p.Versions = int(highest.Load())
	p.fixtureRequestTime += time.Since(began)
	if err != nil {
		return fmt.Errorf("failed to grow %q to %d versions: %w", p.Model, n, err)
	}
	return nil
}

// reset puts the model back in the state before a promotion: @champion on v1 and no history tag, so every
// measured run does the same work (a first recorded promotion that replaces v1).
func (p *promoted) reset(ctx context.Context) error {
	if err := p.f.SetAlias(ctx, p.Model, alias, p.Champion); err != nil {
		return err
	}
	body := map[string]any{"name": p.Model, "key": "mlreg.history.alias." + alias}
	if err := p.f.Do(ctx, http.MethodDelete, "registered-models/delete-tag", nil, body, nil); err != nil {
		return fmt.Errorf("failed to delete the history tag of %q: %w", p.Model, err)
	}
	return nil
}

// createBackground creates n other registered models with one version each.
func createBackground(ctx context.Context, f *mlflowtest.Fixtures, prefix string, n, concurrency int) error {
	return parallel(ctx, concurrency, n, func(ctx context.Context, i int) error {
		name := fmt.Sprintf("%s-%04d", prefix, i)
		if err := f.CreateRegisteredModel(ctx, name); err != nil && !mlflowtest.IsErrorCode(err, "RESOURCE_ALREADY_EXISTS") {
			return err
		}
		_, err := f.CreateVersion(ctx, name, "s3://mlreg-bench/"+name+"/model", "", map[string]string{"team": "bench"})
		return err
	})
}

// parallel runs fn(0..n-1) on at most workers goroutines, retrying an item up to 3 times after a transient
// failure (a 5xx, e.g. SQLite's "database is locked" under concurrent writes), and returns the first error.
func parallel(ctx context.Context, workers, n int, fn func(ctx context.Context, i int) error) error {
	if workers < 1 {
		workers = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				var err error
				for attempt := 0; attempt < 4; attempt++ {
					if err = fn(ctx, i); err == nil || !transient(err) {
						break
					}
					time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
				}
				if err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func transient(err error) bool {
	var apiErr *mlflowtest.APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode >= 500
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}
