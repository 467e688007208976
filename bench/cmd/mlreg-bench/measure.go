package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

const (
	toolOurs   = "mlreg-action"
	toolPython = "python-mlflowclient"

	kindScale     = "scale"
	kindAggregate = "aggregate"
)

// scenario is one promotion measured pair by pair.
type scenario struct {
	Backend       string    `json:"backend"`
	Kind          string    `json:"kind"`
	Versions      int       `json:"versions"` // of the promoted model
	Models        int       `json:"registered_models"`
	Aggregate     string    `json:"aggregate"`
	HistoryPoints int       `json:"history_points,omitempty"`
	Ours          []*sample `json:"mlreg_action"`
	Python        []*sample `json:"python"`
	// Probe holds the server time of single reads that could stand in for one another, by request, in ms.
	Probe []probe `json:"probe,omitempty"`

	p *promoted
}

func (s *scenario) label() string {
	if s.Kind == kindAggregate {
		return fmt.Sprintf("aggregate: mean over %s points", thousands(s.HistoryPoints))
	}
	return thousands(s.Versions) + " versions"
}

// sample is one measured process.
type sample struct {
	Tool      string        `json:"tool"`
	Pair      int           `json:"pair"`
	Wall      time.Duration `json:"wall_ns"`
	User      time.Duration `json:"user_ns"`
	Sys       time.Duration `json:"sys_ns"`
	MaxRSSKiB int64         `json:"max_rss_kib"`
	Requests  []reqRecord   `json:"requests"`
}

func (s *sample) CPU() time.Duration { return s.User + s.Sys }

// ServerTime is the time the process spent waiting on its requests, as the proxy saw them.
func (s *sample) ServerTime() time.Duration {
	var d time.Duration
	for _, r := range s.Requests {
		d += r.Dur
	}
	return d
}

// childEnv is the environment of a measured process: ours without the variables that would change what the
// tools do (GitHub, MLflow and input settings), and with MLflow's usage telemetry off (this machine has no
// route out; a team's runner would pay for the telemetry thread too, which favours Python here).
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GITHUB_") || strings.HasPrefix(k, "MLFLOW_") || strings.HasPrefix(k, "INPUT_") ||
			strings.HasPrefix(k, "RUNNER_") || k == "CI" || k == "DO_NOT_TRACK" || k == "MLREG_MLFLOW" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "MLFLOW_DISABLE_TELEMETRY=true", "DO_NOT_TRACK=true")
}

func (b *bench) argv(tool, trackingURI string, sc *scenario) []string {
	p := sc.p
	if tool == toolOurs {
		return []string{b.cfg.Bin, "promote", "--model-name", p.Model, "--version", p.Candidate,
			"--target-alias", alias, "--policy", b.policies[sc.Aggregate], "--tracking-uri", trackingURI}
	}
	return []string{b.cfg.Python, b.script, "--tracking-uri", trackingURI, "--model-name", p.Model,
		"--version", p.Candidate, "--target-alias", alias, "--metric", metricKey, "--min", "0.80",
		"--min-improvement", "0.005", "--aggregate", sc.Aggregate}
}

// runOnce resets the model, runs one tool through its own proxy session and checks it did the promotion.
func (b *bench) runOnce(ctx context.Context, proxy *countingProxy, sc *scenario, tool string) (*sample, error) {
	if err := sc.p.reset(ctx); err != nil {
		return nil, err
	}
	id, uri := proxy.NewSession()
	s, out, err := b.runChild(ctx, filepath.Join(b.dir, "work"), b.argv(tool, uri, sc))
	reqs := proxy.Take(id)
	if err != nil {
		return nil, fmt.Errorf("%s on %s (%s): %w\n%s", tool, sc.Backend, sc.label(), err, tail(out, 30))
	}
	s.Tool, s.Requests = tool, reqs
	if err := b.verify(ctx, sc, tool); err != nil {
		return nil, fmt.Errorf("%s on %s (%s) did not do the work: %w\n%s", tool, sc.Backend, sc.label(), err, tail(out, 30))
	}
	return s, nil
}

// verify checks the registry after a run: the alias moved to the candidate and the tool's audit tag is on
// the registered model.
func (b *bench) verify(ctx context.Context, sc *scenario, tool string) error {
	p := sc.p
	got, err := p.f.AliasVersion(ctx, p.Model, alias)
	if err != nil {
		return err
	}
	if got != p.Candidate {
		return fmt.Errorf("@%s is on v%s, want v%s", alias, got, p.Candidate)
	}
	tags, err := p.f.ModelTags(ctx, p.Model)
	if err != nil {
		return err
	}
	key := "mlreg.history.alias." + alias
	if tool == toolPython {
		key = "last_promotion." + alias
	}
	if _, ok := tags[key]; !ok {
		return fmt.Errorf("registered model tag %s is missing", key)
	}
	return nil
}

// measure runs the warm-up pairs, then the measured pairs, alternating which tool goes first.
func (b *bench) measure(ctx context.Context, proxy *countingProxy, sc *scenario) error {
	warmup, pairs := b.cfg.Warmup, b.cfg.Pairs
	if sc.Kind == kindAggregate {
		warmup, pairs = 0, b.cfg.AggPairs
	}
	logf("%s: %s: %d warm-up + %d measured pairs", sc.Backend, sc.label(), warmup, pairs)
	for range warmup {
		for _, tool := range []string{toolOurs, toolPython} {
			if _, err := b.runOnce(ctx, proxy, sc, tool); err != nil {
				return err
			}
		}
	}
	for pair := 0; pair < pairs; pair++ {
		order := []string{toolOurs, toolPython}
		if pair%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, tool := range order {
			s, err := b.runOnce(ctx, proxy, sc, tool)
			if err != nil {
				return err
			}
			s.Pair = pair
			if tool == toolOurs {
				sc.Ours = append(sc.Ours, s)
			} else {
				sc.Python = append(sc.Python, s)
			}
		}
	}
	o, py := summarizeTool(sc.Ours), summarizeTool(sc.Python)
	logf("%s: %s: wall median %s ms vs %s ms, %s vs %s requests", sc.Backend, sc.label(),
		fmtNum(o.Wall.Median), fmtNum(py.Wall.Median), o.Requests.count(), py.Requests.count())
	return nil
}

// probe is the server time of one read, called probeReps times in a row outside any measured process.
type probe struct {
	Request string    `json:"request"`
	MS      []float64 `json:"ms"`
}

const probeReps = 7

// probeReads times the reads that locate the alias holder and the registered model's tags, which is where
// registry size can show: GET registered-models/get builds latest_versions from every version in Python.
func probeReads(ctx context.Context, p *promoted) ([]probe, error) {
	quoted := "'" + p.Model + "'"
	reads := []struct {
		name  string
		path  string
		query url.Values
	}{
		{"GET registered-models/get", "registered-models/get", url.Values{"name": {p.Model}}},
		{"GET registered-models/search?filter=name='…'", "registered-models/search",
			url.Values{"filter": {"name=" + quoted}, "max_results": {"1"}}},
		{"GET registered-models/alias", "registered-models/alias", url.Values{"name": {p.Model}, "alias": {alias}}},
		{"GET model-versions/get", "model-versions/get", url.Values{"name": {p.Model}, "version": {p.Candidate}}},
	}
	var out []probe
	for _, r := range reads {
		pr := probe{Request: r.name}
		for range probeReps {
			began := time.Now()
			if err := p.f.Do(ctx, http.MethodGet, r.path, r.query, nil, nil); err != nil {
				return nil, fmt.Errorf("failed to probe %s: %w", r.name, err)
			}
			pr.MS = append(pr.MS, ms(time.Since(began)))
		}
		out = append(out, pr)
	}
	return out, nil
}

// probeHistory times reading the candidate run's whole metric history in pages of 25,000 (what both tools
// do) and in one request (max_results = the history's length; MLflow 3.x sets no upper bound).
func probeHistory(ctx context.Context, p *promoted) ([]probe, error) {
	const reps = 2
	page := probe{Request: "GET metrics/get-history, pages of 25,000 (all pages)"}
	whole := probe{Request: fmt.Sprintf("GET metrics/get-history, max_results=%d (one request)", p.HistoryPoints)}
	for range reps {
		began := time.Now()
		token := ""
		for {
			q := url.Values{"run_id": {p.CandidateRun}, "metric_key": {metricKey}, "max_results": {"25000"}}
			if token != "" {
				q.Set("page_token", token)
			}
			var res struct {
				NextPageToken string `json:"next_page_token"`
			}
			if err := p.f.Do(ctx, http.MethodGet, "metrics/get-history", q, nil, &res); err != nil {
				return nil, fmt.Errorf("failed to probe the metric history: %w", err)
			}
			if token = res.NextPageToken; token == "" {
				break
			}
		}
		page.MS = append(page.MS, ms(time.Since(began)))

		began = time.Now()
		q := url.Values{"run_id": {p.CandidateRun}, "metric_key": {metricKey}, "max_results": {fmt.Sprint(p.HistoryPoints)}}
		if err := p.f.Do(ctx, http.MethodGet, "metrics/get-history", q, nil, nil); err != nil {
			return nil, fmt.Errorf("failed to probe the metric history: %w", err)
		}
		whole.MS = append(whole.MS, ms(time.Since(began)))
	}
	return []probe{page, whole}, nil
}

// floor is the cost of starting a tool and doing nothing: the part of every number no request can change.
type floor struct {
	Tool    string    `json:"tool"`
	What    string    `json:"what"`
	Samples []*sample `json:"samples"`
}

func (b *bench) measureFloors(ctx context.Context) ([]floor, error) {
	n := max(b.cfg.Pairs, 3)
	floors := []floor{
		{Tool: toolOurs, What: "mlreg-action version"},
		{Tool: toolPython, What: `python -c "from mlflow import MlflowClient"`},
	}
	argv := [][]string{{b.cfg.Bin, "version"}, {b.cfg.Python, "-c", "from mlflow import MlflowClient"}}
	if t, err := exec.LookPath("true"); err == nil {
		// The smallest peak RSS this harness can report: the spawner's own (see bench/cmd/mlreg-bench-spawn).
		floors = append(floors, floor{Tool: "(measurement floor)", What: "true"})
		argv = append(argv, []string{t})
	}
	for i := -1; i < n; i++ { // i == -1 warms the page cache
		for j := range floors {
			s, out, err := b.runChild(ctx, b.dir, argv[j])
			if err != nil {
				return nil, fmt.Errorf("failed to measure the start-up floor: %w\n%s", err, tail(out, 20))
			}
			if i >= 0 {
				floors[j].Samples = append(floors[j].Samples, s)
			}
		}
	}
	return floors, nil
}

// machine describes where the numbers were taken.
type machine struct {
	CPU        string   `json:"cpu"`
	Cores      int      `json:"cores"`
	MemoryGiB  float64  `json:"memory_gib"`
	Kernel     string   `json:"kernel"`
	GoVersion  string   `json:"go"`
	BinarySize int64    `json:"binary_bytes"`
	Python     string   `json:"python"`
	MLflow     string   `json:"mlflow"`
	LoadBefore string   `json:"loadavg_before"`
	LoadAfter  string   `json:"loadavg_after"`
	Notes      []string `json:"notes,omitempty"`
}

func (m machine) oneLine() string {
	return fmt.Sprintf("%s, %d cores, %.0f GiB, Linux %s, %s, Python %s, MLflow %s, load %s",
		m.CPU, m.Cores, m.MemoryGiB, m.Kernel, m.GoVersion, m.Python, m.MLflow, m.LoadBefore)
}

func describeMachine(ctx context.Context, cfg *config) machine {
	m := machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), LoadBefore: loadAverage()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(data), "MemTotal: %f kB", &kb); err == nil {
			m.MemoryGiB = kb / (1 << 20)
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	if info, err := os.Stat(cfg.Bin); err == nil {
		m.BinarySize = info.Size()
	}
	v := commandOutput(ctx, cfg.Python, "-c", "import sys, mlflow; print(sys.version.split()[0], mlflow.__version__)")
	m.Python, m.MLflow, _ = strings.Cut(v, " ")
	return m
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func commandOutput(ctx context.Context, name string, args ...string) string {
	out, err := exec.CommandContext(ctx, name, args...).Output() //nolint:gosec // fixed tool invocations
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// thousands renders 10000 as "10,000".
func thousands(n int) string {
	s := fmt.Sprint(n)
	var out []byte
	for i, c := range []byte(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, c)
	}
	return string(out)
}
