//go:build linux

// Command mlreg-bench-digest measures the model digest through the tracking
// server's artifact proxy against a plain replay of the same downloads:
// `curl | sha256sum` of each file, one after the other (and, for reference,
// as many at once as the digest reads), on the same server in the same run.
//
// It starts a real MLflow server (internal/mlflowtest, artifacts served by
// the server from a local destination), uploads a model of -files files
// totalling -size bytes of random data through the proxy, reads it once to
// warm the server's page cache, then runs -pairs pairs, alternating which of
// the two goes first. The digest runs as a child process (this binary with
// -hash), so that its wall time, CPU time and peak RSS come from wait4's
// rusage like the replay's; the replay's per-file sums are checked against
// the digest's. Targets are reported, never asserted.
//
//	go run ./bench/cmd/mlreg-bench-digest -md bin/digest-bench.md
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mlreg/mlreg-action/internal/artifact"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/modeldigest"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mlreg-bench-digest:", err)
		os.Exit(1)
	}
}

type config struct {
	size        int64
	files       int
	pairs       int
	concurrency int
	md          string
	// child mode
	hash        bool
	trackingURI string
	source      string
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	var c config
	fs := flag.NewFlagSet("mlreg-bench-digest", flag.ContinueOnError)
	fs.Int64Var(&c.size, "size", 1<<30, "model size in bytes")
	fs.IntVar(&c.files, "files", 20, "files in the model")
	fs.IntVar(&c.pairs, "pairs", 3, "measured pairs (digest, replay)")
	fs.IntVar(&c.concurrency, "concurrency", modeldigest.DefaultConcurrency, "files the digest reads at once")
	fs.StringVar(&c.md, "md", "", "also write the Markdown report to this file")
	fs.BoolVar(&c.hash, "hash", false, "child mode: hash -source through -tracking-uri and print the digest")
	fs.StringVar(&c.trackingURI, "tracking-uri", "", "child mode: the tracking server")
	fs.StringVar(&c.source, "source", "", "child mode: the model's source")
	if err := fs.Parse(args); err != nil {
		return err //nolint:wrapcheck // flag's own message
	}
	if c.hash {
		return hashChild(ctx, c, stdout)
	}
	return bench(ctx, c, stdout)
}

// hashChild is what a deploy job or a promotion does: resolve, list, hash.
func hashChild(ctx context.Context, c config, stdout io.Writer) error {
	cl, err := mlflow.New(mlflow.Options{TrackingURI: c.trackingURI, MaxIdleConnsPerHost: c.concurrency})
	if err != nil {
		return err //nolint:wrapcheck // child mode: the parent shows it
	}
	r := &artifact.Resolver{Tracking: cl, Proxy: cl, TrackingURI: cl.BaseURL()}
	st, err := r.Open(ctx, c.source)
	if err != nil {
		return err //nolint:wrapcheck // child mode
	}
	m, err := modeldigest.Compute(ctx, st, modeldigest.Options{Concurrency: c.concurrency})
	if err != nil {
		return err //nolint:wrapcheck // child mode
	}
	for _, f := range m.Files() {
		fmt.Fprintf(stdout, "%s  %s\n", f.Hex(), f.Path)
	}
	fmt.Fprintln(stdout, m.Digest())
	return nil
}

// measured is one timed process.
type measured struct {
	wall, cpu time.Duration
	rssKiB    int64
	out       string
}

func measure(ctx context.Context, name string, args ...string) (measured, error) {
	cmd := exec.CommandContext(ctx, name, args...) //nolint:gosec // the benchmark runs itself and bash
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return measured{}, fmt.Errorf("%s: %w\n%s", name, err, stderr.String())
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	m := measured{wall: wall, out: stdout.String()}
	if ru != nil {
		m.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		m.rssKiB = ru.Maxrss
	}
	return m, nil
}

func bench(ctx context.Context, c config, stdout io.Writer) error {
	if _, err := exec.LookPath("curl"); err != nil {
		return errors.New("curl is needed for the replay")
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("failed to find this binary: %w", err)
	}
	startCtx, cancel := context.WithTimeout(ctx, mlflowtest.StartLimit)
	srv, err := mlflowtest.Start(startCtx, mlflowtest.Options{})
	cancel()
	if err != nil {
		return fmt.Errorf("failed to start MLflow: %w", err)
	}
	defer srv.Stop() //nolint:errcheck // the benchmark's report is out by then

	dir := fmt.Sprintf("bench/%d/artifacts/model", time.Now().UnixNano())
	names, err := upload(ctx, srv.URL, dir, c.size, c.files)
	if err != nil {
		return err
	}
	source := "mlflow-artifacts:/" + dir
	urls := make([]string, len(names))
	for i, n := range names {
		urls[i] = srv.URL + "/api/2.0/mlflow-artifacts/artifacts/" + dir + "/" + n
	}
	digestArgs := []string{"-hash", "-tracking-uri", srv.URL, "-source", source, "-concurrency", strconv.Itoa(c.concurrency)}
	seq := "for u in " + strings.Join(urls, " ") + "; do curl -sS --fail \"$u\" | sha256sum; done"
	par := "printf '%s\\n' " + strings.Join(urls, " ") + " | xargs -P " + strconv.Itoa(c.concurrency) +
		" -I{} sh -c 'curl -sS --fail \"{}\" | sha256sum'"

	// Warm-up: the server's page cache holds the files for both.
	if _, err := measure(ctx, "bash", "-c", seq); err != nil {
		return err
	}
	var ours, replay, replayPar []measured
	for pair := range c.pairs {
		runDigest := func() error {
			m, err := measure(ctx, self, digestArgs...)
			ours = append(ours, m)
			return err
		}
		runReplay := func() error {
			m, err := measure(ctx, "bash", "-c", seq)
			replay = append(replay, m)
			return err
		}
		first, second := runDigest, runReplay
		if pair%2 == 1 {
			first, second = runReplay, runDigest
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
		m, err := measure(ctx, "bash", "-c", par)
		if err != nil {
			return err
		}
		replayPar = append(replayPar, m)
	}
	if err := sameSums(ours[0].out, replay[0].out, names); err != nil {
		return err
	}
	report := render(c, ours, replay, replayPar)
	fmt.Fprint(stdout, report)
	if c.md != "" {
		if err := os.WriteFile(c.md, []byte(report), 0o644); err != nil {
			return fmt.Errorf("failed to write %s: %w", c.md, err)
		}
	}
	return nil
}

// upload PUTs files of random bytes (sizes differing a little, size in all)
// through the artifact proxy, as MLflow's client logs artifacts.
func upload(ctx context.Context, base, dir string, size int64, n int) ([]string, error) {
	rnd := rand.New(rand.NewChaCha8([32]byte{1}))
	names := make([]string, n)
	left := size
	for i := range n {
		names[i] = fmt.Sprintf("shard-%02d-of-%02d.safetensors", i+1, n)
		part := size / int64(n)
		if i == n-1 {
			part = left
		}
		left -= part
		body := io.LimitReader(readerFunc(func(p []byte) (int, error) {
			for j := 0; j < len(p); j += 8 {
				v := rnd.Uint64()
				for k := 0; k < 8 && j+k < len(p); k++ {
					p[j+k] = byte(v >> (8 * k))
				}
			}
			return len(p), nil
		}), part)
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/api/2.0/mlflow-artifacts/artifacts/"+dir+"/"+names[i], body)
		if err != nil {
			return nil, fmt.Errorf("failed to upload %s: %w", names[i], err)
		}
		req.ContentLength = part
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("failed to upload %s: %w", names[i], err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("failed to upload %s: %s", names[i], res.Status)
		}
	}
	return names, nil
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// sameSums checks that the replay's sha256sum lines (one per file, in
// order) are the digest's per-file digests, and their root the digest's.
func sameSums(digestOut, replayOut string, names []string) error {
	ours := map[string]string{}
	var root string
	sc := bufio.NewScanner(strings.NewReader(digestOut))
	for sc.Scan() {
		if h, p, ok := strings.Cut(sc.Text(), "  "); ok {
			ours[p] = h
		} else {
			root = sc.Text()
		}
	}
	lines := strings.Fields(replayOut)
	var sums []string
	for _, f := range lines {
		if len(f) == 64 {
			sums = append(sums, f)
		}
	}
	if len(sums) != len(names) {
		return fmt.Errorf("the replay printed %d sums for %d files", len(sums), len(names))
	}
	h := sha256.New()
	for i, n := range names { // upload order is the digest's order here: shard-01 ... shard-20
		if ours[n] != sums[i] {
			return fmt.Errorf("%s: the digest has %s, sha256sum %s", n, ours[n], sums[i])
		}
		b, _ := hex.DecodeString(sums[i])
		h.Write(b)
	}
	if want := modeldigest.Prefix + hex.EncodeToString(h.Sum(nil)); root != want {
		return fmt.Errorf("root %s, the replay's sums give %s", root, want)
	}
	return nil
}

// spread is the median, min and max of f over ms.
func spread(ms []measured, f func(measured) float64) (med, lo, hi float64) {
	v := make([]float64, len(ms))
	for i, m := range ms {
		v[i] = f(m)
	}
	slices.Sort(v)
	return v[len(v)/2], v[0], v[len(v)-1]
}

func render(c config, ours, replay, replayPar []measured) string {
	mb := float64(c.size) / (1 << 20)
	tp := func(m measured) float64 { return mb / m.wall.Seconds() }
	wall := func(m measured) float64 { return m.wall.Seconds() }
	cpu := func(m measured) float64 { return m.cpu.Seconds() }
	rss := func(m measured) float64 { return float64(m.rssKiB) / 1024 }
	var b strings.Builder
	fmt.Fprintf(&b, "## Model digest through the artifact proxy\n\n")
	fmt.Fprintf(&b, "%.0f MiB in %d files, %d pairs, digest concurrency %d; medians, throughput (min–max).\n\n",
		mb, c.files, c.pairs, c.concurrency)
	fmt.Fprintf(&b, "| | wall | MiB/s | CPU | peak RSS |\n|---|---|---|---|---|\n")
	row := func(name string, ms []measured) {
		w, _, _ := spread(ms, wall)
		t, lo, hi := spread(ms, tp)
		u, _, _ := spread(ms, cpu)
		r, _, _ := spread(ms, rss)
		fmt.Fprintf(&b, "| %s | %.2f s | %.0f (%.0f–%.0f) | %.2f s | %.1f MiB |\n", name, w, t, lo, hi, u, r)
	}
	row("mlreg-action digest (child process)", ours)
	row(`curl \| sha256sum, one file after another`, replay)
	row(fmt.Sprintf(`curl \| sha256sum, %d at once (xargs -P)`, c.concurrency), replayPar)
	ratios := make([]measured, len(ours)) // the ratio of pair i, in its wall field
	for i := range ours {
		ratios[i].wall = time.Duration(float64(time.Second) * tp(ours[i]) / tp(replay[i]))
	}
	rm, rlo, rhi := spread(ratios, wall)
	_, _, rssMax := spread(ours, rss)
	fmt.Fprintf(&b, "\nThroughput ratio digest / sequential replay, per pair: median %.2f× (%.2f–%.2f×); target ≥ 0.9×. "+
		"Peak RSS of the digest: %.1f MiB at most; target ≤ 64 MiB.\n", rm, rlo, rhi, rssMax)
	return b.String()
}
