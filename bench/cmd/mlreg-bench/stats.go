package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// summary is the median and spread of a sample.
type summary struct {
	N                     int
	Min, P25, Median, P75 float64
	Max                   float64
	hasValues             bool
}

// summarize returns the order statistics of xs (linear interpolation between closest ranks).
func summarize(xs []float64) summary {
	if len(xs) == 0 {
		return summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return summary{
		N:         len(s),
		Min:       s[0],
		P25:       quantile(s, 0.25),
		Median:    quantile(s, 0.5),
		P75:       quantile(s, 0.75),
		Max:       s[len(s)-1],
		hasValues: true,
	}
}

// quantile of sorted s at q in [0, 1].
func quantile(s []float64, q float64) float64 {
	if len(s) == 1 {
		return s[0]
	}
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	frac := pos - float64(lo)
	return s[lo] + (s[hi]-s[lo])*frac
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fmtNum renders x with a precision that suits its size: 1234, 123, 12.3, 1.23.
func fmtNum(x float64) string {
	switch ax := math.Abs(x); {
	case ax >= 100:
		return fmt.Sprintf("%.0f", x)
	case ax >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}

// medianIQR renders "median [p25–p75]".
func (s summary) medianIQR() string {
	if !s.hasValues {
		return "–"
	}
	if s.N < 3 {
		return fmt.Sprintf("%s [%s–%s]", fmtNum(s.Median), fmtNum(s.Min), fmtNum(s.Max))
	}
	return fmt.Sprintf("%s [%s–%s]", fmtNum(s.Median), fmtNum(s.P25), fmtNum(s.P75))
}

// count renders an integer-valued sample: "10", or "10–12" when it varied.
func (s summary) count() string {
	if !s.hasValues {
		return "–"
	}
	if s.Min == s.Max {
		return fmt.Sprintf("%.0f", s.Median)
	}
	return fmt.Sprintf("%.0f–%.0f", s.Min, s.Max)
}
