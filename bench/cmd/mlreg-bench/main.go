// Command mlreg-bench measures the mlreg-action binary side by side with an idiomatic Python MlflowClient script
// doing the same alias promotion (resolve, vs-champion check, alias move, audit tags) against one real MLflow
// server, pair by pair, and writes a Markdown report. `make bench` runs it in full, `make bench-smoke` briefly.
//
// Every measured process is a child: its wall time is taken around fork to exit, its CPU time and peak RSS
// come from wait4's rusage. Each child talks to MLflow through a counting reverse proxy on loopback that
// attributes every HTTP request to it. Targets are reported, never asserted: the exit status is non-zero only
// when the benchmark itself could not run or a run did not do the work (wrong exit status, alias not moved,
// audit tag missing).
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

//go:embed promote_mlflowclient.py
var pythonScript []byte

type config struct {
	Bin, Python  string
	Spawner      string
	Pairs        int
	Warmup       int
	AggPairs     int
	Sizes        []int
	Models       int
	History      int
	Backends     []string
	Concurrency  int
	MarkdownPath string
	JSONPath     string
	Timeout      time.Duration
	Label        string
	// The fleet scenario (desired-state file): entries, of which changes change; 0 entries skips it.
	FleetEntries     int
	FleetChanges     int
	FleetPairs       int
	FleetParallelism []int
	// SkipPromote skips the start-up floors and the single-promotion scenarios (no Python needed).
	SkipPromote bool
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "mlreg-bench: %v\n", err)
		os.Exit(2)
	}
	if err := realMain(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "mlreg-bench: %v\n", err)
		os.Exit(1)
	}
}

// realMain runs the benchmark until it ends, cfg.Timeout passes or a signal comes; its defers run before
// main exits.
func realMain(cfg *config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	return run(ctx, cfg)
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("mlreg-bench", flag.ContinueOnError)
	cfg := &config{}
	var sizes, backends, fleetPar string
	fs.StringVar(&cfg.Bin, "bin", "bin/mlreg-action", "the mlreg-action binary to measure (make build)")
	fs.StringVar(&cfg.Python, "python", ".venv/bin/python", "the Python with mlflow installed (make venv)")
	fs.StringVar(&cfg.Spawner, "spawner", "", "a built bench/cmd/mlreg-bench-spawn (default: build it)")
	fs.IntVar(&cfg.Pairs, "pairs", 10, "measured pairs (one run of each tool) per scenario")
	fs.IntVar(&cfg.Warmup, "warmup", 1, "unmeasured pairs before each scale scenario")
	fs.IntVar(&cfg.AggPairs, "agg-pairs", 3, "measured pairs of the aggregate scenario (no warm-up: each run reads the whole history)")
	fs.StringVar(&sizes, "sizes", "10,1000,10000", "versions of the promoted model, comma separated, ascending")
	fs.IntVar(&cfg.Models, "models", 500, "registered models in the registry (the promoted ones included)")
	fs.IntVar(&cfg.History, "history", 100000, "points of the metric history in the aggregate scenario (0 skips it)")
	fs.StringVar(&backends, "backends", "sqlite,postgres", "backend stores: sqlite, postgres (skipped when not installed)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 8, "parallel fixture requests (loopback only)")
	fs.StringVar(&cfg.MarkdownPath, "md", "", "also write the Markdown report to this file")
	fs.StringVar(&cfg.JSONPath, "json", "", "write every sample (and every request) as JSON to this file")
	fs.DurationVar(&cfg.Timeout, "timeout", 40*time.Minute, "deadline for the whole benchmark")
	fs.StringVar(&cfg.Label, "label", "full", "name of this run in the report (full, smoke)")
	fs.IntVar(&cfg.FleetEntries, "fleet-entries", 200, "entries of the fleet scenario's manifest, two per model (0 skips it)")
	fs.IntVar(&cfg.FleetChanges, "fleet-changes", 20, "entries of the manifest that change")
	fs.IntVar(&cfg.FleetPairs, "fleet-pairs", 3, "measured pairs (ours, then the replay of its requests) per fleet parallelism")
	fs.StringVar(&fleetPar, "fleet-parallelism", "1,4,8", "parallelism of the fleet scenario, comma separated")
	fs.BoolVar(&cfg.SkipPromote, "skip-promote", false, "run only the fleet scenario")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	prev := 0
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 || n <= prev {
			return nil, fmt.Errorf("-sizes: want ascending numbers >= 2, got %q", sizes)
		}
		cfg.Sizes, prev = append(cfg.Sizes, n), n
	}
	for _, b := range strings.Split(backends, ",") {
		switch b = strings.TrimSpace(b); b {
		case "sqlite", "postgres":
			cfg.Backends = append(cfg.Backends, b)
		default:
			return nil, fmt.Errorf("-backends: unknown backend %q", b)
		}
	}
	if cfg.Pairs < 1 {
		return nil, fmt.Errorf("-pairs: want at least 1")
	}
	for _, s := range strings.Split(fleetPar, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 64 {
			return nil, fmt.Errorf("-fleet-parallelism: want numbers from 1 to 64, got %q", fleetPar)
		}
		cfg.FleetParallelism = append(cfg.FleetParallelism, n)
	}
	switch {
	case cfg.FleetEntries < 0 || cfg.FleetEntries%2 != 0:
		return nil, fmt.Errorf("-fleet-entries: want an even number (two aliases per model), got %d", cfg.FleetEntries)
	case cfg.FleetEntries > 0 && (cfg.FleetChanges < 1 || cfg.FleetChanges > cfg.FleetEntries/2):
		return nil, fmt.Errorf("-fleet-changes: want 1 to %d (one per model), got %d", cfg.FleetEntries/2, cfg.FleetChanges)
	case cfg.FleetPairs < 1:
		return nil, fmt.Errorf("-fleet-pairs: want at least 1")
	}
	tools := []*string{&cfg.Bin, &cfg.Python}
	if cfg.SkipPromote {
		tools = nil
	}
	for _, p := range tools {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, fmt.Errorf("failed to resolve %s: %w", *p, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("failed to find %s (make build venv): %w", abs, err)
		}
		*p = abs
	}
	return cfg, nil
}

// bench is one benchmark run: the configuration, a scratch directory and what was measured.
type bench struct {
	cfg      *config
	dir      string // scratch: policies, the Python script, the children's working directory
	script   string
	spawner  string
	fleetBin string            // the built bench/cmd/mlreg-bench-fleet
	policies map[string]string // aggregate ("last", "mean") → policy file
	report   *report
}

func run(ctx context.Context, cfg *config) error {
	began := time.Now()
	dir, err := os.MkdirTemp("", "mlreg-bench-*")
	if err != nil {
		return fmt.Errorf("failed to create scratch dir: %w", err)
	}
	defer os.RemoveAll(dir) //nolint:errcheck // best effort: a scratch directory left behind changes no result
	b := &bench{cfg: cfg, dir: dir, policies: map[string]string{}}
	if err := b.writeInputs(); err != nil {
		return err
	}
	if b.spawner, err = buildSpawner(ctx, cfg.Spawner, dir); err != nil {
		return err
	}
	if cfg.FleetEntries > 0 {
		if b.fleetBin, err = buildTool(ctx, "", dir, "mlreg-bench-fleet"); err != nil {
			return err
		}
	}
	b.report = &report{Config: cfg, Started: began.UTC()}
	b.report.Machine = describeMachine(ctx, cfg)
	logf("machine: %s", b.report.Machine.oneLine())

	if !cfg.SkipPromote {
		if b.report.Floors, err = b.measureFloors(ctx); err != nil {
			return err
		}
	}
	for _, backend := range cfg.Backends {
		if err := b.runBackend(ctx, backend); err != nil {
			var skip *skipError
			if errors.As(err, &skip) {
				logf("%s: skipped: %v", backend, skip.err)
				b.report.Skipped = append(b.report.Skipped, fmt.Sprintf("%s: %v", backend, skip.err))
				continue
			}
			return fmt.Errorf("failed to benchmark on %s: %w", backend, err)
		}
	}
	b.report.Machine.LoadAfter = loadAverage()
	b.report.Duration = time.Since(began)

	md := b.report.markdown()
	fmt.Print(md)
	if cfg.MarkdownPath != "" {
		if err := os.WriteFile(cfg.MarkdownPath, []byte(md), 0o644); err != nil {
			return fmt.Errorf("failed to write %s: %w", cfg.MarkdownPath, err)
		}
	}
	if cfg.JSONPath != "" {
		data, err := json.MarshalIndent(b.report, "", " ")
		if err != nil {
			return fmt.Errorf("failed to encode the JSON report: %w", err)
		}
		if err := os.WriteFile(cfg.JSONPath, data, 0o644); err != nil {
			return fmt.Errorf("failed to write %s: %w", cfg.JSONPath, err)
		}
	}
	return nil
}

type skipError struct{ err error }

func (e *skipError) Error() string { return e.err.Error() }

const policyTemplate = `# mlreg-bench: one rule, one metric with a floor and a vs-champion check.
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
%s    on-first-deploy: pass
`

func (b *bench) writeInputs() error {
	b.script = filepath.Join(b.dir, "promote_mlflowclient.py")
	if err := os.WriteFile(b.script, pythonScript, 0o644); err != nil {
		return fmt.Errorf("failed to write the Python script: %w", err)
	}
	for _, agg := range []string{"last", "mean"} {
		extra := ""
		if agg != "last" {
			extra = "        aggregate: " + agg + "\n"
		}
		path := filepath.Join(b.dir, "policy-"+agg+".yml")
		if err := os.WriteFile(path, []byte(fmt.Sprintf(policyTemplate, extra)), 0o644); err != nil {
			return fmt.Errorf("failed to write the policy: %w", err)
		}
		b.policies[agg] = path
	}
	return os.MkdirAll(filepath.Join(b.dir, "work"), 0o755)
}

// runBackend starts one MLflow server on the backend, fills it and measures every scenario on it.
func (b *bench) runBackend(ctx context.Context, backend string) error {
	cfg := b.cfg
	opts := mlflowtest.Options{LogDir: b.dir}
	info := backendReport{Name: backend}
	if backend == "postgres" {
		pg, err := mlflowtest.StartPostgres(ctx)
		if errors.Is(err, mlflowtest.ErrNoPostgres) {
			return &skipError{err}
		}
		if err != nil {
			return err
		}
		defer func() {
			if err := pg.Stop(); err != nil {
				logf("postgres: %v", err)
			}
		}()
		if err := pg.CreateDatabase(ctx, "mlflow"); err != nil {
			return err
		}
		opts.BackendURI = pg.URI("mlflow")
		info.Version = commandOutput(ctx, filepath.Join(pg.BinDir, "postgres"), "--version")
	}
	logf("%s: starting MLflow", backend)
	srv, err := mlflowtest.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			logf("%s: %v", backend, err)
		}
	}()
	info.StartupTime = srv.StartupTime
	logf("%s: MLflow %s healthy after %s", backend, srv.URL, srv.StartupTime.Round(100*time.Millisecond))

	proxy, err := newCountingProxy(srv.URL)
	if err != nil {
		return err
	}
	defer proxy.Close() //nolint:errcheck // the measurements are taken; a proxy that fails to close changes none

	f := &mlflowtest.Fixtures{URL: srv.URL, HTTP: &http.Client{
		Timeout:   2 * time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency * 2},
	}}
	if !cfg.SkipPromote {
		if err := b.runPromote(ctx, backend, proxy, f, &info); err != nil {
			return err
		}
	}
	if cfg.FleetEntries > 0 {
		if err := b.runFleet(ctx, backend, proxy, f, &info); err != nil {
			return err
		}
	}
	if n := proxy.Stray(); n > 0 {
		logf("%s: %d requests reached the proxy without a session prefix", backend, n)
	}
	b.report.Backends = append(b.report.Backends, info)
	return nil
}

// runPromote measures the single promotion scenarios: scale (growing versions) and aggregate.
func (b *bench) runPromote(ctx context.Context, backend string, proxy *countingProxy, f *mlflowtest.Fixtures, info *backendReport) error {
	cfg := b.cfg
	fixturesBegan := time.Now()
	exp, err := f.CreateExperiment(ctx, "mlreg-bench")
	if err != nil {
		return err
	}
	scale, err := newPromoted(ctx, f, exp, "bench-scale", 0, cfg.Concurrency)
	if err != nil {
		return err
	}
	background := max(cfg.Models-2, 0) // the scale and aggregate models count among the registry's models
	logf("%s: creating %d other registered models", backend, background)
	if err := createBackground(ctx, f, "bench-other", background, cfg.Concurrency); err != nil {
		return err
	}
	info.FixtureTime = time.Since(fixturesBegan)

	for _, n := range cfg.Sizes {
		logf("%s: growing %s to %d versions", backend, scale.Model, n)
		t := time.Now()
		if err := scale.grow(ctx, n); err != nil {
			return err
		}
		info.FixtureTime += time.Since(t)
		sc := &scenario{Backend: backend, Kind: kindScale, Versions: scale.Versions, Models: cfg.Models,
			Aggregate: "last", p: scale}
		if err := b.measure(ctx, proxy, sc); err != nil {
			return err
		}
		if sc.Probe, err = probeReads(ctx, scale); err != nil {
			return err
		}
		b.report.Scenarios = append(b.report.Scenarios, sc)
	}

	if cfg.History > 0 {
		logf("%s: logging %d-point histories", backend, cfg.History)
		t := time.Now()
		agg, err := newPromoted(ctx, f, exp, "bench-aggregate", cfg.History, cfg.Concurrency)
		if err != nil {
			return err
		}
		if err := agg.grow(ctx, cfg.Sizes[0]); err != nil {
			return err
		}
		info.FixtureTime += time.Since(t)
		sc := &scenario{Backend: backend, Kind: kindAggregate, Versions: agg.Versions, Models: cfg.Models,
			Aggregate: "mean", HistoryPoints: cfg.History, p: agg}
		if err := b.measure(ctx, proxy, sc); err != nil {
			return err
		}
		if sc.Probe, err = probeHistory(ctx, agg); err != nil {
			return err
		}
		b.report.Scenarios = append(b.report.Scenarios, sc)
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mlreg-bench %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
