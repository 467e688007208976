// Command ghrunner lays out a Docker container step the way GitHub's runner
// does, so `podman run` can play `docker run`, and then checks what the step
// left behind.
//
//	ghrunner env -action action.yml -dir DIR [-with NAME=VALUE]... [-copy WS_PATH=FILE]... [-api-url URL]
//
// creates under DIR the runner's directories (owned by the runner's uid 1001,
// as on a hosted runner):
//
//	DIR/_temp/_github_home          -> /github/home
//	DIR/_temp/_github_workflow      -> /github/workflow (event.json)
//	DIR/_temp/_runner_file_commands -> /github/file_commands (set_output_<id>, step_summary_<id>, ...; mode 0644)
//	DIR/work/repo/repo              -> /github/workspace
//
// writes DIR/env (INPUT_<NAME> for every input given or defaulted by action.yml,
// hyphens kept and upper-cased as the runner does; ${{ github.token }} becomes a
// fake token; GITHUB_*, RUNNER_*, CI), and prints the `podman run` arguments,
// one a line: --env-file, the four -v mounts and --workdir.
//
//	ghrunner check -dir DIR -stdout FILE [-exit N -want-exit N] [-want NAME=VALUE]... [-match NAME=REGEXP]...
//	               [-summary-has TEXT]... [-workspace-file OUTPUT]
//
// parses the step's GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, prints them,
// and checks the expectations; it also checks that no secret input appears in
// the step's stdout (other than in ::add-mask::), outputs or summary. It exits 1
// on any failed check.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The runner's uid and gid on GitHub-hosted Linux runners.
const runnerUID, runnerGID = 1001, 1001

// fakeToken stands for ${{ github.token }}; check makes sure it never leaks.
const fakeToken = "ghs_ghrunnerFakeToken0000000000000000000"

type kvList []string

func (l *kvList) String() string     { return strings.Join(*l, ",") }
func (l *kvList) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "env":
		err = envCmd(os.Args[2:])
	case "check":
		err = checkCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ghrunner: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ghrunner env -action action.yml -dir DIR [-with K=V]... | ghrunner check -dir DIR -stdout FILE [...]")
	os.Exit(2)
}

type actionInput struct {
	Description string  `yaml:"description"`
	Required    bool    `yaml:"required"`
	Default     *string `yaml:"default"`
}

type actionMeta struct {
	Inputs map[string]actionInput `yaml:"inputs"`
}

// inputEnv is the runner's name for an input's variable: spaces become
// underscores, the name is upper-cased, hyphens stay.
func inputEnv(name string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(name, " ", "_"))
}

var dirs = map[string]string{
	"_temp/_github_home":          "/github/home",
	"_temp/_github_workflow":      "/github/workflow",
	"_temp/_runner_file_commands": "/github/file_commands",
	"work/repo/repo":              "/github/workspace",
}

func envCmd(args []string) error {
	var with, copies kvList
	flags := flag.NewFlagSet("ghrunner env", flag.ContinueOnError)
	actionPath := flags.String("action", "action.yml", "action metadata")
	dir := flags.String("dir", "", "runner directory to create")
	apiURL := flags.String("api-url", "http://127.0.0.1:9", "GITHUB_API_URL (default: a closed loopback port, so nothing leaves the machine)")
	flags.Var(&with, "with", "an input as in a step's with: NAME=VALUE (repeatable)")
	flags.Var(&copies, "copy", "copy a file into the workspace: WS_PATH=FILE (repeatable)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("failed to parse flags: -dir is required")
	}
	b, err := os.ReadFile(*actionPath)
	if err != nil {
		return fmt.Errorf("failed to read action metadata: %w", err)
	}
	var meta actionMeta
	if err := yaml.Unmarshal(b, &meta); err != nil {
		return fmt.Errorf("failed to parse %s: %w", *actionPath, err)
	}

	// Inputs: what the step gives, else the metadata's default, as the runner evaluates it.
	given := map[string]string{}
	for _, kv := range with {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("failed to parse -with %q: want NAME=VALUE", kv)
		}
		if _, declared := meta.Inputs[k]; !declared {
			return fmt.Errorf("failed to set input %q: action.yml does not declare it (the runner warns and passes it anyway; the action would ignore it)", k)
		}
		given[k] = v
	}
	env := map[string]string{}
	for name, in := range meta.Inputs {
		v, ok := given[name]
		if !ok && in.Default != nil {
			v, ok = *in.Default, true
			if strings.Contains(v, "${{") {
				if strings.ReplaceAll(v, " ", "") != "${{github.token}}" {
					return fmt.Errorf("failed to evaluate default %q of input %s: only ${{ github.token }} is supported", v, name)
				}
				v = fakeToken
			}
		}
		if ok {
			env[inputEnv(name)] = v
		}
	}
	for k, v := range map[string]string{
		"HOME": "/github/home", "CI": "true", "GITHUB_ACTIONS": "true",
		"GITHUB_JOB": "promote", "GITHUB_REF": "refs/heads/main", "GITHUB_REF_NAME": "main", "GITHUB_REF_TYPE": "branch",
		"GITHUB_REF_PROTECTED": "false", "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
		"GITHUB_REPOSITORY": "acme/models", "GITHUB_REPOSITORY_OWNER": "acme", "GITHUB_REPOSITORY_ID": "1",
		"GITHUB_RUN_ID": "4242", "GITHUB_RUN_NUMBER": "7", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_RETENTION_DAYS": "90",
		"GITHUB_ACTOR": "octocat", "GITHUB_ACTOR_ID": "1", "GITHUB_TRIGGERING_ACTOR": "octocat",
		"GITHUB_WORKFLOW": "promote", "GITHUB_WORKFLOW_REF": "acme/models/.github/workflows/promote.yml@refs/heads/main",
		"GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_EVENT_PATH": "/github/workflow/event.json",
		"GITHUB_SERVER_URL": "https://github.com", "GITHUB_API_URL": *apiURL, "GITHUB_GRAPHQL_URL": *apiURL + "/graphql",
		"GITHUB_WORKSPACE": "/github/workspace", "GITHUB_ACTION": "mlreg", "GITHUB_ACTION_REPOSITORY": "mlreg/mlreg-action",
		"GITHUB_ACTION_REF": "v1", "GITHUB_HEAD_REF": "", "GITHUB_BASE_REF": "",
		"RUNNER_OS": "Linux", "RUNNER_ARCH": "X64", "RUNNER_NAME": "GitHub Actions 1", "RUNNER_ENVIRONMENT": "github-hosted",
		"RUNNER_TEMP": "/home/runner/work/_temp", "RUNNER_TOOL_CACHE": "/opt/hostedtoolcache", "RUNNER_WORKSPACE": "/home/runner/work/repo",
	} {
		env[k] = v
	}
	for name, file := range map[string]string{
		"GITHUB_OUTPUT": "set_output", "GITHUB_STEP_SUMMARY": "step_summary", "GITHUB_ENV": "set_env",
		"GITHUB_PATH": "add_path", "GITHUB_STATE": "save_state",
	} {
		env[name] = "/github/file_commands/" + file + "_6f1b3a52-5d0e-4a51-9c3e-0b4f2d7e8a91"
	}

	for rel := range dirs {
		if err := os.MkdirAll(filepath.Join(*dir, rel), 0o755); err != nil {
			return fmt.Errorf("failed to create runner directory: %w", err)
		}
	}
	for _, name := range []string{"GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STATE"} {
		if err := os.WriteFile(hostPath(*dir, env[name]), nil, 0o644); err != nil {
			return fmt.Errorf("failed to create file command %s: %w", name, err)
		}
	}
	event := `{"inputs":{},"ref":"refs/heads/main","repository":{"full_name":"acme/models","name":"models","owner":{"login":"acme"}},"sender":{"login":"octocat"}}`
	if err := os.WriteFile(filepath.Join(*dir, "_temp/_github_workflow/event.json"), []byte(event+"\n"), 0o644); err != nil {
		return fmt.Errorf("failed to write event payload: %w", err)
	}
	for _, kv := range copies {
		rel, src, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("failed to parse -copy %q: want WS_PATH=FILE", kv)
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("failed to read %s: %w", src, err)
		}
		dst := filepath.Join(*dir, "work/repo/repo", filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("failed to create %s: %w", filepath.Dir(dst), err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return fmt.Errorf("failed to write %s: %w", dst, err)
		}
	}
	// Everything belongs to the runner's user, as on a hosted runner.
	if err := filepath.WalkDir(*dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, runnerUID, runnerGID)
	}); err != nil {
		return fmt.Errorf("failed to chown the runner directory to %d:%d: %w", runnerUID, runnerGID, err)
	}

	var lines []string
	for k, v := range env {
		if strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("failed to write %s: podman's --env-file takes no multi-line values", k)
		}
		lines = append(lines, k+"="+v)
	}
	sort.Strings(lines)
	envFile := filepath.Join(*dir, "env")
	if err := os.WriteFile(envFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return fmt.Errorf("failed to write env file: %w", err)
	}
	fmt.Println("--env-file=" + envFile)
	var mounts []string
	for rel, ctr := range dirs {
		mounts = append(mounts, "--volume="+filepath.Join(*dir, rel)+":"+ctr)
	}
	sort.Strings(mounts)
	fmt.Println(strings.Join(mounts, "\n"))
	fmt.Println("--workdir=/github/workspace")
	return nil
}

// hostPath maps a /github/... path in the container to DIR.
func hostPath(dir, ctr string) string {
	for rel, c := range dirs {
		if rest, ok := strings.CutPrefix(ctr, c+"/"); ok {
			return filepath.Join(dir, rel, filepath.FromSlash(rest))
		}
	}
	return ""
}

func readEnv(dir string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		return nil, fmt.Errorf("failed to read env file: %w", err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		env[k] = v
	}
	return env, nil
}

// parseFileCommand reads the runner's key<<DELIM ... DELIM and key=value format.
func parseFileCommand(b []byte) (map[string]string, []string, error) {
	out := map[string]string{}
	var order []string
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if line == "" {
			continue
		}
		if name, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(name, "=") {
			var val []string
			closed := false
			for i++; i < len(lines); i++ {
				if lines[i] == delim {
					closed = true
					break
				}
				val = append(val, lines[i])
			}
			if !closed {
				return nil, nil, fmt.Errorf("failed to parse output %s: no closing delimiter %q", name, delim)
			}
			if _, dup := out[name]; !dup {
				order = append(order, name)
			}
			out[name] = strings.Join(val, "\n")
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, nil, fmt.Errorf("failed to parse output line %q", line)
		}
		if _, dup := out[name]; !dup {
			order = append(order, name)
		}
		out[name] = val
	}
	return out, order, nil
}

func checkCmd(args []string) error {
	var wants, matches, summaryHas kvList
	fs := flag.NewFlagSet("ghrunner check", flag.ContinueOnError)
	dir := fs.String("dir", "", "runner directory made by ghrunner env")
	stdoutPath := fs.String("stdout", "", "the step's captured stdout")
	exit := fs.Int("exit", 0, "the step's exit status")
	wantExit := fs.Int("want-exit", 0, "expected exit status")
	wsFile := fs.String("workspace-file", "", "an output naming a workspace file that must exist and hold JSON")
	fs.Var(&wants, "want", "expected output NAME=VALUE (repeatable)")
	fs.Var(&matches, "match", "expected output NAME=REGEXP (repeatable)")
	fs.Var(&summaryHas, "summary-has", "text the job summary must contain (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	env, err := readEnv(*dir)
	if err != nil {
		return err
	}
	var fails []string
	failf := func(format string, a ...any) { fails = append(fails, fmt.Sprintf(format, a...)) }
	if *exit != *wantExit {
		failf("exit status %d, want %d", *exit, *wantExit)
	}

	outBytes, err := os.ReadFile(hostPath(*dir, env["GITHUB_OUTPUT"]))
	if err != nil {
		return fmt.Errorf("failed to read GITHUB_OUTPUT: %w", err)
	}
	outputs, order, err := parseFileCommand(outBytes)
	if err != nil {
		failf("%v", err)
	}
	fmt.Printf("ghrunner: GITHUB_OUTPUT (%d outputs):\n", len(order))
	for _, k := range order {
		fmt.Printf("    %s=%s\n", k, strconv.Quote(outputs[k]))
	}
	for _, kv := range wants {
		k, v, _ := strings.Cut(kv, "=")
		if got, ok := outputs[k]; !ok || got != v {
			failf("output %s = %q (set: %v), want %q", k, got, ok, v)
		}
	}
	for _, kv := range matches {
		k, re, _ := strings.Cut(kv, "=")
		rx, err := regexp.Compile(re)
		if err != nil {
			return fmt.Errorf("failed to compile -match %q: %w", kv, err)
		}
		if got, ok := outputs[k]; !ok || !rx.MatchString(got) {
			failf("output %s = %q (set: %v), want a match for %s", k, got, ok, re)
		}
	}

	summary, err := os.ReadFile(hostPath(*dir, env["GITHUB_STEP_SUMMARY"]))
	if err != nil {
		return fmt.Errorf("failed to read GITHUB_STEP_SUMMARY: %w", err)
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(summary)), "\n")
	fmt.Printf("ghrunner: GITHUB_STEP_SUMMARY: %d bytes, first line %q\n", len(summary), first)
	for _, s := range summaryHas {
		if !bytes.Contains(summary, []byte(s)) {
			failf("job summary lacks %q", s)
		}
	}

	if *wsFile != "" {
		rel := outputs[*wsFile]
		p := filepath.Join(*dir, "work/repo/repo", filepath.FromSlash(rel))
		b, err := os.ReadFile(p)
		var v any
		switch {
		case rel == "":
			failf("output %s is empty", *wsFile)
		case err != nil:
			failf("output %s = %q: %v", *wsFile, rel, err)
		case json.Unmarshal(b, &v) != nil:
			failf("output %s = %q: not JSON", *wsFile, rel)
		default:
			fmt.Printf("ghrunner: workspace file %s: %d bytes of JSON\n", rel, len(b))
		}
	}

	// No secret input may show up unmasked.
	stdout, err := os.ReadFile(*stdoutPath)
	if err != nil {
		return fmt.Errorf("failed to read stdout: %w", err)
	}
	secrets := []string{fakeToken}
	for k, v := range env {
		if strings.HasPrefix(k, "INPUT_") && v != "" && (strings.HasSuffix(k, "TOKEN") || strings.HasSuffix(k, "PASSWORD") || strings.HasSuffix(k, "URL") && strings.Contains(k, "WEBHOOK")) {
			secrets = append(secrets, v)
		}
	}
	for _, s := range secrets {
		masked := false
		for _, line := range strings.Split(string(stdout), "\n") {
			if line == "::add-mask::"+s {
				masked = true
				continue
			}
			if strings.Contains(line, s) {
				failf("a secret input appears in the step log: %q", line)
			}
		}
		if strings.Contains(env["INPUT_GITHUB-TOKEN"], s) && !masked {
			failf("the github-token input was not masked (no ::add-mask:: line)")
		}
		if bytes.Contains(outBytes, []byte(s)) || bytes.Contains(summary, []byte(s)) {
			failf("a secret input appears in the outputs or the job summary")
		}
	}

	for _, f := range fails {
		fmt.Println("ghrunner: FAIL:", f)
	}
	if len(fails) > 0 {
		return fmt.Errorf("%d check(s) failed", len(fails))
	}
	fmt.Printf("ghrunner: ok: exit %d, %d output(s) checked, summary checked, no secret in log, outputs or summary\n", *exit, len(wants)+len(matches))
	return nil
}
