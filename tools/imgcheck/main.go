// Command imgcheck inspects an image in an OCI layout (as `buildah push IMG
// oci:DIR:TAG` writes it) and checks what the action's image promises: its
// compressed size is within budget, its config runs the binary as root (no
// USER), it holds exactly the expected files, and the binary is a static,
// stripped, trimmed Go binary for the image's architecture with the version
// stamped in.
//
//	imgcheck -layout DIR -tag TAG -arch amd64 -version v1.2.3 [-max-compressed 8000000] [-extract ROOTFS]
//
// It prints one summary line, then the problems; it exits 1 when there is any.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

const binaryPath = "/mlreg-action"

// wantFiles is every regular file the image may hold.
var wantFiles = []string{"/etc/ssl/certs/ca-certificates.crt", binaryPath}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	} `json:"platform"`
}

type manifest struct {
	Config descriptor   `json:"config"`
	Layers []descriptor `json:"layers"`
}

type imageConfig struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Config       struct {
		User       string   `json:"User"`
		Entrypoint []string `json:"Entrypoint"`
		Cmd        []string `json:"Cmd"`
		WorkingDir string   `json:"WorkingDir"`
	} `json:"config"`
}

type options struct {
	layout, tag, arch, version, extract string
	maxCompressed                       int64
}

func main() {
	var o options
	fs := flag.NewFlagSet("imgcheck", flag.ContinueOnError)
	fs.StringVar(&o.layout, "layout", "", "OCI layout directory")
	fs.StringVar(&o.tag, "tag", "", "ref name of the image in the layout (empty: the only one)")
	fs.StringVar(&o.arch, "arch", "amd64", "expected GOARCH / OCI architecture")
	fs.StringVar(&o.version, "version", "", "expected -X main.version value (empty: not checked)")
	fs.Int64Var(&o.maxCompressed, "max-compressed", 8_000_000, "budget in bytes for manifest + config + compressed layers")
	fs.StringVar(&o.extract, "extract", "", "write the image's files under this directory")
	if err := fs.Parse(os.Args[1:]); err != nil || o.layout == "" {
		fmt.Fprintln(os.Stderr, "usage: imgcheck -layout DIR [-tag T] [-arch A] [-version V] [-max-compressed N] [-extract DIR]")
		os.Exit(2)
	}
	summary, problems, err := check(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "imgcheck: %v\n", err)
		os.Exit(2)
	}
	fmt.Println(summary)
	for _, p := range problems {
		fmt.Println("imgcheck: FAIL:", p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
}

func readBlob(layout, dgst string, size int64) ([]byte, error) {
	algo, hexDigest, ok := strings.Cut(dgst, ":")
	if !ok || algo != "sha256" {
		return nil, fmt.Errorf("failed to read blob %q: unsupported digest", dgst)
	}
	b, err := os.ReadFile(filepath.Join(layout, "blobs", algo, hexDigest))
	if err != nil {
		return nil, fmt.Errorf("failed to read blob %s: %w", dgst, err)
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != hexDigest {
		return nil, fmt.Errorf("failed to verify blob %s: digest mismatch", dgst)
	}
	if size >= 0 && int64(len(b)) != size {
		return nil, fmt.Errorf("failed to verify blob %s: size %d, descriptor says %d", dgst, len(b), size)
	}
	return b, nil
}

func check(o options) (string, []string, error) {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	idxBytes, err := os.ReadFile(filepath.Join(o.layout, "index.json"))
	if err != nil {
		return "", nil, fmt.Errorf("failed to read index: %w", err)
	}
	var idx struct {
		Manifests []descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(idxBytes, &idx); err != nil {
		return "", nil, fmt.Errorf("failed to decode index: %w", err)
	}
	var md *descriptor
	for i, d := range idx.Manifests {
		if o.tag == "" || d.Annotations["org.opencontainers.image.ref.name"] == o.tag {
			md = &idx.Manifests[i]
		}
	}
	if md == nil {
		return "", nil, fmt.Errorf("failed to find image %q in %s", o.tag, o.layout)
	}
	mb, err := readBlob(o.layout, md.Digest, md.Size)
	if err != nil {
		return "", nil, err
	}
	var m manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return "", nil, fmt.Errorf("failed to decode manifest: %w", err)
	}
	cb, err := readBlob(o.layout, m.Config.Digest, m.Config.Size)
	if err != nil {
		return "", nil, err
	}
	var cfg imageConfig
	if err := json.Unmarshal(cb, &cfg); err != nil {
		return "", nil, fmt.Errorf("failed to decode config: %w", err)
	}

	// Config: GitHub runs the entrypoint with the inputs in the environment, as root.
	if cfg.OS != "linux" || cfg.Architecture != o.arch {
		fail("platform is %s/%s, want linux/%s", cfg.OS, cfg.Architecture, o.arch)
	}
	if u := cfg.Config.User; u != "" && u != "0" && u != "root" && u != "0:0" {
		fail("config sets USER %q: GitHub needs the default (root) user to write /github/file_commands and /github/workspace", u)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{binaryPath}) {
		fail("entrypoint is %q, want [%q]", cfg.Config.Entrypoint, binaryPath)
	}
	if len(cfg.Config.Cmd) > 0 {
		fail("config has CMD %q: the action passes no arguments and must not get any", cfg.Config.Cmd)
	}

	compressed := int64(len(mb)) + int64(len(cb))
	var uncompressed int64
	files := map[string][]byte{}
	modes := map[string]int64{}
	for _, l := range m.Layers {
		lb, err := readBlob(o.layout, l.Digest, l.Size)
		if err != nil {
			return "", nil, err
		}
		compressed += int64(len(lb))
		n, err := readLayer(lb, files, modes)
		if err != nil {
			return "", nil, err
		}
		uncompressed += n
	}
	if compressed > o.maxCompressed {
		fail("compressed size %d B is over the budget of %d B", compressed, o.maxCompressed)
	}
	var names []string
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	if !slices.Equal(names, wantFiles) {
		fail("image files are %q, want exactly %q", names, wantFiles)
	}

	binInfo := "missing"
	if bin, ok := files[binaryPath]; ok {
		if modes[binaryPath]&0o111 == 0 {
			fail("%s is not executable (mode %o)", binaryPath, modes[binaryPath])
		}
		info, binProblems := checkBinary(bin, o.arch, o.version)
		binInfo = fmt.Sprintf("%d B, %s", len(bin), info)
		problems = append(problems, binProblems...)
	}

	if o.extract != "" {
		for name, b := range files {
			p := filepath.Join(o.extract, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return "", nil, fmt.Errorf("failed to extract %s: %w", name, err)
			}
			if err := os.WriteFile(p, b, os.FileMode(modes[name]&0o777)); err != nil {
				return "", nil, fmt.Errorf("failed to extract %s: %w", name, err)
			}
		}
	}

	summary := fmt.Sprintf("imgcheck: %s linux/%s manifest %s: compressed %s (budget %s), uncompressed %s, %d layer(s); user %q, entrypoint %q; %s: %s",
		o.layout, cfg.Architecture, md.Digest, human(compressed), human(o.maxCompressed), human(uncompressed),
		len(m.Layers), cfg.Config.User, cfg.Config.Entrypoint, binaryPath, binInfo)
	return summary, problems, nil
}

// readLayer adds the regular files of a (gzip) tar layer to files.
func readLayer(b []byte, files map[string][]byte, modes map[string]int64) (int64, error) {
	var r io.Reader = bytes.NewReader(b)
	if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return 0, fmt.Errorf("failed to open layer: %w", err)
		}
		r = gz
	}
	tr := tar.NewReader(r)
	var total int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return 0, fmt.Errorf("failed to read layer: %w", err)
		}
		name := path.Clean("/" + h.Name)
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return 0, fmt.Errorf("failed to read %s from layer: %w", name, err)
		}
		total += int64(len(data))
		files[name] = data
		modes[name] = h.Mode
	}
}

var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// checkBinary checks the binary is static, stripped, built as the Dockerfile says, for arch.
func checkBinary(b []byte, arch, version string) (string, []string) {
	var problems []string
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return "not ELF", []string{fmt.Sprintf("%s is not an ELF binary: %v", binaryPath, err)}
	}
	if f.Machine != elfMachine[arch] {
		problems = append(problems, fmt.Sprintf("%s is for %v, want %s", binaryPath, f.Machine, arch))
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			problems = append(problems, fmt.Sprintf("%s is dynamically linked (%v): scratch has no libc", binaryPath, p.Type))
			break
		}
	}
	if f.Section(".symtab") != nil {
		problems = append(problems, fmt.Sprintf("%s is not stripped (has .symtab): build with -ldflags=\"-s -w\"", binaryPath))
	}
	for _, s := range f.Sections {
		if strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			problems = append(problems, fmt.Sprintf("%s has DWARF (%s): build with -ldflags=\"-s -w\"", binaryPath, s.Name))
			break
		}
	}
	bi, err := buildinfo.Read(bytes.NewReader(b))
	if err != nil {
		return "no Go build info", append(problems, fmt.Sprintf("failed to read Go build info: %v", err))
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" {
		problems = append(problems, fmt.Sprintf("built with CGO_ENABLED=%q, want 0", settings["CGO_ENABLED"]))
	}
	if settings["GOARCH"] != arch {
		problems = append(problems, fmt.Sprintf("built for GOARCH=%q, want %s", settings["GOARCH"], arch))
	}
	// The go command leaves -ldflags out of the build info under -trimpath, so
	// the -X stamp is checked by its bytes here, and by running `version` in CI.
	if settings["-trimpath"] != "true" {
		problems = append(problems, "built without -trimpath")
	}
	if version != "" && !bytes.Contains(b, []byte(version)) {
		problems = append(problems, fmt.Sprintf("%s does not contain the version %q (-X main.version)", binaryPath, version))
	}
	info := fmt.Sprintf("ELF %v, no interpreter, no symbols, %s, GOARCH=%s CGO_ENABLED=%s -trimpath=%s",
		f.Machine, bi.GoVersion, settings["GOARCH"], settings["CGO_ENABLED"], settings["-trimpath"])
	return info, problems
}

func human(n int64) string {
	return fmt.Sprintf("%d B (%.2f MB)", n, float64(n)/1e6)
}
