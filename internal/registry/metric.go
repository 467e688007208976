package registry

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// MetricValue is a metric's value. MLflow sends it as a JSON number, or as
// one of the strings protobuf's JSON mapping writes for values a JSON number
// cannot hold: "NaN", "Infinity", "-Infinity" (every server version and
// store; the file store sends infinities that way). The mapping also allows
// a number in a string, which is read too. MLflow's SQL store saves ±inf as
// ±math.MaxFloat64 and sends that back, so ±MaxFloat64 reads as ±Inf. null
// leaves the value as it is (0 for a new metric), as MLflow's client reads
// a metric without a value.
type MetricValue float64

// UnmarshalJSON implements json.Unmarshaler (see MetricValue).
func (v *MetricValue) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	f, err := parseMetricValue(b)
	if err != nil {
		return err
	}
	*v = MetricValue(f)
	return nil
}

// MarshalJSON implements json.Marshaler: a finite value is a JSON number;
// NaN and infinities are "NaN", "Infinity" and "-Infinity", as MLflow
// sends and accepts them.
func (v MetricValue) MarshalJSON() ([]byte, error) {
	f := float64(v)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Infinity"`), nil
	}
	return json.Marshal(f) //nolint:wrapcheck // cannot fail for a finite float64
}

// parseMetricValue reads one metric value (see MetricValue). It allocates
// nothing for a number or for the three strings MLflow writes, so a page of
// 25,000 history points decodes as fast as plain floats do.
func parseMetricValue(b []byte) (float64, error) {
	var (
		f   float64
		err error
	)
	switch {
	case string(b) == `"NaN"`:
		return math.NaN(), nil
	case string(b) == `"Infinity"`:
		return math.Inf(1), nil
	case string(b) == `"-Infinity"`:
		return math.Inf(-1), nil
	case len(b) > 0 && (b[0] == '-' || '0' <= b[0] && b[0] <= '9'):
		f, err = strconv.ParseFloat(string(b), 64)
	case len(b) > 0 && b[0] == '"':
		f, err = parseQuoted(b)
	default:
		return 0, fmt.Errorf("metric value %s is not a number", Truncate(string(b), 41))
	}
	if err != nil && !math.IsInf(f, 0) { // a number out of range is ±Inf, as the SQL store means it
		return 0, fmt.Errorf("metric value %s is not a number, \"NaN\", \"Infinity\" or \"-Infinity\"", Truncate(string(b), 41))
	}
	if math.Abs(f) == math.MaxFloat64 {
		f = math.Inf(int(math.Copysign(1, f)))
	}
	return f, nil
}

// parseQuoted reads a number in a JSON string: "0.25", "Inf", "nan".
func parseQuoted(b []byte) (float64, error) {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return 0, err //nolint:wrapcheck // the caller says what the value is
	}
	return strconv.ParseFloat(s, 64) //nolint:wrapcheck // the caller says what the value is
}
