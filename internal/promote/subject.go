package promote

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// subject builds the policy's view of a model version: its run's tags overlaid
// by the version's tags, the run's status and end time, and a lazy metric
// source. With prefetch (the rules read metrics), the version's logged model
// is read at the same time as its run.
func (s *Service) subject(ctx context.Context, mv *registry.ModelVersion, prefetch bool) (*checks.Subject, error) {
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
	if mv.RunID != "" {
		r, err := s.Reg.GetRun(ctx, mv.RunID)
		if err != nil {
			wg.Wait()
			return nil, fmt.Errorf("failed to read %q v%s: %w", mv.Name, mv.Version, err)
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
	wg.Wait()
	if ms.lmErr != nil && ctx.Err() != nil {
		// The read ended with the deadline: nothing after it can succeed, and
		// its error names the deadline, which a later ctx check would not.
		return nil, ms.lmErr
	}
	subj.Metrics = ms
	return subj, nil
}

// metricSource reads a version's metrics: from its MLflow 3 logged model when
// the source is models:/m-<id> and that model has metrics, otherwise from its run.
type metricSource struct {
	reg registry.Registry
	mv  *registry.ModelVersion
	run *registry.Run

	once   sync.Once
	logged []registry.Metric
	lmErr  error
}

var _ checks.MetricSource = (*metricSource)(nil)

func (m *metricSource) loggedMetrics(ctx context.Context) ([]registry.Metric, error) {
	id := m.mv.LoggedModelID()
	if id == "" {
		return nil, nil
	}
	m.once.Do(func() {
		lm, err := m.reg.GetLoggedModel(ctx, id)
		if err != nil {
			m.lmErr = err // it names the logged model; the check that reads it says whose

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
		return m.pickLogged(ctx, logged, q)
	}
	if m.run == nil {
		return 0, false, nil
	}
	agg := cmp.Or(q.Aggregate, "last")
	if agg == "last" && q.Dataset == "" {
		for _, mt := range m.run.Data.Metrics {
			if mt.Key == q.Key {
				return float64(mt.Value), true, nil
			}
		}
		return 0, false, nil
	}
	// A long history is read a page at a time, keeping only the selected
	// points (24 bytes each) rather than every decoded metric.
	var sel []checks.Point
	err = m.reg.MetricHistoryPages(ctx, m.run.Info.RunID, q.Key, func(page []registry.Metric) error {
		sel = appendPoints(sel, page, q)
		return nil
	})
	if err != nil {
		return 0, false, err // it names the metric and the run
	}
	return aggregate(sel, q)
}

// appendPoints adds the values of ms that the query selects.
func appendPoints(sel []checks.Point, ms []registry.Metric, q checks.MetricQuery) []checks.Point {
	for _, mt := range ms {
		if mt.Key == q.Key && (q.Dataset == "" || mt.DatasetName == q.Dataset) {
			sel = append(sel, checks.Point{Step: mt.Step, Timestamp: mt.Timestamp, Value: float64(mt.Value)})
		}
	}
	return sel
}

// pickLogged selects the logged model's values matching the query, restores
// the NaNs the server sent as 0 (see restoreNaN), and aggregates them.
func (m *metricSource) pickLogged(ctx context.Context, logged []registry.Metric, q checks.MetricQuery) (float64, bool, error) {
	var ms []registry.Metric
	for _, mt := range logged {
		if mt.Key == q.Key && (q.Dataset == "" || mt.DatasetName == q.Dataset) {
			ms = append(ms, mt)
		}
	}
	if err := restoreNaN(ctx, m.reg, q.Key, ms); err != nil {
		return 0, false, fmt.Errorf("failed to read metric %q of logged model %s: %w", q.Key, m.mv.LoggedModelID(), err)
	}
	return aggregate(appendPoints(nil, ms, q), q)
}

// restoreNaN undoes a loss in MLflow's SQL store (SQLite, PostgreSQL, ...;
// seen on 3.17.2): a NaN logged on a logged model (log_metric with model_id)
// is saved in logged_model_metrics as 0 without its is_nan flag, so the
// logged model answers 0.0 for it. The same point is also saved on the run,
// with the flag, and the run's history answers "NaN". So each 0 among ms
// (values of metric key) is looked up in its run's history of key: a NaN
// at the same timestamp and step makes it NaN. A real 0 logged for another
// dataset in the same millisecond and step cannot be told apart from it and
// counts as NaN too: a value that may be NaN never passes. Other values are
// never changed, and nothing is read when there is no 0.
func restoreNaN(ctx context.Context, reg registry.Registry, key string, ms []registry.Metric) error {
	type at struct {
		run             string
		timestamp, step int64
	}
	nan := map[at]bool{} // the zeros to look up, and whether the run has a NaN there
	var runs []string
	for _, mt := range ms {
		if mt.Value != 0 || mt.RunID == "" {
			continue
		}
		nan[at{mt.RunID, mt.Timestamp, mt.Step}] = false
		if !slices.Contains(runs, mt.RunID) {
			runs = append(runs, mt.RunID)
		}
	}
	for _, run := range runs {
		err := reg.MetricHistoryPages(ctx, run, key, func(page []registry.Metric) error {
			for _, p := range page {
				k := at{run, p.Timestamp, p.Step}
				if _, ok := nan[k]; ok && p.Key == key && math.IsNaN(float64(p.Value)) {
					nan[k] = true
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("failed to check run %s for NaN: %w", run, err)
		}
	}
	for i, mt := range ms {
		if mt.Value == 0 && nan[at{mt.RunID, mt.Timestamp, mt.Step}] {
			ms[i].Value = registry.MetricValue(math.NaN())
		}
	}
	return nil
}

// aggregate reduces the selected points as the query asks; checks.Aggregate
// orders them (see there).
func aggregate(sel []checks.Point, q checks.MetricQuery) (float64, bool, error) {
	if len(sel) == 0 {
		return 0, false, nil
	}
	v, err := checks.Aggregate(sel, q.Aggregate)
	if err != nil {
		return 0, false, fmt.Errorf("failed to aggregate metric %q: %w", q.Key, err)
	}
	return v, true, nil
}
