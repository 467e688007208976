package notify_test

import (
	"cmp"
	"encoding/json"
	"flag"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/notify"
	"github.com/mlreg/mlreg-action/internal/outcome"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/testing/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/notify")

const (
	tracking = "https://mlflow.example.com"
	runURL   = "https://github.com/acme/models/actions/runs/4242"
	digest   = "sha256:5d41402abc4b2a76b9719d911017c592ae2b1a9e0a4f3c7b8d6e5f4a3b2c1d0e"
	polDig   = "sha256:9e107d9d372bb6826bd81d3542a419d6e277d4d731479571562f82e3a1b2c3d4"
)

// hostile is every kind of text that has broken reports elsewhere.
const hostile = `"quoted" 'single'` + "\nsecond line\r\n\ttab " +
	`<!channel> <!here> @here @channel @everyone <@U0123> *bold* _italic_ ~strike~ ` + "`code` ```block```" +
	` a | pipe | in a table <script>alert(1)</script> <b>html</b> &amp; [link](https://evil.example) ` +
	`https://evil.example <https://evil.example|click me> #1 {{.}} $x \ 名前 Модель نموذج 🚀🔥👍🏽 ` + "\u202Edesrever\u202C \x1b[31mred"

func f(v float64) *float64 { return &v }

func basePlan() *promote.Plan {
	return &promote.Plan{
		Model:     "fraud-model",
		Candidate: promote.VersionRef{Version: "15", RunID: "a1b2c3d4e5f60718293a4b5c6d7e8f90", Source: "mlflow-artifacts:/1/a1b2/artifacts/model", Status: "READY"},
		Champion:  &promote.VersionRef{Version: "12", RunID: "0f1e2d3c4b5a69788796a5b4c3d2e1f0"},
		Targets:   []promote.TargetPlan{{Target: checks.AliasTarget("champion"), Current: "12"}},
		Verdict:   checks.VerdictPass,
		Rules:     []string{"production gate"},
		Checks: []checks.Check{
			{Rule: "production gate", Kind: checks.KindMetric, Name: "val_auc", Value: "0.951", Bound: ">= 0.9", Status: checks.StatusPass, CandidateNum: f(0.951)},
			{Rule: "production gate", Kind: checks.KindVsChampion, Name: "val_auc", Value: "0.951", Bound: "delta >= +0.002", Champion: "0.931", Delta: "+0.02", Status: checks.StatusPass, CandidateNum: f(0.951), ChampionNum: f(0.931)},
			{Rule: "production gate", Kind: checks.KindMetric, Name: "latency_p95_ms (dataset holdout, max)", Value: "31.5", Bound: "<= 40", Status: checks.StatusPass, CandidateNum: f(31.5)},
			{Rule: "production gate", Kind: checks.KindVsChampion, Name: "latency_p95_ms (dataset holdout, max)", Value: "31.5", Bound: "delta <= +1", Champion: "35", Delta: "-3.5", Status: checks.StatusPass, CandidateNum: f(31.5), ChampionNum: f(35)},
			{Rule: "production gate", Kind: checks.KindTag, Name: "dataset_version", Value: "2026-11", Bound: "present", Status: checks.StatusPass},
			{Rule: "production gate", Kind: checks.KindRunStatus, Name: "run status", Value: "FINISHED", Bound: "= FINISHED", Status: checks.StatusPass},
			{Rule: "production gate", Kind: checks.KindRunAge, Name: "run age", Value: "1h", Bound: "<= 168h", Status: checks.StatusPass},
		},
		PolicyFile:   ".github/mlreg-policy.yml",
		PolicyDigest: polDig,
		Digest:       digest,
	}
}

// report is the report of a promote run (with a Promotion body, see
// promotion) whose plan is p, nil when it stopped before planning.
func report(p *promote.Plan, o outcome.Outcome) *notify.Report {
	r := &notify.Report{
		Command: "promote", Outcome: o, Body: &notify.Promotion{Plan: p, Moves: true}, Model: "fraud-model",
		Target: checks.AliasTarget("champion"), TrackingURI: tracking, Links: notify.Links{WorkflowRun: runURL},
	}
	if p != nil {
		r.PlanDigest = p.Digest
		r.Model = p.Model
		r.Target = targetOf(p)
		r.Links.Version = mlflow.Rules{UI: tracking}.VersionURL(p.Model, p.Candidate.Version, false)
		r.Links.Run = notify.RunURL(tracking, p.Candidate.RunID)
	}
	return r
}

// promotion is the body of a report made by report.
func promotion(r *notify.Report) *notify.Promotion { return r.Body.(*notify.Promotion) }

// targetOf is the target of a plan's targets together, as the action's
// inputs give it.
func targetOf(p *promote.Plan) checks.Target {
	var t checks.Target
	for _, tp := range p.Targets {
		t.Alias = cmp.Or(t.Alias, tp.Alias)
		t.Stage = cmp.Or(t.Stage, tp.Stage)
	}
	return t
}

// reports are the cases every rendering is checked on.
func reports() map[string]*notify.Report {
	out := map[string]*notify.Report{}

	promoted := report(basePlan(), outcome.Promoted)
	promotion(promoted).Applied = &promote.Outcome{Changed: true, Moves: []string{"@champion: v12 → v15"}, Previous: map[string]string{"@champion": "12"}}
	out["promoted"] = promoted

	p := basePlan()
	p.Champion = nil
	p.Targets[0].Current = ""
	p.Checks = []checks.Check{
		p.Checks[0],
		{Rule: "production gate", Kind: checks.KindVsChampion, Name: "val_auc", Value: "0.951", Bound: "delta >= +0.002", Status: checks.StatusPass, Reason: "first deploy: no version holds @champion", CandidateNum: f(0.951)},
	}
	out["first-deploy"] = report(p, outcome.Promoted)

	p = basePlan()
	p.Verdict = checks.VerdictFail
	p.Checks[0] = checks.Check{Rule: "production gate", Kind: checks.KindMetric, Name: "val_auc", Value: "0.871", Bound: ">= 0.9", Status: checks.StatusFail, Reason: "0.871 < min 0.9", CandidateNum: f(0.871)}
	p.Checks[1] = checks.Check{Rule: "production gate", Kind: checks.KindVsChampion, Name: "val_auc", Value: "0.871", Bound: "delta >= +0.002", Champion: "0.931", Delta: "-0.06", Status: checks.StatusFail, Reason: "regressed by 0.06", CandidateNum: f(0.871), ChampionNum: f(0.931)}
	p.Checks[4] = checks.Check{Rule: "production gate", Kind: checks.KindTag, Name: "dataset_version", Bound: "present", Status: checks.StatusFail, Reason: "tag not set"}
	p.Checks = append(p.Checks, checks.Check{Rule: "production gate", Kind: checks.KindMetric, Name: "f1", Value: "missing", Bound: ">= 0.5", Status: checks.StatusSkip, Reason: "candidate has no metric f1 (on-missing-metric: skip)"})
	blocked := report(p, outcome.Blocked)
	blocked.Error = "policy not met: fraud-model v15 for @champion: val_auc 0.871 >= 0.9 (0.871 < min 0.9)"
	out["blocked"] = blocked

	// NaN and infinities, with the reasons checks.Evaluate gives them.
	p = basePlan()
	p.Verdict = checks.VerdictFail
	p.Checks = []checks.Check{
		{Rule: "production gate", Kind: checks.KindMetric, Name: "val_auc", Value: "NaN", Bound: ">= 0.9", Status: checks.StatusFail, Reason: "val_auc is NaN"},
		{Rule: "production gate", Kind: checks.KindVsChampion, Name: "val_auc", Value: "NaN", Bound: "delta >= +0.002", Champion: "0.931", Status: checks.StatusFail,
			Reason: "val_auc is NaN", ChampionNum: f(0.931)},
		{Rule: "production gate", Kind: checks.KindMetric, Name: "latency_p95_ms (dataset holdout, max)", Value: "+Inf", Bound: "<= 40", Status: checks.StatusFail,
			Reason: "max of latency_p95_ms (dataset holdout) is +Inf (its history holds +Inf)"},
		{Rule: "production gate", Kind: checks.KindMetric, Name: "val_loss", Value: "0.21", Bound: "<= 0.25", Status: checks.StatusPass, CandidateNum: f(0.21)},
		{Rule: "production gate", Kind: checks.KindVsChampion, Name: "val_loss", Value: "0.21", Bound: "delta <= +0.001", Champion: "-Inf", Status: checks.StatusFail,
			Reason: "champion v12 val_loss is -Inf", CandidateNum: f(0.21)},
	}
	nonFinite := report(p, outcome.Blocked)
	nonFinite.Error = "policy not met: fraud-model v15 for @champion: val_auc NaN >= 0.9 (val_auc is NaN)"
	out["non-finite"] = nonFinite

	p = basePlan()
	p.Targets[0] = promote.TargetPlan{Target: checks.AliasTarget("champion"), Current: "15", InPlace: true}
	p.Champion = nil
	for i := range p.Checks {
		if p.Checks[i].Kind == checks.KindVsChampion {
			p.Checks[i].Status, p.Checks[i].Reason, p.Checks[i].Champion, p.Checks[i].Delta, p.Checks[i].ChampionNum = checks.StatusSkip, "the candidate already holds the target", "", "", nil
		}
	}
	inPlace := report(p, outcome.InPlace)
	promotion(inPlace).Applied = &promote.Outcome{Previous: map[string]string{"@champion": "15"}}
	out["in-place"] = inPlace

	errRep := report(nil, outcome.Failed)
	errRep.Error = "failed to resolve latest version of \"fraud-model\": 403 PERMISSION_DENIED"
	out["registry-error"] = errRep

	p = basePlan()
	p.Targets = append(p.Targets, promote.TargetPlan{Target: checks.StageTarget("Production"), Current: "11"})
	out["alias-and-stage-dry-run"] = func() *notify.Report {
		r := report(p, outcome.WouldChange)
		r.DryRun = true
		promotion(r).Moves = false
		return r
	}()

	// Hostile registry text everywhere it can appear, and a 5,000-character value.
	p = basePlan()
	p.Model = "fraud" + hostile
	p.Rules = []string{"gate " + hostile}
	long := strings.Repeat("A very long description from the registry & <more>. ", 100)[:5000]
	p.Checks = append(p.Checks,
		checks.Check{Rule: "gate " + hostile, Kind: checks.KindTag, Name: "note " + hostile, Value: hostile, Bound: "= " + hostile, Status: checks.StatusFail, Reason: "tag is " + hostile},
		checks.Check{Rule: "gate", Kind: checks.KindTag, Name: "description", Value: long, Bound: "present", Status: checks.StatusPass},
		checks.Check{Rule: "gate", Kind: checks.KindMetric, Name: "métrique_名前 \"x\"", Value: "0.5", Bound: ">= 0.1", Status: checks.StatusPass, CandidateNum: f(0.5)},
	)
	p.Verdict = checks.VerdictFail
	h := report(p, outcome.Blocked)
	h.Error = "error " + hostile + " " + long
	out["hostile"] = h

	// A prompt of MLflow's Prompt Registry: the reports say "prompt" and link its prompt page.
	p = &promote.Plan{
		Model:     "support-prompt",
		Prompt:    true,
		Candidate: promote.VersionRef{Version: "4", Source: "dummy-source", Status: "READY"},
		Champion:  &promote.VersionRef{Version: "3", Source: "dummy-source"},
		Targets:   []promote.TargetPlan{{Target: checks.AliasTarget("production"), Current: "3"}},
		Verdict:   checks.VerdictPass,
		Rules:     []string{"prompt to production"},
		Checks: []checks.Check{
			{Rule: "prompt to production", Kind: checks.KindSource, Name: "require-source", Value: "@staging", Bound: "@staging", Status: checks.StatusPass},
			{Rule: "prompt to production", Kind: checks.KindTag, Name: "reviewed", Value: "true", Bound: "= true", Status: checks.StatusPass},
		},
		PolicyFile:   ".github/mlreg-policy.yml",
		PolicyDigest: polDig,
		Digest:       digest,
	}
	prompt := report(p, outcome.Promoted)
	prompt.Links.Version = mlflow.Rules{UI: tracking}.VersionURL(p.Model, p.Candidate.Version, true)
	promotion(prompt).Applied = &promote.Outcome{Changed: true, Moves: []string{"@production: v3 → v4"}, Previous: map[string]string{"@production": "3"}}
	out["prompt-promoted"] = prompt

	// Many checks: the Slack message must stay within 50 blocks.
	p = basePlan()
	p.Checks = nil
	for i := range 400 {
		p.Checks = append(p.Checks, checks.Check{Rule: "r", Kind: checks.KindTag, Name: "tag_" + strings.Repeat("x", 40) + string(rune('a'+i%26)),
			Value: strings.Repeat("v&", 30), Bound: "present", Status: checks.StatusPass, Reason: strings.Repeat("<&>", 60)})
	}
	out["many-checks"] = report(p, outcome.Promoted)
	return out
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	testutil.Golden(t, filepath.Join("..", "..", "testdata", "notify", name), got, *update, "go test ./internal/notify -update")
}

func TestMarkdownGolden(t *testing.T) {
	t.Parallel()
	for name, r := range reports() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			md := r.CommentBody()
			if name != "many-checks" { // checked for its limits only
				golden(t, name+".md", md)
			}
			checkMarkdownSafe(t, md)
		})
	}
}

var unescapedPipe = regexp.MustCompile(`(^|[^\\])\|`)

// checkMarkdownSafe checks what must hold for any report: no raw HTML or
// mentions from the registry, table rows of the right width, bounded size.
func checkMarkdownSafe(t *testing.T, md string) {
	t.Helper()
	if len(md) > 65536 {
		t.Errorf("markdown is %d bytes, over GitHub's comment limit", len(md))
	}
	for _, bad := range []string{"<script", "<b>", "<!channel>", "@here", "@channel", "](https://evil", "<https://evil", "\u202E", "\x1b"} {
		if strings.Contains(md, bad) {
			t.Errorf("markdown contains %q", bad)
		}
	}
	// Every table is one of the report's own: the plan (2 columns), the
	// checks (8), a history (6) or a manifest's; each row has its header's borders.
	widths := map[string]int{"| | |": 3, "| | Rule |": 9, "| At | Action |": 7,
		"| Model | Target | Change |": 7, "| Model | Target | Version |": 4} // and a manifest's changes and unchanged entries
	want := 0
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			want = 0
			continue
		}
		// A row starting with "|" matches once per cell border; "||" never occurs.
		n := len(unescapedPipe.FindAllString(line, -1))
		if want == 0 {
			for head, w := range widths {
				if strings.HasPrefix(line, head) {
					want = w
				}
			}
			if want == 0 {
				t.Errorf("a table the report does not write: %q", line)
				want = n
			}
		}
		if n != want {
			t.Errorf("table row has %d cell borders, want %d: %q", n, want, line)
		}
	}
	if fences, charts := strings.Count(md, "```"), strings.Count(md, "```mermaid"); fences != 2*charts {
		t.Errorf("%d code fences for %d charts: registry text opened or closed one", fences, charts)
	}
}

func TestSlackGolden(t *testing.T) {
	t.Parallel()
	for name, r := range reports() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			blocks := r.SlackBlocks()
			checkSlackSafe(t, r.SlackText(), blocks)
			if name == "many-checks" { // checked for its limits only
				last := blocks[len(blocks)-2].(*slack.ContextBlock)
				if len(blocks) != 50 || !strings.Contains(last.ContextElements.Elements[0].(*slack.TextBlockObject).Text, "more checks") {
					t.Errorf("%d blocks, want 50 ending with a note of the checks left out", len(blocks))
				}
				return
			}
			golden(t, name+".slack.json", slackJSON(t, r.SlackText(), blocks))
		})
	}
}

// checkSlackSafe checks Block Kit's limits and that no registry text can
// mention, link or format.
func checkSlackSafe(t *testing.T, text string, blocks []slack.Block) {
	t.Helper()
	if len(blocks) > 50 {
		t.Errorf("%d blocks, Slack allows 50", len(blocks))
	}
	texts := []string{text}
	for _, b := range blocks {
		switch b := b.(type) {
		case *slack.HeaderBlock:
			if b.Text.Type != slack.PlainTextType {
				t.Errorf("header is %s, want plain_text", b.Text.Type)
			}
			if n := utf8.RuneCountInString(b.Text.Text); n > 150 {
				t.Errorf("header is %d characters, Slack allows 150", n)
			}
		case *slack.SectionBlock:
			if n := utf8.RuneCountInString(b.Text.Text); n > 3000 {
				t.Errorf("section text is %d characters, Slack allows 3000", n)
			}
			if !b.Text.Verbatim {
				t.Errorf("section text is not verbatim: %q", b.Text.Text)
			}
			texts = append(texts, b.Text.Text)
		case *slack.ContextBlock:
			if len(b.ContextElements.Elements) > 10 {
				t.Errorf("context has %d elements", len(b.ContextElements.Elements))
			}
			for _, e := range b.ContextElements.Elements {
				if to, ok := e.(*slack.TextBlockObject); ok && to.Verbatim {
					texts = append(texts, to.Text)
				}
			}
		case *slack.DividerBlock:
		default:
			t.Errorf("unexpected block %T", b)
		}
	}
	for _, s := range texts {
		for _, bad := range []string{"<!", "<@", "<http", "<script", "@here", "@channel", "@everyone", "*bold*", "_italic_", "~strike~", "`code`", "https://evil", "\n\n\n", "\u202E", "\x1b"} {
			if strings.Contains(s, bad) {
				t.Errorf("mrkdwn text contains %q: %q", bad, truncateForLog(s))
			}
		}
	}
}

func truncateForLog(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

func TestStatusLineGolden(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	names := []string{"promoted", "first-deploy", "blocked", "non-finite", "in-place", "registry-error", "alias-and-stage-dry-run", "hostile", "many-checks", "prompt-promoted"}
	all := reports()
	if len(names) != len(all) {
		t.Fatalf("list every report here: have %d, want %d", len(names), len(all))
	}
	for _, name := range names {
		r := all[name]
		state, ok := r.DeploymentState()
		for _, st := range []string{notify.StateInProgress, state} {
			if st == "" {
				continue
			}
			line := promotion(r).StatusLine(r, st)
			if n := utf8.RuneCountInString(line); n > notify.MaxStatusLine {
				t.Errorf("%s %s: %d characters, GitHub allows 140: %q", name, st, n, line)
			}
			if strings.ContainsAny(line, "\n\r\x1b\u202E") {
				t.Errorf("%s %s: control characters in %q", name, st, line)
			}
			b.WriteString(name + " " + st + ": " + line + "\n")
		}
		if !ok {
			b.WriteString(name + ": no deployment\n")
		}
	}
	golden(t, "status-lines.txt", b.String())
}

// slackJSON renders a message as Slack receives it, readably.
func slackJSON(t *testing.T, text string, blocks []slack.Block) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"text": text, "blocks": blocks}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// NaN and infinities read as NaN, +Inf and -Inf in every rendering of a
// report, and the JSON report file holds them as those strings.
func TestNonFiniteValuesInEveryReport(t *testing.T) {
	t.Parallel()
	r := reports()["non-finite"]
	state, _ := r.DeploymentState()
	var slackText strings.Builder
	for _, b := range r.SlackBlocks() {
		b, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		slackText.Write(b)
	}
	file, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatalf("JSON report: %v", err)
	}
	renderings := map[string]string{
		"markdown":    r.CommentBody(),
		"slack":       slackText.String(),
		"text":        r.Text(),
		"report file": string(file),
	}
	for name, got := range renderings {
		for _, want := range []string{"NaN", "+Inf", "-Inf"} {
			if !strings.Contains(got, want) {
				t.Errorf("%s does not show %s:\n%s", name, want, got)
			}
		}
	}
	// The status line names what failed, within GitHub's 140 characters.
	line := promotion(r).StatusLine(r, state)
	if want := ": 4 of 5 checks failed (val_auc is NaN, latency_p95_ms (dataset holdo… is +Inf, champion"; !strings.Contains(line, want) {
		t.Errorf("status line %q does not contain %q", line, want)
	}
	promotion(r).Plan.Checks = promotion(r).Plan.Checks[3:]
	if line, want := promotion(r).StatusLine(r, state), ": 1 of 2 checks failed (champion val_loss is -Inf)"; !strings.HasSuffix(line, want) {
		t.Errorf("status line %q does not end with %q", line, want)
	}
	var back struct {
		Plan struct {
			Checks []struct {
				Value    string   `json:"value"`
				Champion string   `json:"champion"`
				Num      *float64 `json:"candidate_num"`
			} `json:"checks"`
		} `json:"plan"`
	}
	if err := json.Unmarshal(file, &back); err != nil {
		t.Fatal(err)
	}
	if c := back.Plan.Checks[0]; c.Value != "NaN" || c.Num != nil {
		t.Errorf("report file check 0 = %+v, want value \"NaN\" and no candidate_num", c)
	}
}
