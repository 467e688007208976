// Command startbench measures how long the action's binary takes from process
// start to its first request to the MLflow server: the fixed cost every
// workflow step pays before any real work.
//
//	startbench -bin /mlreg-action [-rootfs DIR] [-workdir /github/workspace] [-policy FILE] [-n 51] [-budget 20ms]
//
// Each run starts the binary as a container step would (GITHUB_ACTIONS=true,
// INPUT_* variables, a GITHUB_OUTPUT file, the policy file in the workspace)
// and points it at a loopback HTTP server here, which notes when the run's
// first request arrives and answers 404 RESOURCE_DOES_NOT_EXIST so the run ends
// at once. With -rootfs, the binary runs chrooted in the image's extracted
// files (needs root), so it sees exactly the image's CA bundle and nothing
// else. The clock starts right before fork/exec.
//
// It prints the median, p90, min and max over -n runs (after 3 warm-up runs)
// and exits 1 when the median is over -budget.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type options struct {
	bin, rootfs, workdir, policy string
	n                            int
	budget                       time.Duration
}

func main() {
	var o options
	fs := flag.NewFlagSet("startbench", flag.ContinueOnError)
	fs.StringVar(&o.bin, "bin", "", "the binary (a path inside -rootfs when that is set)")
	fs.StringVar(&o.rootfs, "rootfs", "", "run chrooted in this directory (the image's files)")
	fs.StringVar(&o.workdir, "workdir", "/github/workspace", "working directory of the binary (inside -rootfs)")
	fs.StringVar(&o.policy, "policy", "", "policy file to copy into the workspace as .github/mlreg-policy.yml")
	fs.IntVar(&o.n, "n", 51, "measured runs")
	fs.DurationVar(&o.budget, "budget", 20*time.Millisecond, "fail when the median is over this")
	if err := fs.Parse(os.Args[1:]); err != nil || o.bin == "" || o.n < 1 {
		fmt.Fprintln(os.Stderr, "usage: startbench -bin PATH [-rootfs DIR] [-workdir DIR] [-policy FILE] [-n N] [-budget D]")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "startbench: %v\n", err)
		os.Exit(1)
	}
}

// firstHits records, per run, when its first request arrived.
type firstHits struct {
	mu   sync.Mutex
	hits map[int]time.Time
	seen map[int]string
}

func (f *firstHits) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	// Requests arrive under /run/<i>/api/2.0/mlflow/...
	rest, ok := strings.CutPrefix(r.URL.Path, "/run/")
	if ok {
		n, _, _ := strings.Cut(rest, "/")
		if i, err := strconv.Atoi(n); err == nil {
			f.mu.Lock()
			if _, done := f.hits[i]; !done {
				f.hits[i] = now
				f.seen[i] = r.Method + " " + r.URL.Path
			}
			f.mu.Unlock()
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprint(w, `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"startbench: no such model"}`)
}

func (f *firstHits) get(i int) (time.Time, string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.hits[i]
	return t, f.seen[i], ok
}

func run(o options) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("failed to listen on loopback: %w", err)
	}
	hits := &firstHits{hits: map[int]time.Time{}, seen: map[int]string{}}
	srv := &http.Server{Handler: hits, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	// The workspace as the binary sees it, and as this process sees it.
	hostWork := o.workdir
	if o.rootfs != "" {
		hostWork = filepath.Join(o.rootfs, o.workdir)
	}
	if err := os.MkdirAll(filepath.Join(hostWork, ".github"), 0o755); err != nil {
		return fmt.Errorf("failed to create workspace: %w", err)
	}
	policyName := ".github/mlreg-policy.yml"
	if o.policy != "" {
		b, err := os.ReadFile(o.policy)
		if err != nil {
			return fmt.Errorf("failed to read policy: %w", err)
		}
		if err := os.WriteFile(filepath.Join(hostWork, policyName), b, 0o644); err != nil {
			return fmt.Errorf("failed to write policy: %w", err)
		}
	} else {
		policyName = "none"
	}

	const warmup = 3
	var firsts, totals []time.Duration
	var firstReq string
	for i := -warmup; i < o.n; i++ {
		id := i + warmup
		first, total, req, err := once(o, ln.Addr().String(), id, policyName, hits)
		if err != nil {
			return fmt.Errorf("failed to measure run %d: %w", id, err)
		}
		if i >= 0 {
			firsts = append(firsts, first)
			totals = append(totals, total)
			firstReq = req
		}
	}
	where := "directly"
	if o.rootfs != "" {
		where = "chrooted in " + o.rootfs
	}
	fmt.Printf("startbench: %s %s, %d runs (+%d warm-up), first request %q\n", o.bin, where, o.n, warmup, firstReq)
	fmt.Printf("startbench: start -> first request: median %s  p90 %s  min %s  max %s  (budget %s)\n",
		ms(pct(firsts, 50)), ms(pct(firsts, 90)), ms(pct(firsts, 0)), ms(pct(firsts, 100)), ms(o.budget))
	fmt.Printf("startbench: start -> exit:          median %s  p90 %s  min %s  max %s\n",
		ms(pct(totals, 50)), ms(pct(totals, 90)), ms(pct(totals, 0)), ms(pct(totals, 100)))
	if med := pct(firsts, 50); med > o.budget {
		return fmt.Errorf("median start to first request %s is over the budget of %s", ms(med), ms(o.budget))
	}
	return nil
}

func once(o options, addr string, id int, policy string, hits *firstHits) (first, total time.Duration, req string, err error) {
	outFile := filepath.Join(o.workdir, ".startbench-output")
	cmd := &exec.Cmd{
		Path: o.bin,
		Args: []string{o.bin},
		Dir:  o.workdir,
		Env: []string{
			"GITHUB_ACTIONS=true",
			"GITHUB_OUTPUT=" + outFile,
			"GITHUB_WORKSPACE=" + o.workdir,
			"HOME=/github/home",
			"INPUT_COMMAND=validate",
			"INPUT_MODEL-NAME=startbench",
			"INPUT_TARGET-ALIAS=champion",
			"INPUT_POLICY=" + policy,
			"INPUT_TRACKING-URI=http://" + addr + "/run/" + strconv.Itoa(id),
			"INPUT_TIMEOUT=10s",
			"INPUT_PR-COMMENT=never",
			"INPUT_DEPLOYMENT=never",
		},
	}
	if o.rootfs != "" {
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: o.rootfs}
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, "", fmt.Errorf("failed to start %s: %w", o.bin, err)
	}
	werr := cmd.Wait()
	total = time.Since(start)
	var exit *exec.ExitError
	if werr != nil && !errors.As(werr, &exit) {
		return 0, 0, "", fmt.Errorf("failed to run %s: %w", o.bin, werr)
	}
	t, req, ok := hits.get(id)
	if !ok {
		return 0, 0, "", fmt.Errorf("failed to see a request from %s (exit %v)", o.bin, werr)
	}
	return t.Sub(start), total, req, nil
}

// pct is the p-th percentile (nearest rank) of ds.
func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if p <= 0 {
		return s[0]
	}
	i := (p*len(s) + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
