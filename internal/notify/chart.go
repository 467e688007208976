package notify

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/promote"
)

// maxCharts bounds the charts in one report.
const maxCharts = 8

// chartMetric is one metric's numbers: candidate, champion and bounds.
type chartMetric struct {
	name     string
	cand     *float64
	champ    *float64
	min, max *float64
}

// chartData gathers the metrics with a finite candidate value, in the order
// the policy lists them.
func chartData(checksList []checks.Check) []chartMetric {
	var out []chartMetric
	idx := map[string]int{}
	for _, c := range checksList {
		if c.Kind != checks.KindMetric && c.Kind != checks.KindVsChampion {
			continue
		}
		if c.CandidateNum == nil || math.IsNaN(*c.CandidateNum) || math.IsInf(*c.CandidateNum, 0) {
			continue
		}
		i, ok := idx[c.Name]
		if !ok {
			i = len(out)
			idx[c.Name] = i
			out = append(out, chartMetric{name: c.Name, cand: c.CandidateNum})
		}
		m := &out[i]
		if c.ChampionNum != nil && !math.IsNaN(*c.ChampionNum) && !math.IsInf(*c.ChampionNum, 0) {
			m.champ = c.ChampionNum
		}
		if c.Kind == checks.KindMetric {
			for _, part := range strings.Split(c.Bound, ",") {
				op, num, ok := strings.Cut(strings.TrimSpace(part), " ")
				v, err := strconv.ParseFloat(num, 64)
				if !ok || err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
					continue
				}
				switch op {
				case ">=":
					m.min = &v
				case "<=":
					m.max = &v
				}
			}
		}
	}
	return out
}

// chart renders candidate vs champion, one Mermaid bar chart per metric
// (GitHub draws Mermaid in Markdown; nothing is uploaded). Each chart shows
// the champion, the candidate and the policy's bounds as bars.
func chart(p *promote.Plan) string {
	if p == nil {
		return ""
	}
	metrics := chartData(p.Checks)
	if len(metrics) == 0 {
		return ""
	}
	var b strings.Builder
	title := "Candidate vs champion"
	if p.Champion == nil {
		title = "Candidate vs policy bounds"
	}
	fmt.Fprintf(&b, "<details open><summary>%s</summary>\n\n", title)
	for i, m := range metrics {
		if i == maxCharts {
			fmt.Fprintf(&b, "%d more metrics are in the table above.\n\n", len(metrics)-maxCharts)
			break
		}
		var labels []string
		var values []float64
		if m.champ != nil && p.Champion != nil {
			labels = append(labels, "champion v"+mermaidText(p.Champion.Version, 20))
			values = append(values, *m.champ)
		}
		labels = append(labels, "candidate v"+mermaidText(p.Candidate.Version, 20))
		values = append(values, *m.cand)
		if m.min != nil {
			labels = append(labels, "min")
			values = append(values, *m.min)
		}
		if m.max != nil {
			labels = append(labels, "max")
			values = append(values, *m.max)
		}
		lo, hi := axisRange(values)
		name := mermaidText(m.name, 60)
		b.WriteString("```mermaid\nxychart-beta\n")
		fmt.Fprintf(&b, "    title %q\n", name)
		quoted := make([]string, len(labels))
		for j, l := range labels {
			quoted[j] = strconv.Quote(l)
		}
		fmt.Fprintf(&b, "    x-axis [%s]\n", strings.Join(quoted, ", "))
		fmt.Fprintf(&b, "    y-axis %q %s --> %s\n", name, num(lo), num(hi))
		nums := make([]string, len(values))
		for j, v := range values {
			nums[j] = num(v)
		}
		fmt.Fprintf(&b, "    bar [%s]\n", strings.Join(nums, ", "))
		b.WriteString("```\n\n")
	}
	b.WriteString("</details>\n\n")
	return b.String()
}

// axisRange pads the values' range so that the smallest bar still shows and
// the differences are visible.
func axisRange(vs []float64) (lo, hi float64) {
	lo, hi = vs[0], vs[0]
	for _, v := range vs[1:] {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	pad := hi*0.25 - lo*0.25 // not (hi-lo)*0.25, which overflows for values near ±MaxFloat64
	if pad == 0 {
		pad = math.Max(math.Abs(hi)*0.05, 1e-6)
	}
	// The axis stays finite: Mermaid cannot draw ±Inf.
	lo, hi = math.Max(lo-pad, -math.MaxFloat64), math.Min(hi+pad, math.MaxFloat64)
	if lo < 0 && vs[0] >= 0 && allNonNegative(vs) {
		lo = 0
	}
	return lo, hi
}

func allNonNegative(vs []float64) bool {
	for _, v := range vs {
		if v < 0 {
			return false
		}
	}
	return true
}

// num writes a number the way Mermaid reads it: plain decimal, 6 significant digits.
func num(v float64) string {
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 6, 64), 64)
	if err != nil {
		r = v
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}
