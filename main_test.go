package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
	"github.com/mlreg/mlreg-action/internal/testing/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/e2e")

var (
	srv    *mlflowtest.Server
	binary string
)

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "mlreg-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "mlreg-action")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-X main.version=e2e", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("failed to build the binary: " + err.Error())
	}
	code := mlflowtest.Main(m, &srv)
	_ = os.RemoveAll(dir) // best effort: the exit code is the result
	os.Exit(code)
}

// binaryCmd is the built binary set up the way the runner runs a container
// action: INPUT_ variables, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files (next
// to the workspace), the workspace as working directory; stdout and stderr
// go to the buffer returned.
func binaryCmd(ctx context.Context, workspace string, inputs map[string]string) (*exec.Cmd, *bytes.Buffer) {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "GITHUB_ACTIONS=true", "GITHUB_OUTPUT=" + filepath.Join(workspace, "..", "output"),
		"GITHUB_STEP_SUMMARY=" + filepath.Join(workspace, "..", "summary"),
		"GITHUB_ACTOR=octocat", "GITHUB_REPOSITORY=acme/models", "GITHUB_RUN_ID=77", "GITHUB_SERVER_URL=https://github.com",
		"GITHUB_SHA=0123456789abcdef0123456789abcdef01234567", "GITHUB_WORKSPACE=" + workspace,
		"MLFLOW_TRACKING_URI=" + srv.URL,
	}
	for k, v := range inputs {
		env = append(env, "INPUT_"+strings.ToUpper(k)+"="+v)
	}
	cmd := exec.CommandContext(ctx, binary)
	cmd.Env, cmd.Dir = env, workspace
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	return cmd, &stdout
}

// runBinary runs the built binary (see binaryCmd) and returns its exit
// status, its log and the outputs and summary files it wrote.
func runBinary(t *testing.T, workspace string, inputs map[string]string) (int, string, map[string]string) {
	t.Helper()
	out := filepath.Join(workspace, "..", "output")
	summary := filepath.Join(workspace, "..", "summary")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd, stdout := binaryCmd(ctx, workspace, inputs)
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	outputs, _ := os.ReadFile(out)
	sum, _ := os.ReadFile(summary)
	return code, stdout.String(), map[string]string{"outputs": string(outputs), "summary": string(sum)}
}

var (
	runIDRE  = regexp.MustCompile(`\b[0-9a-f]{32}\b`)
	digestRE = regexp.MustCompile(`sha256:[0-9a-f]{12,64}`)
)

// normalize replaces what differs between runs: names, ports, ids, digests.
func normalize(s, model string) string {
	s = strings.ReplaceAll(s, srv.URL, "http://MLFLOW")
	s = strings.ReplaceAll(s, model, "MODEL")
	s = runIDRE.ReplaceAllString(s, "RUN_ID")
	return digestRE.ReplaceAllString(s, "sha256:DIGEST")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	testutil.Golden(t, filepath.Join("testdata", "e2e", name), got, *update, "go test . -update")
}

const e2ePolicy = `version: 1
rules:
  - name: production gate
    applies-to: {alias: champion}
    metrics:
      val_auc:
        min: 0.9
        vs-champion: {min-improvement: 0.002}
      val_loss: {max: 0.25}
    tags:
      dataset_version: present
`

func TestBinaryAsTheRunnerRunsIt(t *testing.T) {
	s := mlflowtest.RequireServer(t, srv)
	f := s.Fixtures()
	ctx := t.Context()
	model := mlflowtest.UniqueName(t, "e2e")
	exp, err := f.CreateExperiment(ctx, model)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.CreateRegisteredModel(ctx, model); err != nil {
		t.Fatal(err)
	}
	for _, m := range []map[string]float64{{"val_auc": 0.91, "val_loss": 0.22}, {"val_auc": 0.93, "val_loss": 0.2}, {"val_auc": 0.85, "val_loss": 0.3}} {
		run, err := f.CreateRun(ctx, exp, mlflowtest.RunSpec{Metrics: m, Tags: map[string]string{"dataset_version": "2026-11"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.CreateRunVersion(ctx, model, run, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.SetAlias(ctx, model, "champion", "1"); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name   string
		inputs map[string]string
		code   int
	}{
		{"promote", map[string]string{"version": "2"}, 0},
		{"rerun", map[string]string{"version": "2"}, 0},
		{"blocked", map[string]string{"version": "3", "command": "validate"}, 1},
		{"bad-input", map[string]string{"version": "two", "timeout": "soon"}, 2},
	}
	for _, st := range steps {
		// Steps share the registry, so they run in order.
		t.Run(st.name, func(t *testing.T) {
			root := t.TempDir()
			ws := filepath.Join(root, "workspace")
			if err := os.MkdirAll(filepath.Join(ws, ".github"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(ws, ".github", "mlreg-policy.yml"), []byte(e2ePolicy), 0o644); err != nil {
				t.Fatal(err)
			}
			in := map[string]string{"model-name": model, "target-alias": "champion", "github-token": "ghs_secretvalue123", "pr-comment": "never", "deployment": "never"}
			for k, v := range st.inputs {
				in[k] = v
			}
			code, log, files := runBinary(t, ws, in)
			if code != st.code {
				t.Fatalf("exit %d, want %d\n%s", code, st.code, log)
			}
			if strings.Contains(log+files["outputs"]+files["summary"], "ghs_secretvalue123") &&
				!strings.HasPrefix(log, "::add-mask::ghs_secretvalue123") {
				t.Errorf("the token was printed outside its mask command")
			}
			if !strings.HasPrefix(log, "::add-mask::ghs_secretvalue123\n") {
				t.Errorf("the token is not masked before anything else is printed:\n%s", log)
			}
			golden(t, st.name+".outputs.golden", normalize(files["outputs"], model))
			golden(t, st.name+".summary.golden", normalize(files["summary"], model))
			golden(t, st.name+".log.golden", normalize(log, model))
		})
	}
}

// TestBinaryAppliesAManifest runs registry as code as a workflow does:
// validate the desired-state file, promote it with the reviewed digest,
// and rerun; each step's outputs, job summary and log are golden files.
func TestBinaryAppliesAManifest(t *testing.T) {
	s := mlflowtest.RequireServer(t, srv)
	fx := mlflowtest.NewFleet(t, s, 2, 1)
	base := strings.TrimSuffix(fx.Models[0], "-00")
	digest := ""
	for _, st := range []struct {
		name, command string
	}{{"manifest-validate", "validate"}, {"manifest-promote", "promote"}, {"manifest-rerun", "promote"}} {
		ws := filepath.Join(t.TempDir(), "workspace") // each step a job of its own
		if err := os.MkdirAll(filepath.Join(ws, ".github"), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, content := range map[string]string{"mlreg-policy.yml": mlflowtest.FleetPolicy, "mlreg-models.yml": fx.Manifest()} {
			if err := os.WriteFile(filepath.Join(ws, ".github", name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		in := map[string]string{"command": st.command, "manifest": ".github/mlreg-models.yml", "pr-comment": "never", "deployment": "never"}
		if st.command == "promote" {
			in["expected-plan-digest"] = digest
		}
		code, log, files := runBinary(t, ws, in)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s", st.name, code, log)
		}
		if st.command == "validate" {
			digest = regexp.MustCompile(`plan-digest<<\S+\n(sha256:[0-9a-f]{64})`).FindStringSubmatch(files["outputs"])[1]
		}
		golden(t, st.name+".outputs.golden", normalize(files["outputs"], base))
		golden(t, st.name+".summary.golden", normalize(files["summary"], base))
		golden(t, st.name+".log.golden", normalize(log, base))
	}
}
