package checks

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Point is one value of a metric's history.
type Point struct {
	Step      int64
	Timestamp int64 // milliseconds since the epoch
	Value     float64
}

// Aggregate reduces a metric's history to one value as a metric rule's
// aggregate says: last (also for ""), min, max or mean.
//
// This is the one place that orders a history: by step, then timestamp,
// then value, which is how MLflow picks a run's latest metric
// (SqlAlchemyStore._update_latest_metrics_if_necessary compares (step,
// timestamp, value)). So "last" is the value MLflow shows as the metric's
// latest, whatever order the points came in (get-history sends them by
// timestamp, then step). A NaN anywhere in the history makes min, max and
// mean NaN, so it can never pass; last reads the latest value only. ±Inf
// are ordered as the extremes they are: max over a history holding +Inf is
// +Inf, min is not changed by it, and a mean is ±Inf (NaN when the history
// holds both). points is not changed.
func Aggregate(points []Point, how string) (float64, error) {
	sorted := slices.Clone(points)
	slices.SortStableFunc(sorted, func(a, b Point) int {
		return cmp.Or(cmp.Compare(a.Step, b.Step), cmp.Compare(a.Timestamp, b.Timestamp), cmp.Compare(a.Value, b.Value))
	})
	vals := make([]float64, len(sorted))
	for i, p := range sorted {
		vals[i] = p.Value
	}
	return aggregateValues(vals, how)
}

// aggregateValues reduces vals, oldest first in Aggregate's order.
func aggregateValues(vals []float64, how string) (float64, error) {
	if len(vals) == 0 {
		return 0, errors.New("failed to aggregate metric history: no values")
	}
	switch how {
	case "", AggregateLast:
		return vals[len(vals)-1], nil
	case AggregateMin, AggregateMax:
		out := vals[0]
		for _, v := range vals {
			switch {
			case math.IsNaN(v):
				return math.NaN(), nil
			case how == AggregateMin && v < out, how == AggregateMax && v > out:
				out = v
			}
		}
		return out, nil
	case AggregateMean:
		var sum, comp float64 // Kahan summation keeps long histories accurate
		for _, v := range vals {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return naiveMean(vals), nil // NaN or ±Inf (NaN for +Inf and -Inf)
			}
			y := v - comp
			t := sum + y
			comp = (t - sum) - y
			sum = t
		}
		return sum / float64(len(vals)), nil
	}
	return 0, fmt.Errorf("failed to aggregate metric history: unknown aggregate %q (want last, min, max or mean)", how)
}

func naiveMean(vals []float64) float64 {
	var sum float64
	for _, v := range vals {
		sum += v
	}
	return sum / float64(len(vals))
}
