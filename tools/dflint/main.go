// Command dflint lints Dockerfiles with BuildKit's own Dockerfile linter (the
// rules of `docker build --check`), used as a library so it runs offline: base
// images are "resolved" by a stub that never touches a registry.
//
// On top of BuildKit's rules it enforces two house rules:
// every image a FROM resolves to (after ARG defaults) is pinned by digest, and
// a FROM or COPY --from that names no stage and no tag (a typo such as
// `--from=buidl`) is an error instead of a silent pull of `:latest`.
//
//	dflint [-build-arg K=V]... Dockerfile...
//
// It prints one line per problem (file:line: rule: message) and exits 1 when
// there is any.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerui"
	digest "github.com/opencontainers/go-digest"
)

type buildArgs map[string]string

func (b buildArgs) String() string { return fmt.Sprint(map[string]string(b)) }
func (b buildArgs) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("want K=V, got %q", v)
	}
	b[k] = val
	return nil
}

func main() {
	args := buildArgs{}
	fs := flag.NewFlagSet("dflint", flag.ContinueOnError)
	fs.Var(args, "build-arg", "build argument K=V as given to the build (repeatable)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: dflint [-build-arg K=V]... Dockerfile...")
		os.Exit(2)
	}
	problems := 0
	for _, path := range fs.Args() {
		n, err := lintFile(context.Background(), os.Stdout, path, args)
		if err != nil {
			fmt.Fprintf(os.Stderr, "dflint: %v\n", err)
			os.Exit(2)
		}
		problems += n
	}
	if problems > 0 {
		fmt.Printf("dflint: %d problem(s)\n", problems)
		os.Exit(1)
	}
	fmt.Printf("dflint: %s: no problems (BuildKit lint rules incl. experimental, digest pins)\n", strings.Join(fs.Args(), ", "))
}

// lintFile lints one Dockerfile and returns the number of problems it printed.
func lintFile(ctx context.Context, w io.Writer, path string, args buildArgs) (int, error) {
	dt, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("failed to read %s: %w", path, err)
	}
	sm := llb.NewSourceMap(nil, path, "Dockerfile", dt)
	sm.Definition = &llb.Definition{} // DockerfileLint dereferences it
	res := &stubResolver{}
	results, err := dockerfile2llb.DockerfileLint(ctx, dt, dockerfile2llb.ConvertOpt{
		Config: dockerui.Config{
			BuildArgs:    args,
			LinterConfig: &linter.Config{ExperimentalAll: true},
		},
		SourceMap:    sm,
		MetaResolver: res,
	})
	if err != nil {
		return 0, fmt.Errorf("failed to lint %s: %w", path, err)
	}
	var lines []string
	for _, warn := range results.Warnings {
		line := 0
		if warn.Location != nil && len(warn.Location.Ranges) > 0 && warn.Location.Ranges[0].Start != nil {
			line = int(warn.Location.Ranges[0].Start.Line)
		}
		lines = append(lines, fmt.Sprintf("%s:%d: %s: %s (%s)", path, line, warn.RuleName, warn.Detail, warn.URL))
	}
	if e := results.Error; e != nil {
		line := 0
		if len(e.Location.Ranges) > 0 && e.Location.Ranges[0].Start != nil {
			line = int(e.Location.Ranges[0].Start.Line)
		}
		lines = append(lines, fmt.Sprintf("%s:%d: error: %s", path, line, e.Message))
	}
	for _, p := range res.problems() {
		lines = append(lines, fmt.Sprintf("%s: %s", path, p))
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return len(lines), nil
}

// stubResolver answers every image lookup with a minimal config, so nothing is
// pulled, and records refs that break the house rules.
type stubResolver struct {
	mu   sync.Mutex
	errs []string
}

var _ llb.ImageMetaResolver = (*stubResolver)(nil)

func (r *stubResolver) problems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

func (r *stubResolver) ResolveImageConfig(_ context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", "", nil, fmt.Errorf("failed to parse image reference %q: %w", ref, err)
	}
	tag, tagged := named.(reference.Tagged)
	_, pinned := named.(reference.Digested)
	if (!tagged || tag.Tag() == "latest") && !pinned {
		// BuildKit has already normalised an untagged name to :latest. A name that
		// is not a stage is a misspelt stage (COPY --from=buidl) or a floating base:
		// failing the lookup makes BuildKit report it with a "did you mean" hint.
		return "", "", nil, fmt.Errorf("image %q has no tag or digest: a misspelt stage name, or an implicit :latest", ref)
	}
	if !pinned {
		r.mu.Lock()
		r.errs = append(r.errs, fmt.Sprintf("DigestPin: base image %q is not pinned by digest (name:tag@sha256:...)", ref))
		r.mu.Unlock()
	}
	platform := map[string]string{"os": "linux", "architecture": "amd64"}
	if opt.ImageOpt != nil && opt.ImageOpt.Platform != nil {
		platform = map[string]string{"os": opt.ImageOpt.Platform.OS, "architecture": opt.ImageOpt.Platform.Architecture}
	}
	cfg, err := json.Marshal(map[string]any{
		"os": platform["os"], "architecture": platform["architecture"],
		"config": map[string]any{"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{}},
	})
	if err != nil {
		return "", "", nil, fmt.Errorf("failed to encode stub image config: %w", err)
	}
	return named.String(), digest.FromBytes(cfg), cfg, nil
}
