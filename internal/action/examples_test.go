package action_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The example workflows are what users copy: each must work as written,
// without a warning on every run. actionlint (make lint-action) checks their
// syntax and their use of action.yml; this checks what it cannot know about
// mlreg-action and the actions beside it.

type exampleStep struct {
	Name string            `yaml:"name"`
	Uses string            `yaml:"uses"`
	With map[string]string `yaml:"with"`
}

type exampleJob struct {
	Permissions yaml.Node     `yaml:"permissions"`
	Concurrency yaml.Node     `yaml:"concurrency"`
	Steps       []exampleStep `yaml:"steps"`
}

type exampleWorkflow struct {
	Permissions yaml.Node             `yaml:"permissions"`
	Concurrency yaml.Node             `yaml:"concurrency"`
	Jobs        map[string]exampleJob `yaml:"jobs"`
}

// permissions reads a permissions key: a map of scopes, or read-all /
// write-all; ok is false when the key is absent.
func permissions(n yaml.Node) (scopes map[string]string, ok bool) {
	switch n.Kind {
	case 0:
		return nil, false
	case yaml.ScalarNode:
		all := strings.TrimSuffix(n.Value, "-all")
		return map[string]string{"pull-requests": all, "deployments": all}, true
	}
	scopes = map[string]string{}
	_ = n.Decode(&scopes)
	return scopes, true
}

// concurrency reads a concurrency key: its group and cancel-in-progress.
func concurrency(n yaml.Node) (group, cancel string, ok bool) {
	switch n.Kind {
	case 0:
		return "", "", false
	case yaml.ScalarNode:
		return n.Value, "", true
	}
	var c struct {
		Group  string `yaml:"group"`
		Cancel string `yaml:"cancel-in-progress"`
	}
	_ = n.Decode(&c)
	return c.Group, c.Cancel, true
}

// mlregStep is a step of mlreg-action as the binary reads its inputs.
type mlregStep struct {
	command, prComment, deployment string
	dryRun, ownToken               bool
}

func readMLregStep(s exampleStep) (mlregStep, bool) {
	if !strings.HasPrefix(s.Uses, "mlreg/mlreg-action@") {
		return mlregStep{}, false
	}
	or := func(k, def string) string {
		if v := strings.TrimSpace(s.With[k]); v != "" {
			return v
		}
		return def
	}
	m := mlregStep{command: or("command", "promote"), prComment: or("pr-comment", "auto"), deployment: or("deployment", "auto"),
		dryRun: or("dry-run", "false") == "true"}
	if strings.Contains(m.command, "${{") {
		m.command = "promote" // an expression: it may promote
	}
	tok := or("github-token", "${{ github.token }}")
	m.ownToken = !strings.Contains(tok, "github.token") && !strings.Contains(tok, "secrets.GITHUB_TOKEN")
	return m, true
}

// applies reports whether the step may change the registry.
func (m mlregStep) applies() bool {
	switch m.command {
	case "promote", "rollback", "register":
		return !m.dryRun
	}
	return false
}

func lintExample(wf exampleWorkflow) []string {
	var problems []string
	wfScopes, wfHas := permissions(wf.Permissions)
	applying, other := map[string]bool{}, map[string]bool{}
	for name, job := range wf.Jobs {
		scopes, has := permissions(job.Permissions)
		if !has {
			scopes, has = wfScopes, wfHas
		}
		for _, s := range job.Steps {
			// upload-artifact leaves hidden folders out unless asked (v4.4.0):
			// the report is under .mlreg/.
			if strings.HasPrefix(s.Uses, "actions/upload-artifact@") &&
				(strings.Contains(s.With["path"], ".mlreg") || strings.Contains(s.With["path"], "report-path")) &&
				s.With["include-hidden-files"] != "true" {
				problems = append(problems, fmt.Sprintf("job %s: upload-artifact of the report needs include-hidden-files: true", name))
			}
			m, ok := readMLregStep(s)
			if !ok {
				continue
			}
			if m.applies() {
				applying[name] = true
			} else {
				other[name] = true
			}
			if m.ownToken || !has {
				continue
			}
			if m.prComment != "never" && m.command != "history" && scopes["pull-requests"] != "write" {
				problems = append(problems, fmt.Sprintf("job %s: %s with pr-comment %s needs permissions: pull-requests: write (or pr-comment: never)",
					name, m.command, m.prComment))
			}
			if m.deployment != "never" && (m.command == "promote" || m.command == "rollback") && !m.dryRun && scopes["deployments"] != "write" {
				problems = append(problems, fmt.Sprintf("job %s: %s with deployment %s needs permissions: deployments: write (or deployment: never)",
					name, m.command, m.deployment))
			}
		}
	}
	// A queued run cancels the pending run of its concurrency group: a job
	// that changes the registry must not share one with a job that does
	// not, and must not be cancelled in progress.
	if _, _, ok := concurrency(wf.Concurrency); ok && len(applying) > 0 && len(other) > 0 {
		problems = append(problems, "workflow-level concurrency groups the runs that apply with the runs that only read: give each job its own group")
	}
	groups := map[string]string{}
	for name := range other {
		if g, _, ok := concurrency(wf.Jobs[name].Concurrency); ok {
			groups[g] = name
		}
	}
	for name := range applying {
		g, cancel, ok := concurrency(wf.Jobs[name].Concurrency)
		switch {
		case !ok:
		case cancel == "true":
			problems = append(problems, fmt.Sprintf("job %s applies: cancel-in-progress must be false", name))
		case groups[g] != "":
			problems = append(problems, fmt.Sprintf("job %s applies in the concurrency group of job %s, which can cancel it", name, groups[g]))
		}
	}
	return problems
}

func TestExampleWorkflows(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob("../../examples/workflows/*.yml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no example workflows (%v)", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var wf exampleWorkflow
		if err := yaml.Unmarshal(b, &wf); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, problem := range lintExample(wf) {
			t.Errorf("%s: %s", filepath.Base(p), problem)
		}
	}
}
