// Command mlreg-bench-fleet is the fleet scenario's measured process (see bench/cmd/mlreg-bench). It has two
// modes, each printing one JSON line of results to stdout:
//
//	mlreg-bench-fleet apply -manifest M -policy P -plan-uri U1 -apply-uri U2 -parallelism N
//
// plans the desired-state file M with internal/fleet through the MLflow client of mlreg-action (U1), then
// applies the plan (U2: another proxy session, so the benchmark tells the two phases apart), as `promote`
// with `manifest` does.
//
//	mlreg-bench-fleet replay -requests R -uri U -parallelism N
//
// sends again the requests of such a run (R, recorded by the benchmark's proxy) with a plain net/http client
// and nothing else: the same requests, in the same order, at the same concurrency. Within one model, a request
// waits for every request that had answered before it was sent in the recorded run; N models at a time; the
// plan's requests all before the apply's. What this process takes beyond the replay is the engine's own cost.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/fleet"
	"github.com/mlreg/mlreg-action/internal/manifest"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/promote"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: mlreg-bench-fleet apply|replay [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "apply":
		err = runApply(ctx, os.Args[2:])
	case "replay":
		err = runReplay(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mlreg-bench-fleet: %v\n", err)
		stop()
		os.Exit(1) //nolint:gocritic // stop ran just above
	}
}

// applyResult is what apply prints.
type applyResult struct {
	Entries       int            `json:"entries"`
	Changes       int            `json:"changes"`
	PlanMS        float64        `json:"plan_ms"`
	ApplyMS       float64        `json:"apply_ms"`
	PlanRequests  int            `json:"plan_requests"`
	ApplyRequests int            `json:"apply_requests"`
	Digest        string         `json:"digest"`
	Outcomes      map[string]int `json:"outcomes"`
}

func runApply(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("apply", flag.ContinueOnError)
	manifestPath := fs.String("manifest", "", "desired-state file")
	policyPath := fs.String("policy", "", "policy file")
	planURI := fs.String("plan-uri", "", "tracking URI for planning")
	applyURI := fs.String("apply-uri", "", "tracking URI for applying")
	par := fs.Int("parallelism", fleet.DefaultParallelism, "entries at once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := manifest.LoadFile(*manifestPath, *manifestPath)
	if err != nil {
		return err
	}
	pol, err := checks.LoadFileAs(*policyPath, *policyPath)
	if err != nil {
		return err
	}
	service := func(uri string) (*promote.Service, error) {
		c, err := mlflow.New(mlflow.Options{TrackingURI: uri})
		if err != nil {
			return nil, err
		}
		reg := mlflow.NewRegistry(c)
		return &promote.Service{Reg: reg, Lock: reg, LockOwner: "mlreg-bench-fleet"}, nil
	}
	planSvc, err := service(*planURI)
	if err != nil {
		return err
	}
	applySvc, err := service(*applyURI)
	if err != nil {
		return err
	}
	began := time.Now()
	fp, err := fleet.Plan(ctx, planSvc, m, pol, fleet.Options{Parallelism: *par, ArchiveExisting: true, Actor: "bench"})
	if err != nil {
		return err
	}
	planned := time.Now()
	res, err := fleet.Apply(ctx, applySvc, fp, fleet.ApplyOptions{Parallelism: *par, ExpectedDigest: fp.Digest})
	if err != nil {
		return err
	}
	out := applyResult{
		Entries: len(fp.Entries), Changes: fp.ChangeCount(),
		PlanMS:       float64(planned.Sub(began).Microseconds()) / 1000,
		ApplyMS:      float64(time.Since(planned).Microseconds()) / 1000,
		PlanRequests: fp.Requests, ApplyRequests: res.Requests, Digest: fp.Digest, Outcomes: map[string]int{},
	}
	for _, er := range res.Entries {
		out.Outcomes[string(er.Outcome)]++
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// Request is one recorded request, as the benchmark writes them for replay.
type Request struct {
	Phase  string `json:"phase"` // plan, apply
	Group  string `json:"group"` // the model it is about
	Method string `json:"method"`
	Path   string `json:"path"` // /api/2.0/mlflow/...
	Query  string `json:"query,omitempty"`
	Body   []byte `json:"body,omitempty"`
	// Start and End are when the recorded request arrived at the proxy and when its answer was written.
	Start time.Duration `json:"start_ns"`
	End   time.Duration `json:"end_ns"`
}

// replayResult is what replay prints.
type replayResult struct {
	Requests int     `json:"requests"`
	Failed   int     `json:"failed"` // answers that were not 2xx
	PlanMS   float64 `json:"plan_ms"`
	ApplyMS  float64 `json:"apply_ms"`
}

func runReplay(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	path := fs.String("requests", "", "recorded requests (JSON)")
	uri := fs.String("uri", "", "tracking URI to send them to")
	par := fs.Int("parallelism", fleet.DefaultParallelism, "models at once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	data, err := os.ReadFile(*path)
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", *path, err)
	}
	var reqs []Request
	if err := json.Unmarshal(data, &reqs); err != nil {
		return fmt.Errorf("failed to parse %s: %w", *path, err)
	}
	r := &replayer{base: strings.TrimRight(*uri, "/"), hc: &http.Client{Timeout: 2 * time.Minute}, par: *par}
	out := replayResult{Requests: len(reqs)}
	for _, phase := range []string{"plan", "apply"} {
		began := time.Now()
		if err := r.phase(ctx, phaseRequests(reqs, phase)); err != nil {
			return err
		}
		ms := float64(time.Since(began).Microseconds()) / 1000
		if phase == "plan" {
			out.PlanMS = ms
		} else {
			out.ApplyMS = ms
		}
	}
	out.Failed = int(r.failed.Load())
	return json.NewEncoder(os.Stdout).Encode(out)
}

func phaseRequests(reqs []Request, phase string) [][]Request {
	var groups [][]Request
	index := map[string]int{}
	for _, q := range reqs {
		if q.Phase != phase {
			continue
		}
		i, ok := index[q.Group]
		if !ok {
			i = len(groups)
			index[q.Group] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], q)
	}
	for _, g := range groups {
		slices.SortStableFunc(g, func(a, b Request) int { return int(a.Start - b.Start) })
	}
	// Groups start in the order their first request did.
	slices.SortStableFunc(groups, func(a, b []Request) int { return int(a[0].Start - b[0].Start) })
	return groups
}

type replayer struct {
	base   string
	hc     *http.Client
	par    int
	failed atomic.Int64
}

// phase replays groups, par at a time.
func (r *replayer) phase(ctx context.Context, groups [][]Request) error {
	sem := make(chan struct{}, r.par)
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for i, g := range groups {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = r.group(ctx, g)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// group replays one model's requests: each waits for the requests that had answered before it was sent.
func (r *replayer) group(ctx context.Context, g []Request) error {
	done := make([]chan struct{}, len(g))
	for i := range done {
		done[i] = make(chan struct{})
	}
	errs := make([]error, len(g))
	var wg sync.WaitGroup
	for i, q := range g {
		wg.Go(func() {
			defer close(done[i])
			for j := range i {
				if g[j].End <= q.Start {
					<-done[j]
				}
			}
			errs[i] = r.send(ctx, q)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *replayer) send(ctx context.Context, q Request) error {
	u := r.base + q.Path
	if q.Query != "" {
		u += "?" + q.Query
	}
	var body io.Reader
	if len(q.Body) > 0 {
		body = bytes.NewReader(q.Body)
	}
	req, err := http.NewRequestWithContext(ctx, q.Method, u, body)
	if err != nil {
		return fmt.Errorf("failed to build request: %w", err)
	}
	// The headers mlreg-action's client sends, so the server sees the same requests.
	req.Header.Set("User-Agent", "mlreg-action")
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return fmt.Errorf("failed to send %s %s: %w", q.Method, q.Path, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("failed to read the answer to %s %s: %w", q.Method, q.Path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		r.failed.Add(1)
	}
	return nil
}
