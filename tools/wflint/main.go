// Command wflint lints the action's metadata and the workflows that use it with
// actionlint (github.com/rhysd/actionlint), used as a library.
//
//	wflint -action action.yml workflow.yml...
//
// actionlint checks workflows, not action metadata, so wflint does three things:
//
//  1. It parses action.yml with actionlint's own metadata types (unknown keys of
//     an input, duplicate inputs or outputs are errors there).
//  2. It lints a generated workflow that runs the action as a local action
//     (`uses: ./`), which makes actionlint check the metadata file itself:
//     name, description, branding, and `runs` for a Docker action.
//  3. It registers action.yml as the metadata of `mlreg/mlreg-action@<ref>` for
//     every ref the workflows use, so their `with:` keys, required inputs and
//     `steps.<id>.outputs.<name>` references are checked against it.
//
// It prints actionlint's errors and exits 1 when there is any. When shellcheck
// is on PATH, `run:` scripts are checked too.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/rhysd/actionlint"
	"go.yaml.in/yaml/v4"
)

const actionRepo = "mlreg/mlreg-action"

var usesRE = regexp.MustCompile(`uses:\s*['"]?(` + regexp.QuoteMeta(actionRepo) + `@[^\s'"#]+)`)

func main() {
	fs := flag.NewFlagSet("wflint", flag.ContinueOnError)
	actionPath := fs.String("action", "action.yml", "the action's metadata file")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	n, err := run(*actionPath, fs.Args())
	if err != nil {
		fmt.Fprintf(os.Stderr, "wflint: %v\n", err)
		os.Exit(2)
	}
	if n > 0 {
		fmt.Printf("wflint: %d problem(s)\n", n)
		os.Exit(1)
	}
	fmt.Printf("wflint: %s and %d workflow(s): no problems (actionlint %s)\n", *actionPath, len(fs.Args()), actionlintVersion())
}

func run(actionPath string, workflows []string) (int, error) {
	meta, err := loadMetadata(actionPath)
	if err != nil {
		return 0, err
	}
	// 3: check uses of the published action against this metadata.
	for _, wf := range workflows {
		b, err := os.ReadFile(wf)
		if err != nil {
			return 0, fmt.Errorf("failed to read %s: %w", wf, err)
		}
		for _, m := range usesRE.FindAllSubmatch(b, -1) {
			actionlint.PopularActions[string(m[1])] = meta
		}
	}

	opts := &actionlint.LinterOptions{Color: actionlint.ColorOptionKindNever}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		opts.Shellcheck = sc
	}
	l, err := actionlint.NewLinter(os.Stdout, opts)
	if err != nil {
		return 0, fmt.Errorf("failed to create linter: %w", err)
	}

	// 2: lint a workflow that uses the action locally.
	root, err := filepath.Abs(filepath.Dir(actionPath))
	if err != nil {
		return 0, fmt.Errorf("failed to resolve %s: %w", actionPath, err)
	}
	proj, err := actionlint.NewProject(root)
	if err != nil {
		return 0, fmt.Errorf("failed to open project at %s: %w", root, err)
	}
	synthetic := filepath.Join(root, ".github", "workflows", "wflint-local-action.yml")
	errs, err := l.Lint(synthetic, localUseWorkflow(meta), proj)
	if err != nil {
		return 0, fmt.Errorf("failed to lint the local use of %s: %w", actionPath, err)
	}
	count := len(errs)

	// The workflows themselves.
	if len(workflows) > 0 {
		errs, err := l.LintFiles(workflows, nil)
		if err != nil {
			return 0, fmt.Errorf("failed to lint workflows: %w", err)
		}
		count += len(errs)
	}
	return count, nil
}

// loadMetadata parses action.yml the way actionlint parses local actions.
func loadMetadata(path string) (*actionlint.ActionMetadata, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", path, err)
	}
	var meta actionlint.ActionMetadata
	if err := yaml.Unmarshal(b, &meta); err != nil {
		return nil, fmt.Errorf("failed to parse %s as action metadata: %w", path, err)
	}
	if len(meta.Inputs) == 0 || len(meta.Outputs) == 0 {
		return nil, fmt.Errorf("failed to find inputs and outputs in %s", path)
	}
	return &meta, nil
}

// localUseWorkflow is a workflow that runs the action from the repository root
// with its required inputs and reads every output.
func localUseWorkflow(meta *actionlint.ActionMetadata) []byte {
	var with, env []string
	for _, in := range meta.Inputs {
		if in.Required {
			with = append(with, fmt.Sprintf("          %s: x", in.Name))
		}
	}
	for _, out := range meta.Outputs {
		key := strings.ToUpper(strings.ReplaceAll(out.Name, "-", "_"))
		env = append(env, fmt.Sprintf("          %s: ${{ steps.mlreg.outputs.%s }}", key, out.Name))
	}
	sort.Strings(with)
	sort.Strings(env)
	var b bytes.Buffer
	b.WriteString("name: wflint local action\non: workflow_dispatch\npermissions: {}\njobs:\n  use:\n    runs-on: ubuntu-latest\n    steps:\n")
	b.WriteString("      - id: mlreg\n        uses: ./\n")
	if len(with) > 0 {
		b.WriteString("        with:\n" + strings.Join(with, "\n") + "\n")
	}
	b.WriteString("      - run: 'true'\n        env:\n" + strings.Join(env, "\n") + "\n")
	return b.Bytes()
}

// actionlintVersion is the linked module's version, from the build info.
func actionlintVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/rhysd/actionlint" {
				return d.Version
			}
		}
	}
	return "(unknown version)"
}
