package promote

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
)

// subject builds the policy's view of a model version: its run's tags overlaid
// by the version's tags, the run's status and end time, and a lazy metric
// source. With prefetch (the rules read metrics), the version's logged model
// is read at the same time as its run.
func (s *Service) subject(ctx context.Context, mv *mlflow.ModelVersion, prefetch bool) (*checks.Subject, error) {
	subj := &checks.Subject{
		Version: mv.Version,
		Aliases: mv.Aliases,
		Stage:   mv.CurrentStage,
		Tags:    map[string]string{},
	}
	ms := &metricSource{reg: s.Reg, mv: mv}
	var wg sync.WaitGroup
	if prefetch && mv.LoggedModelID() != "" {
		// Its error, if any, is kept and reported when a metric is read.
		wg.Go(func() { _, _ = ms.loggedMetrics(ctx) })
	}
	defer wg.Wait()
	if mv.RunID != "" {
		r, err := s.Reg.GetRun(ctx, mv.RunID)
		if err != nil {
			return nil, fmt.Errorf("failed to get run %s of %s v%s: %w", mv.RunID, mv.Name, mv.Version, err)
		}
		ms.run = r
		subj.HasRun = true
		subj.RunStatus = r.Info.Status
		if r.Info.EndTime > 0 {
			subj.RunEnd = time.UnixMilli(r.Info.EndTime).UTC()
		}
		for _, t := range r.Data.Tags {
			subj.Tags[t.Key] = t.Value
		}
	}
	for _, t := range mv.Tags {
		subj.Tags[t.Key] = t.Value
	}
	subj.Metrics = ms
	return subj, nil
}

// metricSource reads a version's metrics: from its MLflow 3 logged model when
// the source is models:/m-<id> and that model has metrics, otherwise from its run.
type metricSource struct {
	reg Registry
	mv  *mlflow.ModelVersion
	run *mlflow.Run

	once   sync.Once
	logged []mlflow.Metric
	lmErr  error
}

var _ checks.MetricSource = (*metricSource)(nil)

func (m *metricSource) loggedMetrics(ctx context.Context) ([]mlflow.Metric, error) {
	id := m.mv.LoggedModelID()
	if id == "" {
		return nil, nil
	}
	m.once.Do(func() {
		lm, err := m.reg.GetLoggedModel(ctx, id)
		if err != nil {
			m.lmErr = fmt.Errorf("failed to get logged model %s of %s v%s: %w", id, m.mv.Name, m.mv.Version, err)
			return
		}
		m.logged = lm.Data.Metrics
	})
	return m.logged, m.lmErr
}

// Metric implements checks.MetricSource.
func (m *metricSource) Metric(ctx context.Context, q checks.MetricQuery) (float64, bool, error) {
	logged, err := m.loggedMetrics(ctx)
	if err != nil {
		return 0, false, err
	}
	if len(logged) > 0 {
		return pick(logged, q)
	}
	if m.run == nil {
		return 0, false, nil
	}
	agg := cmp.Or(q.Aggregate, "last")
	if agg == "last" && q.Dataset == "" {
		for _, mt := range m.run.Data.Metrics {
			if mt.Key == q.Key {
				return mt.Value, true, nil
			}
		}
		return 0, false, nil
	}
	// A long history is read a page at a time, keeping only the selected
	// points (24 bytes each) rather than every decoded metric.
	var sel []point
	err = m.reg.MetricHistoryPages(ctx, m.run.Info.RunID, q.Key, func(page []mlflow.Metric) error {
		sel = appendPoints(sel, page, q)
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("failed to get history of metric %q of run %s: %w", q.Key, m.run.Info.RunID, err)
	}
	return aggregate(sel, q)
}

// point is one selected value of a metric's series.
type point struct {
	step, timestamp int64
	value           float64
}

func appendPoints(sel []point, ms []mlflow.Metric, q checks.MetricQuery) []point {
	for _, mt := range ms {
		if mt.Key == q.Key && (q.Dataset == "" || mt.DatasetName == q.Dataset) {
			sel = append(sel, point{step: mt.Step, timestamp: mt.Timestamp, value: mt.Value})
		}
	}
	return sel
}

// pick selects the metric values matching the query and aggregates them.
func pick(ms []mlflow.Metric, q checks.MetricQuery) (float64, bool, error) {
	return aggregate(appendPoints(nil, ms, q), q)
}

// aggregate orders the series by step, then timestamp, so "last" is the
// latest value, and aggregates it as the query asks.
func aggregate(sel []point, q checks.MetricQuery) (float64, bool, error) {
	if len(sel) == 0 {
		return 0, false, nil
	}
	slices.SortStableFunc(sel, func(a, b point) int {
		return cmp.Or(cmp.Compare(a.step, b.step), cmp.Compare(a.timestamp, b.timestamp))
	})
	vals := make([]float64, len(sel))
	for i, p := range sel {
		vals[i] = p.value
	}
	v, err := checks.AggregateValues(vals, cmp.Or(q.Aggregate, "last"))
	if err != nil {
		return 0, false, fmt.Errorf("failed to aggregate metric %q: %w", q.Key, err)
	}
	return v, true, nil
}
