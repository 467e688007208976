package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

// The fleet scenario: a desired-state file of FleetEntries entries (two aliases, @champion and @challenger,
// for each of FleetEntries/2 models), FleetChanges of which move @champion from v1 to v2 under a
// vs-champion rule, planned and applied by internal/fleet (bench/cmd/mlreg-bench-fleet) at each parallelism.
// Each measured run is paired with a replay of its own requests by a plain HTTP client at the same
// concurrency: what the engine costs beyond the requests themselves is the ratio of the two.

const (
	fleetModelPrefix = "bench-fleet-"
	fleetChallenger  = "challenger"
)

const fleetPolicy = `# mlreg-bench fleet: one rule for the targets that change.
version: 1
rules:
  - name: bench gate
    applies-to:
      alias: champion
    metrics:
      val_auc:
        min: 0.80
        vs-champion:
          min-improvement: 0.005
    on-first-deploy: pass
`

// fleetScenario is one parallelism on one backend.
type fleetScenario struct {
	Backend     string         `json:"backend"`
	Parallelism int            `json:"parallelism"`
	Entries     int            `json:"entries"`
	Changes     int            `json:"changes"`
	Ours        []*fleetSample `json:"mlreg_action"`
	Replay      []*fleetSample `json:"replay"`
}

// fleetSample is one measured process of the fleet scenario.
type fleetSample struct {
	sample
	PlanMS        float64 `json:"plan_ms"`  // as the process measured it
	ApplyMS       float64 `json:"apply_ms"` // as the process measured it
	PlanRequests  int     `json:"plan_requests"`
	ApplyRequests int     `json:"apply_requests"`
	Failed        int     `json:"failed,omitempty"` // replay: answers that were not 2xx
	// ServerMS is the time spent inside the requests as the proxy saw them (plan, apply), and MaxInFlight
	// the most requests the proxy had at once.
	PlanServerMS  float64 `json:"plan_server_ms"`
	ApplyServerMS float64 `json:"apply_server_ms"`
	MaxInFlight   int     `json:"max_in_flight"`
	// IdleMS is the time between the first request and the last answer during which the proxy had no
	// request of the process: what the client spent on its own work and scheduling between requests.
	IdleMS float64 `json:"idle_ms"`
	// EndpointMS is the server time by endpoint ("POST registered-models/alias"), summed over the run.
	EndpointMS map[string]float64 `json:"endpoint_ms"`
}

// observe fills the proxy's view of a run: server time per phase and the most requests at once.
func (s *fleetSample) observe(plan, apply []reqRecord) {
	for _, r := range plan {
		s.PlanServerMS += ms(r.Dur)
	}
	for _, r := range apply {
		s.ApplyServerMS += ms(r.Dur)
	}
	s.EndpointMS = map[string]float64{}
	for _, r := range slices.Concat(plan, apply) {
		s.EndpointMS[r.Endpoint()] += ms(r.Dur)
	}
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, r := range slices.Concat(plan, apply) {
		edges = append(edges, edge{r.Start, 1}, edge{r.Start.Add(r.Dur), -1})
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta // an answer before a request at the same instant
	})
	n := 0
	var idleFrom time.Time
	for i, e := range edges {
		if n == 0 && i > 0 {
			s.IdleMS += ms(e.at.Sub(idleFrom))
		}
		n += e.delta
		s.MaxInFlight = max(s.MaxInFlight, n)
		if n == 0 {
			idleFrom = e.at
		}
	}
}

// fleetFixture is the registry of the fleet scenario.
type fleetFixture struct {
	f            *mlflowtest.Fixtures
	models       []string
	changes      int               // models[:changes] move @champion
	runModel     map[string]string // run id → model, to attribute runs/get to its model
	baseline     map[string]string // model → @champion history before the apply
	manifestPath string
	policyPath   string
}

// newFleetFixture creates the models: the changing ones with two versions from runs logging val_auc 0.90 (v1,
// holding @champion) and 0.93 (v2); the others with two versions without a run, @champion on v2. Every
// model has @challenger on v2, and a history for both aliases as the tool would have left it: the steady
// state of a registry run from a manifest.
func newFleetFixture(ctx context.Context, f *mlflowtest.Fixtures, dir string, entries, changes, concurrency int) (*fleetFixture, error) {
	fx := &fleetFixture{f: f, changes: changes, runModel: map[string]string{}, baseline: map[string]string{}}
	for i := range entries / 2 {
		fx.models = append(fx.models, fmt.Sprintf("%s%03d", fleetModelPrefix, i))
	}
	exp, err := f.CreateExperiment(ctx, "mlreg-bench-fleet")
	if err != nil {
		return nil, err
	}
	runs := make([][2]string, changes)
	err = parallel(ctx, concurrency, changes, func(ctx context.Context, i int) error {
		for j, auc := range []float64{championAUC, candidateAUC} {
			id, err := f.CreateRun(ctx, exp, mlflowtest.RunSpec{Name: fmt.Sprintf("fleet-%d-v%d", i, j+1),
				Metrics: map[string]float64{metricKey: auc}})
			if err != nil {
				return err
			}
			runs[i][j] = id
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, rs := range runs {
		fx.runModel[rs[0]], fx.runModel[rs[1]] = fx.models[i], fx.models[i]
	}
	history := func(version, prev string) string {
		rec := promote.Record{Version: version, PreviousVersion: prev, Action: promote.ActionPromote,
			At: "2026-01-01T00:00:00Z", By: "bench", Verdict: "pass"}
		return "[" + rec.JSON() + "]"
	}
	err = parallel(ctx, concurrency, len(fx.models), func(ctx context.Context, i int) error {
		m := fx.models[i]
		if err := f.CreateRegisteredModel(ctx, m); err != nil && !mlflowtest.IsErrorCode(err, "RESOURCE_ALREADY_EXISTS") {
			return err
		}
		for v := 1; v <= 2; v++ {
			var got string
			var err error
			if i < changes {
				got, err = f.CreateRunVersion(ctx, m, runs[i][v-1], nil)
			} else {
				got, err = f.CreateVersion(ctx, m, fmt.Sprintf("s3://mlreg-bench/%s/v%d", m, v), "", nil)
			}
			if err != nil {
				return err
			}
			if got != fmt.Sprint(v) {
				return fmt.Errorf("%s: the server numbered version %d as %s", m, v, got)
			}
		}
		champ := "2"
		if i < changes {
			champ = "1"
		}
		for _, a := range []struct{ alias, version, history string }{
			{alias, champ, history(champ, "")}, {fleetChallenger, "2", history("2", "")},
		} {
			if err := f.SetAlias(ctx, m, a.alias, a.version); err != nil {
				return err
			}
			if err := f.SetModelTag(ctx, m, "mlreg.history.alias."+a.alias, a.history); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, m := range fx.models[:changes] {
		fx.baseline[m] = history("1", "")
	}

	var b strings.Builder
	b.WriteString("# mlreg-bench fleet: the desired state\nversion: 1\nmodels:\n")
	for _, m := range fx.models {
		fmt.Fprintf(&b, "  %s:\n    aliases: {%s: 2, %s: 2}\n", m, alias, fleetChallenger)
	}
	fx.manifestPath = filepath.Join(dir, "fleet-models.yml")
	fx.policyPath = filepath.Join(dir, "fleet-policy.yml")
	if err := os.WriteFile(fx.manifestPath, []byte(b.String()), 0o644); err != nil {
		return nil, fmt.Errorf("failed to write the fleet manifest: %w", err)
	}
	if err := os.WriteFile(fx.policyPath, []byte(fleetPolicy), 0o644); err != nil {
		return nil, fmt.Errorf("failed to write the fleet policy: %w", err)
	}
	return fx, nil
}

// reset puts @champion of the changing models back on v1 with its history as before.
func (fx *fleetFixture) reset(ctx context.Context, concurrency int) error {
	return parallel(ctx, concurrency, fx.changes, func(ctx context.Context, i int) error {
		m := fx.models[i]
		if err := fx.f.SetAlias(ctx, m, alias, "1"); err != nil {
			return err
		}
		return fx.f.SetModelTag(ctx, m, "mlreg.history.alias."+alias, fx.baseline[m])
	})
}

// verify checks that every changing model's @champion is on v2 with a newer history entry for it.
func (fx *fleetFixture) verify(ctx context.Context, concurrency int) error {
	return parallel(ctx, concurrency, fx.changes, func(ctx context.Context, i int) error {
		m := fx.models[i]
		v, err := fx.f.AliasVersion(ctx, m, alias)
		if err != nil {
			return err
		}
		tags, err := fx.f.ModelTags(ctx, m)
		if err != nil {
			return err
		}
		h, err := mlflow.Rules{}.ParseHistory(tags["mlreg.history.alias."+alias])
		if err != nil {
			return err
		}
		if v != "2" || len(h) != 2 || h[0].Version != "2" {
			return fmt.Errorf("%s: @%s on v%s with %d history entries, want v2 and 2", m, alias, v, len(h))
		}
		return nil
	})
}

// groupOf names the model a request is about: the replay keeps each model's requests in their order.
func (fx *fleetFixture) groupOf(rec reqRecord) string {
	if m, ok := fx.runModel[rec.RunID]; ok {
		return m
	}
	name := ""
	if rec.Method == "GET" {
		if q, err := url.ParseQuery(rec.Query); err == nil {
			name = q.Get("name")
		}
	} else {
		var body struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(rec.Body, &body) == nil {
			name = body.Name
		}
	}
	if name == "" {
		return rec.Path
	}
	return strings.TrimPrefix(name, mlflow.LockPrefix)
}

// replayRequest is a request as bench/cmd/mlreg-bench-fleet replays it.
type replayRequest struct {
	Phase  string        `json:"phase"`
	Group  string        `json:"group"`
	Method string        `json:"method"`
	Path   string        `json:"path"`
	Query  string        `json:"query,omitempty"`
	Body   []byte        `json:"body,omitempty"`
	Start  time.Duration `json:"start_ns"`
	End    time.Duration `json:"end_ns"`
}

func (fx *fleetFixture) writeReplay(path string, plan, apply []reqRecord) error {
	var t0 time.Time
	for _, rec := range slices.Concat(plan, apply) {
		if t0.IsZero() || rec.Start.Before(t0) {
			t0 = rec.Start
		}
	}
	var out []replayRequest
	for _, phase := range []struct {
		name string
		recs []reqRecord
	}{{"plan", plan}, {"apply", apply}} {
		for _, rec := range phase.recs {
			start := rec.Start.Sub(t0)
			out = append(out, replayRequest{Phase: phase.name, Group: fx.groupOf(rec), Method: rec.Method,
				Path: rec.Path, Query: rec.Query, Body: rec.Body, Start: start, End: start + rec.Dur})
		}
	}
	data, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("failed to encode the requests to replay: %w", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return nil
}

// runFleet builds the fleet registry on this backend and measures every parallelism.
func (b *bench) runFleet(ctx context.Context, backend string, proxy *countingProxy, f *mlflowtest.Fixtures, info *backendReport) error {
	cfg := b.cfg
	logf("%s: fleet: creating %d models (%d entries, %d changing)", backend, cfg.FleetEntries/2, cfg.FleetEntries, cfg.FleetChanges)
	began := time.Now()
	fx, err := newFleetFixture(ctx, f, b.dir, cfg.FleetEntries, cfg.FleetChanges, cfg.Concurrency)
	if err != nil {
		return err
	}
	info.FixtureTime += time.Since(began)
	for _, par := range cfg.FleetParallelism {
		sc := &fleetScenario{Backend: backend, Parallelism: par, Entries: cfg.FleetEntries, Changes: cfg.FleetChanges}
		logf("%s: fleet at parallelism %d: 1 recording run, %d warm-up + %d measured pairs", backend, par, cfg.Warmup, cfg.FleetPairs)
		// Pairs alternate which goes first; the replay sends the requests of the latest run of ours (every
		// run starts from the same state and sends the same requests).
		reqPath := filepath.Join(b.dir, fmt.Sprintf("fleet-requests-%s-%d.json", backend, par))
		if _, err := b.fleetOurs(ctx, proxy, fx, par, reqPath); err != nil {
			return fmt.Errorf("fleet on %s at parallelism %d: %w", backend, par, err)
		}
		for pair := -cfg.Warmup; pair < cfg.FleetPairs; pair++ {
			var ours, replay *fleetSample
			var err error
			if pair%2 == 0 {
				if ours, err = b.fleetOurs(ctx, proxy, fx, par, reqPath); err == nil {
					replay, err = b.fleetReplay(ctx, proxy, fx, par, reqPath)
				}
			} else if replay, err = b.fleetReplay(ctx, proxy, fx, par, reqPath); err == nil {
				ours, err = b.fleetOurs(ctx, proxy, fx, par, reqPath)
			}
			if err != nil {
				return fmt.Errorf("fleet on %s at parallelism %d: %w", backend, par, err)
			}
			if pair >= 0 {
				ours.Pair, replay.Pair = pair, pair
				sc.Ours, sc.Replay = append(sc.Ours, ours), append(sc.Replay, replay)
			}
		}
		o, r := summarizeFleet(sc.Ours), summarizeFleet(sc.Replay)
		logf("%s: fleet at parallelism %d: wall median %s ms vs replay %s ms, %s requests", backend, par,
			fmtNum(o.Wall.Median), fmtNum(r.Wall.Median), o.Requests.count())
		b.report.Fleet = append(b.report.Fleet, sc)
	}
	return nil
}

// fleetOurs runs the engine once from the reset state and records its requests for the replay.
func (b *bench) fleetOurs(ctx context.Context, proxy *countingProxy, fx *fleetFixture, par int, reqPath string) (*fleetSample, error) {
	conc := b.cfg.Concurrency
	if err := fx.reset(ctx, conc); err != nil {
		return nil, err
	}
	planID, planURI := proxy.NewSession()
	applyID, applyURI := proxy.NewSession()
	s, out, err := b.runChild(ctx, b.dir, []string{b.fleetBin, "apply", "-manifest", fx.manifestPath,
		"-policy", fx.policyPath, "-plan-uri", planURI, "-apply-uri", applyURI, "-parallelism", fmt.Sprint(par)})
	planRecs, applyRecs := proxy.Take(planID), proxy.Take(applyID)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, tail(out, 30))
	}
	ours := &fleetSample{sample: *s, PlanRequests: len(planRecs), ApplyRequests: len(applyRecs)}
	ours.Tool = toolOurs
	ours.observe(planRecs, applyRecs)
	var res struct {
		PlanMS   float64        `json:"plan_ms"`
		ApplyMS  float64        `json:"apply_ms"`
		Outcomes map[string]int `json:"outcomes"`
	}
	if err := json.Unmarshal([]byte(lastJSONLine(out)), &res); err != nil {
		return nil, fmt.Errorf("failed to read the result of mlreg-bench-fleet: %w\n%s", err, tail(out, 10))
	}
	ours.PlanMS, ours.ApplyMS = res.PlanMS, res.ApplyMS
	if res.Outcomes["promoted"] != fx.changes {
		return nil, fmt.Errorf("mlreg-bench-fleet promoted %d entries, want %d (%v)", res.Outcomes["promoted"], fx.changes, res.Outcomes)
	}
	if err := fx.verify(ctx, conc); err != nil {
		return nil, fmt.Errorf("mlreg-bench-fleet did not do the work: %w", err)
	}
	if err := fx.writeReplay(reqPath, planRecs, applyRecs); err != nil {
		return nil, err
	}
	return ours, nil
}

// fleetReplay replays the requests recorded at reqPath from the reset state.
func (b *bench) fleetReplay(ctx context.Context, proxy *countingProxy, fx *fleetFixture, par int, reqPath string) (*fleetSample, error) {
	conc := b.cfg.Concurrency
	if err := fx.reset(ctx, conc); err != nil {
		return nil, err
	}
	var recorded []replayRequest
	data, err := os.ReadFile(reqPath)
	if err == nil {
		err = json.Unmarshal(data, &recorded)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read the recorded requests: %w", err)
	}
	planN := 0
	for _, r := range recorded {
		if r.Phase == "plan" {
			planN++
		}
	}
	id, uri := proxy.NewSession()
	s, out, err := b.runChild(ctx, b.dir, []string{b.fleetBin, "replay", "-requests", reqPath, "-uri", uri,
		"-parallelism", fmt.Sprint(par)})
	recs := proxy.Take(id)
	if err != nil {
		return nil, fmt.Errorf("replay: %w\n%s", err, tail(out, 30))
	}
	replay := &fleetSample{sample: *s}
	replay.Tool = "replay"
	var rr struct {
		Failed  int     `json:"failed"`
		PlanMS  float64 `json:"plan_ms"`
		ApplyMS float64 `json:"apply_ms"`
	}
	if err := json.Unmarshal([]byte(lastJSONLine(out)), &rr); err != nil {
		return nil, fmt.Errorf("failed to read the result of the replay: %w\n%s", err, tail(out, 10))
	}
	if len(recs) != len(recorded) {
		return nil, fmt.Errorf("the replay sent %d requests, the run %d", len(recs), len(recorded))
	}
	replay.PlanMS, replay.ApplyMS, replay.Failed = rr.PlanMS, rr.ApplyMS, rr.Failed
	replay.PlanRequests, replay.ApplyRequests = planN, len(recs)-planN
	replay.observe(recs[:planN], recs[planN:])
	if err := fx.verify(ctx, conc); err != nil {
		return nil, fmt.Errorf("the replay did not do the work: %w", err)
	}
	return replay, nil
}

func lastJSONLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "{") {
			return lines[i]
		}
	}
	return ""
}

type fleetSummary struct {
	toolSummary
	PlanMS, ApplyMS, PlanRequests, ApplyRequests, IdleMS summary
}

func summarizeFleet(ss []*fleetSample) fleetSummary {
	var plain []*sample
	var planMS, applyMS, planReqs, applyReqs, idle, reqs []float64
	for _, s := range ss {
		reqs = append(reqs, float64(s.PlanRequests+s.ApplyRequests))
		plain = append(plain, &s.sample)
		planMS, applyMS = append(planMS, s.PlanMS), append(applyMS, s.ApplyMS)
		planReqs, applyReqs = append(planReqs, float64(s.PlanRequests)), append(applyReqs, float64(s.ApplyRequests))
		idle = append(idle, s.IdleMS)
	}
	// Per-request records are not kept (hundreds per run): the counts are.
	ts := summarizeTool(plain)
	ts.Requests = summarize(reqs)
	return fleetSummary{ts, summarize(planMS), summarize(applyMS), summarize(planReqs), summarize(applyReqs), summarize(idle)}
}

// fleetRatios returns ours ÷ replay wall time per pair.
func fleetRatios(sc *fleetScenario) summary {
	var xs []float64
	for i := range min(len(sc.Ours), len(sc.Replay)) {
		if r := sc.Replay[i].Wall; r > 0 {
			xs = append(xs, float64(sc.Ours[i].Wall)/float64(r))
		}
	}
	return summarize(xs)
}

// Targets of the fleet scenario.
const (
	targetFleetRatio       = 1.2
	targetFleetParallelism = 8
)

func (r *report) fleetMarkdown(w func(string, ...any)) {
	if len(r.Fleet) == 0 {
		return
	}
	c := r.Config
	w("### Manifest: %d entries, %d changing, planned and applied\n\n", c.FleetEntries, c.FleetChanges)
	w("bench/cmd/mlreg-bench-fleet plans the file with internal/fleet and applies the plan (lock, compare-and-set, " +
		"promotion tag, move, read-back, history ‖ replaced mark, unlock per change), through mlreg-action's MLflow " +
		"client; *replay* is a plain net/http client sending the same recorded requests at the same concurrency " +
		"(within a model, each request waits for those that had answered before it was sent; all plan requests " +
		"before the apply's); pairs alternate which goes first. Wall time from fork to exit; median [p25–p75]; the " +
		"ratio is ours ÷ replay within each pair, median [min–max]. *No request out*: time between the first " +
		"request and the last answer when the proxy had none of the process's requests, i.e. the client's own " +
		"work and its scheduling. Requests per entry: the plan's requests over the entries; per change: the " +
		"apply's requests over the changes.\n\n")
	w("| backend | parallelism | mlreg-bench-fleet wall ms | plan / apply ms | replay wall ms | ours ÷ replay | " +
		"CPU ms (ours / replay) | no request out, ms (ours / replay) | requests (plan + apply) | per entry (plan) | " +
		"per change (apply) | peak RSS MiB (max) | replay RSS MiB |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, sc := range r.Fleet {
		o, rp := summarizeFleet(sc.Ours), summarizeFleet(sc.Replay)
		ratio := fleetRatios(sc)
		w("| %s | %d | %s | %s / %s | %s | **%s×** [%s–%s] | %s / %s | %s / %s | %s + %s | %s | %s | %s (%s) | %s |\n",
			sc.Backend, sc.Parallelism, o.Wall.medianIQR(), fmtNum(o.PlanMS.Median), fmtNum(o.ApplyMS.Median),
			rp.Wall.medianIQR(), fmtNum(ratio.Median), fmtNum(ratio.Min), fmtNum(ratio.Max), fmtNum(o.CPU.Median),
			fmtNum(rp.CPU.Median), fmtNum(o.IdleMS.Median), fmtNum(rp.IdleMS.Median), o.PlanRequests.count(), o.ApplyRequests.count(),
			fmtNum(o.PlanRequests.Median/float64(sc.Entries)), fmtNum(o.ApplyRequests.Median/float64(sc.Changes)),
			fmtNum(o.RSSMiB.Median), fmtNum(o.RSSMiB.Max), fmtNum(rp.RSSMiB.Median))
	}
	w("\n| target | measured | met |\n|---|---|---|\n")
	mark := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	var rss float64
	for _, sc := range r.Fleet {
		rss = max(rss, summarizeFleet(sc.Ours).RSSMiB.Max)
		if sc.Parallelism != targetFleetParallelism {
			continue
		}
		ratio := fleetRatios(sc)
		w("| ≤ %.1f× a plain replay of the same requests at parallelism %d (%s) | median %s×, worst pair %s× | %s |\n",
			targetFleetRatio, sc.Parallelism, sc.Backend, fmtNum(ratio.Median), fmtNum(ratio.Max),
			mark(ratio.Median <= targetFleetRatio))
	}
	w("| peak RSS ≤ %.0f MiB, fleet (max over all runs) | %s MiB | %s |\n\n", targetRSSMiB, fmtNum(rss), mark(rss <= targetRSSMiB))
}
