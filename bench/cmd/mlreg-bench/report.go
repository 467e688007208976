package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

type backendReport struct {
	Name        string        `json:"name"`
	Version     string        `json:"version,omitempty"`
	StartupTime time.Duration `json:"startup_ns"`
	FixtureTime time.Duration `json:"fixture_ns"`
}

type report struct {
	Config    *config          `json:"config"`
	Started   time.Time        `json:"started"`
	Duration  time.Duration    `json:"duration_ns"`
	Machine   machine          `json:"machine"`
	Floors    []floor          `json:"floors"`
	Backends  []backendReport  `json:"backends"`
	Scenarios []*scenario      `json:"scenarios"`
	Fleet     []*fleetScenario `json:"fleet,omitempty"`
	Skipped   []string         `json:"skipped,omitempty"`
}

// Targets of the issue, reported as numbers and never asserted.
const (
	targetRatio    = 20.0
	targetRequests = 8
	targetRSSMiB   = 30.0
)

type toolSummary struct {
	Wall, CPU, RSSMiB, Server, Requests summary
}

func summarizeTool(ss []*sample) toolSummary {
	var wall, cpu, rss, server, reqs []float64
	for _, s := range ss {
		wall = append(wall, ms(s.Wall))
		cpu = append(cpu, ms(s.CPU()))
		rss = append(rss, float64(s.MaxRSSKiB)/1024)
		server = append(server, ms(s.ServerTime()))
		reqs = append(reqs, float64(len(s.Requests)))
	}
	return toolSummary{summarize(wall), summarize(cpu), summarize(rss), summarize(server), summarize(reqs)}
}

// ratios returns python/ours per pair for the metric get.
func ratios(sc *scenario, get func(*sample) time.Duration) summary {
	var xs []float64
	for i := range min(len(sc.Ours), len(sc.Python)) {
		if o := get(sc.Ours[i]); o > 0 {
			xs = append(xs, float64(get(sc.Python[i]))/float64(o))
		}
	}
	return summarize(xs)
}

func wallOf(s *sample) time.Duration { return s.Wall }
func cpuOf(s *sample) time.Duration  { return s.CPU() }

func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	c := r.Config
	m := r.Machine

	w("## mlreg-bench (%s run, %s)\n\n", c.Label, r.Started.Format("2006-01-02 15:04 UTC"))
	w("- Machine: %s, %d cores, %.0f GiB RAM, Linux %s; load average %s before, %s after.\n",
		m.CPU, m.Cores, m.MemoryGiB, m.Kernel, m.LoadBefore, m.LoadAfter)
	if c.SkipPromote {
		w("- Tools: bench/cmd/mlreg-bench-fleet built with %s (static, stripped).\n", m.GoVersion)
	} else {
		w("- Tools: mlreg-action built with %s (static, %.1f MB); Python %s with mlflow %s (MlflowClient).\n",
			m.GoVersion, float64(m.BinarySize)/1e6, m.Python, m.MLflow)
	}
	for _, be := range r.Backends {
		v := ""
		if be.Version != "" {
			v = " (" + be.Version + ")"
		}
		w("- Backend %s%s: MLflow server healthy after %.1f s; fixtures took %.1f s.\n", be.Name, v,
			be.StartupTime.Seconds(), be.FixtureTime.Seconds())
	}
	for _, s := range r.Skipped {
		w("- Skipped backend %s\n", s)
	}
	if c.SkipPromote {
		w("- Fleet scenario only: %d measured pairs per parallelism after %d warm-up pair(s). Whole run: %s.\n\n",
			c.FleetPairs, c.Warmup, r.Duration.Round(time.Second))
		r.fleetMarkdown(w)
		return b.String()
	}
	w("- %d measured pairs per scale scenario after %d warm-up pair(s), %d in the aggregate scenario, alternating "+
		"which tool goes first; registry of %d registered models; promoted model sizes %s versions; history %s points. "+
		"Whole run: %s.\n\n", c.Pairs, c.Warmup, c.AggPairs, c.Models, joinInts(c.Sizes), thousands(c.History),
		r.Duration.Round(time.Second))

	w("### Start-up floor (a process that starts and exits)\n\n")
	w("| tool | command | wall ms | CPU ms | peak RSS MiB |\n|---|---|---|---|---|\n")
	for _, f := range r.Floors {
		s := summarizeTool(f.Samples)
		w("| %s | `%s` | %s | %s | %s |\n", f.Tool, f.What, s.Wall.medianIQR(), s.CPU.medianIQR(), fmtNum(s.RSSMiB.Median))
	}
	w("\n")

	w("### Promotion, side by side\n\n")
	w("Median [p25–p75] over the pairs; the ratio is Python ÷ mlreg-action within each pair, median [min–max]. " +
		"*server ms* is the time spent inside the process's HTTP requests as the proxy saw them.\n\n")
	w("| backend | scenario | tool | wall ms | CPU ms | peak RSS MiB (max) | requests | server ms | wall ratio | CPU ratio |\n")
	w("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, sc := range r.Scenarios {
		o, p := summarizeTool(sc.Ours), summarizeTool(sc.Python)
		wr, cr := ratios(sc, wallOf), ratios(sc, cpuOf)
		w("| %s | %s | mlreg-action | %s | %s | %s (%s) | %s | %s | **%s×** [%s–%s] | %s× |\n", sc.Backend, sc.label(),
			o.Wall.medianIQR(), o.CPU.medianIQR(), fmtNum(o.RSSMiB.Median), fmtNum(o.RSSMiB.Max), o.Requests.count(),
			o.Server.medianIQR(), fmtNum(wr.Median), fmtNum(wr.Min), fmtNum(wr.Max), fmtNum(cr.Median))
		w("| | | Python MlflowClient | %s | %s | %s (%s) | %s | %s | | |\n",
			p.Wall.medianIQR(), p.CPU.medianIQR(), fmtNum(p.RSSMiB.Median), fmtNum(p.RSSMiB.Max), p.Requests.count(),
			p.Server.medianIQR())
	}
	w("\n")

	r.targets(w)
	r.fleetMarkdown(w)
	r.requestLists(w)
	r.endpointGrowth(w)
	return b.String()
}

func (r *report) targets(w func(string, ...any)) {
	w("### Targets (benchmark numbers, not assertions)\n\n| target | measured | met |\n|---|---|---|\n")
	mark := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	for _, sc := range r.Scenarios {
		if sc.Kind != kindScale {
			continue
		}
		wr := ratios(sc, wallOf)
		w("| promote ≥ %.0f× faster than Python (%s, %s) | median %s×, worst pair %s× | %s |\n", targetRatio, sc.Backend,
			sc.label(), fmtNum(wr.Median), fmtNum(wr.Min), mark(wr.Median >= targetRatio))
	}
	for _, sc := range r.Scenarios {
		if sc.Kind == kindScale && sc.Versions == r.Config.Sizes[0] {
			o := summarizeTool(sc.Ours)
			w("| ≤ %d requests, alias promotion with one vs-champion rule (%s) | %s | %s |\n", targetRequests,
				sc.Backend, o.Requests.count(), mark(o.Requests.Max <= targetRequests))
		}
	}
	var rssAll, rssLast float64
	for _, sc := range r.Scenarios {
		o := summarizeTool(sc.Ours)
		rssAll = max(rssAll, o.RSSMiB.Max)
		if sc.Kind == kindScale {
			rssLast = max(rssLast, o.RSSMiB.Max)
		}
	}
	w("| peak RSS ≤ %.0f MB, plain promotion (max over all runs) | %s MiB | %s |\n", targetRSSMiB, fmtNum(rssLast),
		mark(rssLast*1.048576 <= targetRSSMiB))
	if r.Config.History > 0 {
		w("| peak RSS ≤ %.0f MB, aggregate over %s points | %s MiB | %s |\n", targetRSSMiB, thousands(r.Config.History),
			fmtNum(rssAll), mark(rssAll*1.048576 <= targetRSSMiB))
	}
	for _, be := range r.Backends {
		var counts []string
		flat := true
		first := -1.0
		for _, sc := range r.Scenarios {
			if sc.Backend != be.Name || sc.Kind != kindScale {
				continue
			}
			o := summarizeTool(sc.Ours)
			counts = append(counts, fmt.Sprintf("%s at %s", o.Requests.count(), thousands(sc.Versions)))
			if first < 0 {
				first = o.Requests.Max
			}
			flat = flat && o.Requests.Min == first && o.Requests.Max == first
		}
		w("| requests flat in registry size (%s) | %s | %s |\n", be.Name, strings.Join(counts, ", "), mark(flat))
	}
	w("\n")
}

// requestLists prints, for the smallest plain scenario and the aggregate one on the first backend, every
// request of each tool in order, with its median server time and its reason.
func (r *report) requestLists(w func(string, ...any)) {
	for _, sc := range r.Scenarios {
		if sc.Backend != r.Scenarios[0].Backend || (sc.Kind == kindScale && sc.Versions != r.Config.Sizes[0]) {
			continue
		}
		for _, tool := range []string{toolOurs, toolPython} {
			ss := sc.Ours
			if tool == toolPython {
				ss = sc.Python
			}
			seq, med := requestSequence(ss)
			if len(seq) == 0 {
				continue
			}
			w("### Requests of %s (%s, %s): %d\n\n", tool, sc.Backend, sc.label(), len(seq))
			w("| # | request | detail | server ms (median) | response bytes | reason |\n|---|---|---|---|---|---|\n")
			reasons := explain(tool, sc, seq)
			for i, rec := range seq {
				w("| %d | `%s` | %s | %s | %d | %s |\n", i+1, rec.Endpoint(), rec.Detail, fmtNum(med[i]), rec.Bytes, reasons[i])
			}
			w("\n")
		}
	}
}

// requestSequence returns the request sequence the samples share (the first sample's, among those of the
// most common length) and each position's median duration in ms.
func requestSequence(ss []*sample) ([]reqRecord, []float64) {
	lengths := map[int]int{}
	best := 0
	for _, s := range ss {
		lengths[len(s.Requests)]++
		if lengths[len(s.Requests)] > lengths[best] {
			best = len(s.Requests)
		}
	}
	var seq []reqRecord
	durs := make([][]float64, best)
	for _, s := range ss {
		if len(s.Requests) != best {
			continue
		}
		if seq == nil {
			seq = s.Requests
		}
		for i, rec := range s.Requests {
			durs[i] = append(durs[i], ms(rec.Dur))
		}
	}
	med := make([]float64, best)
	for i := range durs {
		med[i] = summarize(durs[i]).Median
	}
	return seq, med
}

// endpointGrowth prints how each of our requests' server time grows with the registry, per backend.
func (r *report) endpointGrowth(w func(string, ...any)) {
	w("### Growth with registry size\n\n")
	w("| backend | scenario | mlreg-action wall ms | requests | server ms | Python wall ms | requests | server ms | wall ratio |\n")
	w("|---|---|---|---|---|---|---|---|---|\n")
	for _, sc := range r.Scenarios {
		o, p := summarizeTool(sc.Ours), summarizeTool(sc.Python)
		w("| %s | %s | %s | %s | %s | %s | %s | %s | %s× |\n", sc.Backend, sc.label(), fmtNum(o.Wall.Median), o.Requests.count(),
			fmtNum(o.Server.Median), fmtNum(p.Wall.Median), p.Requests.count(), fmtNum(p.Server.Median),
			fmtNum(ratios(sc, wallOf).Median))
	}
	w("\n")
	for _, be := range r.Backends {
		var cols []*scenario
		for _, sc := range r.Scenarios {
			if sc.Backend == be.Name {
				cols = append(cols, sc)
			}
		}
		if len(cols) == 0 {
			continue
		}
		w("Server time of each mlreg-action request on %s, median ms:\n\n| # | request |", be.Name)
		for _, sc := range cols {
			w(" %s |", sc.label())
		}
		w("\n|---|---|%s\n", strings.Repeat("---|", len(cols)))
		type row struct {
			name string
			vals []string
		}
		var rows []row
		index := map[string]int{}
		for ci, sc := range cols {
			seq, med := requestSequence(sc.Ours)
			seen := map[string]int{}
			for i, rec := range seq {
				key := rec.Endpoint()
				if strings.HasPrefix(rec.Detail, "metric_key") || strings.Contains(rec.Detail, "page_token") {
					key += " (history page)"
				}
				seen[key]++
				if seen[key] > 1 {
					key = fmt.Sprintf("%s #%d", key, seen[key])
				}
				ri, ok := index[key]
				if !ok {
					ri = len(rows)
					index[key] = ri
					rows = append(rows, row{name: key, vals: slices.Repeat([]string{"–"}, len(cols))})
				}
				rows[ri].vals[ci] = fmtNum(med[i])
			}
		}
		for i, rw := range rows {
			w("| %d | `%s` | %s |\n", i+1, rw.name, strings.Join(rw.vals, " | "))
		}
		w("\n")
		r.probes(w, be.Name)
	}
}

// probes prints the single-read timings taken after each scale step.
func (r *report) probes(w func(string, ...any), backend string) {
	var cols []*scenario
	for _, sc := range r.Scenarios {
		if sc.Backend == backend && len(sc.Probe) > 0 {
			cols = append(cols, sc)
		}
	}
	if len(cols) == 0 {
		return
	}
	var scale []*scenario
	for _, sc := range cols {
		if sc.Kind == kindScale {
			scale = append(scale, sc)
		}
	}
	if len(scale) > 0 {
		w("Reads that could stand in for one another on %s, median of %d calls in a row, ms:\n\n| read |", backend, probeReps)
		for _, sc := range scale {
			w(" %s |", sc.label())
		}
		w("\n|---|%s\n", strings.Repeat("---|", len(scale)))
		for i, pr := range scale[0].Probe {
			w("| `%s` |", pr.Request)
			for _, sc := range scale {
				if i < len(sc.Probe) {
					w(" %s |", fmtNum(summarize(sc.Probe[i].MS).Median))
				}
			}
			w("\n")
		}
		w("\n")
	}
	for _, sc := range cols {
		if sc.Kind != kindAggregate {
			continue
		}
		w("Reading one run's %s-point history on %s, ms (median of %d):\n\n| read | ms |\n|---|---|\n",
			thousands(sc.HistoryPoints), backend, len(sc.Probe[0].MS))
		for _, pr := range sc.Probe {
			w("| `%s` | %s |\n", pr.Request, fmtNum(summarize(pr.MS).Median))
		}
		w("\n")
	}
}

// explain gives the reason of each request in a tool's sequence.
func explain(tool string, sc *scenario, seq []reqRecord) []string {
	out := make([]string, len(seq))
	seen := map[string]int{}
	runName := func(id string) string {
		switch id {
		case sc.p.CandidateRun:
			return "candidate's"
		case sc.p.ChampionRun:
			return "champion's"
		}
		return "a"
	}
	for i, rec := range seq {
		ep := rec.Endpoint()
		seen[ep]++
		n := seen[ep]
		var why string
		switch {
		case ep == "GET model-versions/get":
			why = "resolve the candidate: run_id, status READY, version tags"
		case ep == "GET registered-models/alias" && n == 1:
			why = "current holder of @champion: the champion to compare with"
		case ep == "GET registered-models/alias":
			why = "compare-and-set: re-read @champion right before moving it"
		case ep == "GET runs/get":
			why = "the " + runName(rec.RunID) + " run: latest metrics, tags, status, end time"
		case ep == "GET metrics/get-history":
			why = "the " + runName(rec.RunID) + " run's metric history, one page of ≤ 25,000 (aggregate)"
		case strings.HasPrefix(ep, "GET logged-models/"):
			why = "metrics of the MLflow 3 logged model"
		case ep == "POST model-versions/set-tag" && strings.Contains(rec.Detail, "promotion"):
			why = "audit: promotion record on the candidate (ours: written before the move, so a rerun can finish it)"
		case ep == "POST model-versions/set-tag" && strings.Contains(rec.Detail, "replaced"):
			why = "audit: mark the previous holder as replaced"
		case ep == "POST registered-models/alias":
			why = "the move: point @champion at the candidate"
		case ep == "GET registered-models/get" && tool == toolPython:
			why = "MlflowClient checks the model is not a prompt before every write (`_raise_if_prompt`)"
		case ep == "GET registered-models/get":
			why = "read back: verify @champion moved, and read the history tag to prepend to"
		case ep == "POST registered-models/set-tag":
			why = "audit: promotion history on the registered model"
			if tool == toolPython {
				why = "audit: last promotion on the registered model"
			}
		case ep == "POST registered-models/create" && tool == toolOurs:
			why = "take the promotion lock (registered model mlreg-lock.<model>): serializes apply and record across runs"
		case ep == "DELETE registered-models/delete" && tool == toolOurs:
			why = "release the promotion lock"
		default:
			why = "(unexpected)"
		}
		out[i] = why
	}
	return out
}

func joinInts(xs []int) string {
	var s []string
	for _, x := range xs {
		s = append(s, thousands(x))
	}
	return strings.Join(s, ", ")
}
