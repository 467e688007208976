package notify_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/fleet"
	"github.com/mlreg/mlreg-action/internal/manifest"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/notify"
	"github.com/mlreg/mlreg-action/internal/outcome"
	"github.com/mlreg/mlreg-action/internal/promote"
)

// fleetEntry is an entry of a fleet plan: a change (with its single
// promotion's plan) when holder differs from desired, else unchanged.
func fleetEntry(model, kind string, target checks.Target, holder, desired string, line int, verdict string) *fleet.Entry {
	e := &fleet.Entry{Model: model, Kind: kind, Target: target, Holder: holder, Desired: desired,
		Pos: manifest.Pos{Line: line, Column: 17}, Status: fleet.StatusUnchanged}
	if holder == desired {
		return e
	}
	p := basePlan()
	p.Model, p.Candidate.Version, p.Verdict = model, desired, verdict
	p.Targets = []promote.TargetPlan{{Target: target, Current: holder}}
	p.Champion = &promote.VersionRef{Version: holder}
	if holder == "" {
		p.Champion = nil
	}
	p.Prompt = kind == manifest.KindPrompt
	if verdict == checks.VerdictFail {
		p.Checks = []checks.Check{
			{Rule: "production gate", Kind: checks.KindMetric, Name: "val_auc", Value: "0.871", Bound: ">= 0.9", Status: checks.StatusFail, Reason: "0.871 < min 0.9"},
			p.Checks[4],
		}
	} else {
		p.Checks = p.Checks[:2]
	}
	e.Status, e.Verdict, e.Plan = fleet.StatusChange, verdict, p
	return e
}

// fleetPlan is a manifest of 9 entries: a passing change of a model, a
// change failing the policy, a prompt's first deploy, a version that does
// not exist, and five entries in place.
func fleetPlan(hostileName bool) *fleet.FleetPlan {
	name := "fraud-model"
	if hostileName {
		name = hostile
	}
	es := []*fleet.Entry{
		fleetEntry(name, manifest.KindModel, checks.AliasTarget("champion"), "15", "16", 8, checks.VerdictPass),
		fleetEntry(name, manifest.KindModel, checks.AliasTarget("challenger"), "16", "16", 9, ""),
		fleetEntry(name, manifest.KindModel, checks.StageTarget("Production"), "14", "16", 11, checks.VerdictFail),
		fleetEntry("support-prompt", manifest.KindPrompt, checks.AliasTarget("production"), "", "4", 15, checks.VerdictPass),
		{Model: "churn", Kind: manifest.KindModel, Target: checks.AliasTarget("champion"), Desired: "9", Pos: manifest.Pos{Line: 18, Column: 17},
			Status: fleet.StatusError, Err: errors.New(".github/mlreg-models.yml:18:17: churn v9 does not exist (RESOURCE_DOES_NOT_EXIST)")},
	}
	for i := range 4 {
		es = append(es, fleetEntry(fmt.Sprintf("ranker-%d", i), manifest.KindModel, checks.AliasTarget("champion"), "3", "3", 20+i, ""))
	}
	return &fleet.FleetPlan{Manifest: ".github/mlreg-models.yml", PolicyFile: ".github/mlreg-policy.yml", PolicyDigest: polDig,
		Entries: es, Digest: digest}
}

func fleetReport(command string, o outcome.Outcome, fp *fleet.FleetPlan, res *fleet.Result) *notify.Report {
	return &notify.Report{Command: command, Outcome: o, PlanDigest: fp.Digest, TrackingURI: tracking,
		Links: notify.Links{WorkflowRun: runURL}, Body: &notify.Fleet{Manifest: fp.Manifest, Plan: fp, Result: res,
			VersionURL: mlflow.Rules{UI: tracking}.VersionURL, Moves: command == "promote"}}
}

// fleetReports are the manifest reports every rendering is checked on.
func fleetReports() map[string]*notify.Report {
	out := map[string]*notify.Report{}
	fp := fleetPlan(false)
	validate := fleetReport("validate", outcome.Blocked, fp, nil)
	validate.Error = "policy not met: 1 of 3 changes of .github/mlreg-models.yml fail the policy, nothing is applied"
	out["manifest-validate"] = validate

	// promote of a plan without the failing and the error entries: one
	// promoted, one conflict.
	fp = fleetPlan(false)
	fp.Entries = append(fp.Entries[:2], append([]*fleet.Entry{fp.Entries[3]}, fp.Entries[5:]...)...)
	res := &fleet.Result{Plan: fp, Entries: make([]fleet.EntryResult, len(fp.Entries))}
	for i, e := range fp.Entries {
		res.Entries[i].Outcome = e.PlanOutcome()
	}
	res.Entries[0] = fleet.EntryResult{Outcome: outcome.Promoted, Changed: true,
		Promote: &promote.Outcome{Changed: true, Moves: []string{"@champion: v15 → v16"}, Previous: map[string]string{"@champion": "15"}}}
	res.Entries[2] = fleet.EntryResult{Outcome: outcome.Conflict,
		Err: fmt.Errorf("%w: @production is v2, plan expected none", promote.ErrConflict)}
	promoted := fleetReport("promote", outcome.Failed, fp, res)
	promoted.Body.(*notify.Fleet).Reviewed = "sha256:" + strings.Repeat("0ddba11c", 8)
	promoted.Error = "failed to apply 1 of 7 entries of .github/mlreg-models.yml; the other entries are in place, and a rerun completes what is left"
	out["manifest-promote"] = promoted

	out["manifest-hostile"] = fleetReport("validate", outcome.Blocked, fleetPlan(true), nil)
	return out
}

// TestFleetMarkdownGolden: the PR comment (marker first) and the job
// summary of a manifest run: the changes first, each with its checks,
// the unchanged entries counted and folded.
func TestFleetMarkdownGolden(t *testing.T) {
	t.Parallel()
	for name, r := range fleetReports() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			comment := r.CommentBody()
			checkMarkdownSafe(t, comment)
			if name == "manifest-hostile" {
				return // checked for its safety only
			}
			if !strings.HasPrefix(comment, "<!-- mlreg-action manifest=.github/mlreg-models.yml -->\n") {
				t.Errorf("comment does not start with the manifest's marker: %q", strings.SplitN(comment, "\n", 2)[0])
			}
			golden(t, name+".comment.md", comment)
			golden(t, name+".summary.md", r.Markdown())
		})
	}
}

func TestFleetSlackGolden(t *testing.T) {
	t.Parallel()
	for name, r := range fleetReports() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			blocks := r.SlackBlocks()
			checkSlackSafe(t, r.SlackText(), blocks)
			if name != "manifest-hostile" {
				golden(t, name+".slack.json", slackJSON(t, r.SlackText(), blocks))
			}
		})
	}
}

// TestFleetMarkdownOrder: the table of changes comes before any check
// table, and the unchanged entries after them, folded.
func TestFleetMarkdownOrder(t *testing.T) {
	t.Parallel()
	md := fleetReports()["manifest-validate"].Markdown()
	table := strings.Index(md, "| Model | Target | Change | Verdict | Outcome |")
	checksAt := strings.Index(md, "| | Rule | Check |")
	folded := strings.Index(md, "<details><summary>5 unchanged entries</summary>")
	if table < 0 || checksAt < 0 || folded < 0 || !(table < checksAt && checksAt < folded) {
		t.Errorf("order: changes table at %d, first checks at %d, unchanged at %d\n%s", table, checksAt, folded, md)
	}
	for _, want := range []string{
		"| fraud-model | stage Production | `v14 → v16` | ❌ fail | blocked by policy | val\\_auc 0.871 \\(&gt;= 0.9\\) |",
		"| prompt support-prompt | &#64;production | `none → v4` | ✅ pass | would promote |  |",
		"| churn | &#64;champion | `none → v9` | ⚠️ error | error | .github/mlreg-models.yml:18:17: churn v9 does not exist",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the table lacks %q:\n%s", want, md)
		}
	}
}

// TestFleetManyEntries: a manifest of 400 changes stays within GitHub's
// comment limit and Slack's block limits.
func TestFleetManyEntries(t *testing.T) {
	t.Parallel()
	var es []*fleet.Entry
	for i := range 400 {
		es = append(es, fleetEntry(fmt.Sprintf("model-%03d-%s", i, strings.Repeat("x", 60)), manifest.KindModel,
			checks.AliasTarget("champion"), "1", "2", i+3, checks.VerdictPass))
	}
	for i := range 400 {
		es = append(es, fleetEntry(fmt.Sprintf("kept-%03d", i), manifest.KindModel, checks.AliasTarget("champion"), "1", "1", i+3, ""))
	}
	fp := &fleet.FleetPlan{Manifest: "m.yml", Entries: es, Digest: digest}
	r := fleetReport("validate", outcome.WouldChange, fp, nil)
	md := r.CommentBody()
	checkMarkdownSafe(t, md)
	if !strings.Contains(md, "more changes") || !strings.Contains(md, "400 unchanged entries") {
		t.Errorf("a long report does not count what it leaves out")
	}
	checkSlackSafe(t, r.SlackText(), r.SlackBlocks())
}
