package checks

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestAggregateValues(t *testing.T) {
	t.Parallel()
	nan := math.NaN()
	inf := math.Inf(1)
	cases := []struct {
		name    string
		vals    []float64
		how     string
		want    float64
		wantErr string
	}{
		{name: "last is the default", vals: []float64{1, 3, 2}, how: "", want: 2},
		{name: "last", vals: []float64{1, 3, 2}, how: AggregateLast, want: 2},
		{name: "min", vals: []float64{1, -3, 2}, how: AggregateMin, want: -3},
		{name: "max", vals: []float64{1, 3, 2}, how: AggregateMax, want: 3},
		{name: "mean", vals: []float64{1, 2, 3, 4}, how: AggregateMean, want: 2.5},
		{name: "mean of one", vals: []float64{0.871}, how: AggregateMean, want: 0.871},
		{name: "mean stays accurate over long histories", vals: append([]float64{1e8}, repeat(0.1, 10000)...), how: AggregateMean, want: (1e8 + 1000) / 10001},
		{name: "NaN poisons min", vals: []float64{1, nan, 0}, how: AggregateMin, want: nan},
		{name: "NaN poisons max", vals: []float64{nan, 5}, how: AggregateMax, want: nan},
		{name: "NaN poisons mean", vals: []float64{1, nan}, how: AggregateMean, want: nan},
		{name: "last NaN is NaN", vals: []float64{1, nan}, how: AggregateLast, want: nan},
		{name: "earlier NaN does not affect last", vals: []float64{nan, 1}, how: AggregateLast, want: 1},
		{name: "Inf mean", vals: []float64{1, inf}, how: AggregateMean, want: inf},
		{name: "+Inf and -Inf mean is NaN", vals: []float64{-inf, inf}, how: AggregateMean, want: nan},
		{name: "Inf max", vals: []float64{1, inf, 2}, how: AggregateMax, want: inf},
		{name: "empty", vals: nil, how: AggregateMax, wantErr: "failed to aggregate metric history: no values"},
		{name: "unknown", vals: []float64{1}, how: "median", wantErr: `failed to aggregate metric history: unknown aggregate "median" (want last, min, max or mean)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := aggregateValues(tc.vals, tc.how)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("aggregateValues() error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("aggregateValues() error: %v", err)
			}
			same := got == tc.want || (math.IsNaN(got) && math.IsNaN(tc.want))
			if !same {
				t.Errorf("aggregateValues() = %v, want %v", got, tc.want)
			}
		})
	}
}

func repeat(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// TestAggregateOrder: "last" is the value MLflow shows as a run's latest
// metric, the highest (step, timestamp, value), whatever order the history
// arrives in; get-history sends it by timestamp first.
func TestAggregateOrder(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		points []Point
		how    string
		want   float64
	}{
		{"step wins over timestamp", []Point{{Step: 2, Timestamp: 100, Value: 0.8}, {Step: 1, Timestamp: 300, Value: 0.9}}, AggregateLast, 0.8},
		{"timestamp breaks a tie of steps", []Point{{Step: 1, Timestamp: 300, Value: 0.7}, {Step: 1, Timestamp: 200, Value: 0.9}}, AggregateLast, 0.7},
		{"value breaks a tie of both", []Point{{Step: 1, Timestamp: 5, Value: 0.9}, {Step: 1, Timestamp: 5, Value: 0.4}}, AggregateLast, 0.9},
		{"min does not depend on order", []Point{{Step: 3, Value: 4}, {Step: 1, Value: 2}, {Step: 2, Value: 6}}, AggregateMin, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := slices.Clone(tc.points)
			got, err := Aggregate(tc.points, tc.how)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Aggregate() = %v, want %v", got, tc.want)
			}
			if !slices.Equal(in, tc.points) {
				t.Errorf("Aggregate changed its input: %v, was %v", tc.points, in)
			}
		})
	}
}
