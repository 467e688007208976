package notify_test

import (
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/fleet"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/notify"
	"github.com/mlreg/mlreg-action/internal/outcome"
	"github.com/mlreg/mlreg-action/internal/promote"
)

// The fuzz targets render reports whose registry and repository text is
// arbitrary: the model name, rule names, metric names, tag values, the
// version strings, the error text and a metric value.

var fuzzOutcomes = []outcome.Outcome{
	outcome.Promoted, outcome.InPlace, outcome.WouldChange, outcome.Blocked,
	outcome.Conflict, outcome.Failed, outcome.RolledBack,
}

// fuzzReport builds a report from fuzzed text; shape picks the outcome,
// whether there is a plan, a champion, a dry run and a stage target.
func fuzzReport(model, rule, metric, value, errText, version string, num float64, shape uint8) *notify.Report {
	p := basePlan()
	p.Model = model
	p.Candidate.Version = version
	p.Candidate.RunID = value
	p.Rules = []string{rule, "gate " + rule}
	p.PolicyFile = rule + ".yml"
	p.Checks = append(p.Checks,
		checks.Check{Rule: rule, Kind: checks.KindMetric, Name: metric, Value: value, Bound: ">= " + value, Status: checks.StatusFail,
			Reason: errText, CandidateNum: &num},
		checks.Check{Rule: rule, Kind: checks.KindVsChampion, Name: metric, Value: value, Bound: "delta >= +0.002", Champion: value,
			Delta: value, Status: checks.StatusPass, CandidateNum: &num, ChampionNum: &num},
		checks.Check{Rule: rule, Kind: checks.KindTag, Name: metric, Value: value, Bound: "= " + value, Status: checks.StatusSkip, Reason: value},
	)
	if shape&8 != 0 {
		p.Champion = nil
	} else {
		p.Champion.Version = value
	}
	if shape&16 != 0 {
		p.Targets = append(p.Targets, promote.TargetPlan{Target: checks.StageTarget("Production"), Current: version})
	}
	r := report(p, fuzzOutcomes[int(shape)%len(fuzzOutcomes)])
	pm := promotion(r)
	if shape&32 != 0 {
		pm.Plan, r.Target = nil, checks.AliasTarget("champion")
		r.Links.Version, r.Links.Run = "", ""
	}
	r.Model = model
	r.DryRun = shape&64 != 0
	r.NoPolicy = shape&128 != 0
	r.Error = errText
	if r.Outcome == outcome.Promoted && pm.Plan != nil {
		pm.Applied = &promote.Outcome{Changed: true, Notes: []string{errText}, Moves: pm.Plan.Moves()}
	}
	return r
}

const hostileSeed = `<!channel> @here | *b* _i_ ` + "`c` ```f``` <script>x</script> [l](https://evil.example) -->\n\r\t\u202E\x00\xff"

func fuzzSeeds(f *testing.F) {
	f.Add("fraud-model", "production gate", "val_auc", "0.951", "failed to resolve", "15", 0.951, uint8(0))
	f.Add("fraud"+hostile, "gate "+hostile, "m "+hostile, hostile, "error "+hostile, "1"+hostile, math.NaN(), uint8(3))
	f.Add(hostileSeed, hostileSeed, hostileSeed, hostileSeed, hostileSeed, hostileSeed, math.Inf(1), uint8(255))
	f.Add("", "", "", "", "", "", 0.0, uint8(5))
	f.Add(strings.Repeat("|", 300), strings.Repeat("\\", 301), strings.Repeat("`", 50), strings.Repeat("@here ", 100),
		strings.Repeat("<!-- ", 400), strings.Repeat("9", 30), -math.MaxFloat64, uint8(17))
	f.Add("a\\", "\\|", "|\\", "\\\\|", "&#64;channel", "&lt;!here&gt;", math.MaxFloat64, uint8(42))
	f.Add("model -->", "<details>", "</summary>", "```mermaid", "\u2028line\u2029sep\u0085", "v", 1e-300, uint8(99))
}

// borders counts the unescaped "|" of a Markdown table row (a "|" after an
// odd number of backslashes is text).
func borders(line string) int {
	n, backslashes := 0, 0
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			backslashes++
			continue
		case '|':
			if backslashes%2 == 0 {
				n++
			}
		}
		backslashes = 0
	}
	return n
}

// ourTags are the HTML tags the report writes itself.
var (
	ourTags    = regexp.MustCompile(`<br>|<details open>|<details>|</details>|<summary>|</summary>`)
	anyTag     = regexp.MustCompile(`<[A-Za-z/!?]`)
	mentionRE  = regexp.MustCompile(`(?i)@(channel|here|everyone)\b|<!(channel|here|everyone)`)
	delimRowRE = regexp.MustCompile(`^\|(---\|)+$`)
)

// FuzzMarkdown: the PR comment keeps its hidden marker on the first line,
// every table row has as many cell borders as its table's header, and no
// registry text adds HTML, a mention, a code fence or a line.
func FuzzMarkdown(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, model, rule, metric, value, errText, version string, num float64, shape uint8) {
		r := fuzzReport(model, rule, metric, value, errText, version, num, shape)
		if shape&16 != 0 && shape&32 == 0 {
			r.Target.Stage = "Production"
		}
		checkComment(t, r, "<!-- mlreg-action model=")
	})
}

// checkComment checks a report's PR comment: its hidden marker (which
// starts with markerPrefix) alone on the first line, every table row with as
// many cell borders as its table's header, and no registry text that adds
// HTML, a mention, a code fence or a line.
func checkComment(t *testing.T, r *notify.Report, markerPrefix string) {
	t.Helper()
	body := r.CommentBody()
	lines := strings.Split(body, "\n")
	marker := r.Marker()
	if lines[0] != marker || strings.Count(body, "<!--") != 1 || strings.Count(marker, "-->") != 1 ||
		!strings.HasPrefix(marker, markerPrefix) || !strings.HasSuffix(marker, " -->") {
		t.Fatalf("the marker line is %q, want %q alone", lines[0], marker)
	}
	if len(body) > 65536 {
		t.Errorf("the comment is %d bytes, over GitHub's limit", len(body))
	}
	if !utf8.ValidString(body) {
		t.Errorf("the comment is not UTF-8")
	}
	rest := strings.Join(lines[1:], "\n")
	for _, r := range rest {
		if r != '\n' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == '\u202E') {
			t.Fatalf("control character %U in the comment:\n%s", r, rest)
		}
	}
	if m := mentionRE.FindString(rest); m != "" {
		t.Errorf("mention %q in the comment:\n%s", m, rest)
	}
	if tag := anyTag.FindString(ourTags.ReplaceAllString(rest, "")); tag != "" {
		t.Errorf("HTML %q in the comment:\n%s", tag, rest)
	}
	if fences, charts := strings.Count(rest, "```"), strings.Count(rest, "```mermaid\n"); fences != 2*charts {
		t.Errorf("%d code fences for %d charts:\n%s", fences, charts, rest)
	}
	// Tables: consecutive lines starting with "|", the second a delimiter row.
	inChart := false
	for i := 1; i < len(lines); i++ {
		line := lines[i]
		switch {
		case strings.HasPrefix(line, "```mermaid"):
			inChart = true
		case line == "```":
			inChart = false
		}
		if inChart {
			if strings.Contains(line, "Inf") || strings.Contains(line, "NaN") {
				t.Errorf("chart line %q has a number Mermaid cannot draw", line)
			}
			continue
		}
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(lines[i-1], "|") {
			continue
		}
		want := borders(line)
		if i+1 >= len(lines) || !delimRowRE.MatchString(lines[i+1]) || borders(lines[i+1]) != want {
			t.Fatalf("table header %q is not followed by its delimiter row", line)
		}
		for j := i; j < len(lines) && strings.HasPrefix(lines[j], "|"); j++ {
			if n := borders(lines[j]); n != want {
				t.Errorf("table row has %d cell borders, its header %d: %q", n, want, lines[j])
			}
		}
	}
}

// FuzzFleetMarkdown: the comment of a manifest run, whose entries carry the
// fuzzed names, versions, checks and errors, holds as FuzzMarkdown's does.
func FuzzFleetMarkdown(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, model, rule, metric, value, errText, version string, num float64, shape uint8) {
		single := fuzzReport(model, rule, metric, value, errText, version, num, shape)
		p := promotion(single).Plan
		if p == nil {
			p = basePlan()
		}
		e := &fleet.Entry{Model: model, Kind: "model", Target: checks.AliasTarget("champion"), Holder: version, Desired: version + "1",
			Status: fleet.StatusChange, Verdict: p.Verdict, Plan: p}
		if shape&1 != 0 {
			e.Kind = "prompt"
		}
		bad := &fleet.Entry{Model: rule, Kind: "model", Target: checks.AliasTarget("champion"), Desired: version,
			Status: fleet.StatusError, Err: errors.New(errText)}
		kept := &fleet.Entry{Model: metric, Kind: "model", Target: checks.StageTarget("Production"), Holder: value, Desired: value,
			Status: fleet.StatusUnchanged}
		fp := &fleet.FleetPlan{Manifest: model + ".yml", PolicyFile: rule, Entries: []*fleet.Entry{e, bad, kept}, Digest: digest}
		r := &notify.Report{Command: single.Command, Outcome: single.Outcome, Error: single.Error, DryRun: single.DryRun,
			NoPolicy: single.NoPolicy, TrackingURI: tracking, Links: single.Links,
			Body: &notify.Fleet{Manifest: fp.Manifest, Plan: fp, VersionURL: mlflow.Rules{UI: tracking}.VersionURL}}
		checkComment(t, r, "<!-- mlreg-action manifest=")
		checkSlackSafe(t, r.SlackText(), r.SlackBlocks())
	})
}

// FuzzSlack: the message is valid JSON within Block Kit's limits, and its
// verbatim mrkdwn holds no mention, link or markup from the registry.
func FuzzSlack(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, model, rule, metric, value, errText, version string, num float64, shape uint8) {
		r := fuzzReport(model, rule, metric, value, errText, version, num, shape)
		b, err := json.Marshal(map[string]any{"text": r.SlackText(), "blocks": r.SlackBlocks()})
		if err != nil || !json.Valid(b) {
			t.Fatalf("the message is not JSON: %v", err)
		}
		var msg struct {
			Text   string `json:"text"`
			Blocks []struct {
				Type     string          `json:"type"`
				Text     *textObject     `json:"text"`
				Elements []textObject    `json:"elements"`
				Fields   json.RawMessage `json:"fields"`
			} `json:"blocks"`
		}
		if err := json.Unmarshal(b, &msg); err != nil {
			t.Fatalf("failed to decode the message: %v\n%s", err, b)
		}
		if n := utf8.RuneCountInString(msg.Text); n == 0 || n > 4000 {
			t.Errorf("fallback text is %d characters", n)
		}
		checkMrkdwn(t, msg.Text)
		if n := len(msg.Blocks); n == 0 || n > 50 {
			t.Fatalf("%d blocks, Slack allows 1 to 50", n)
		}
		for _, bl := range msg.Blocks {
			switch bl.Type {
			case "header":
				if bl.Text == nil || bl.Text.Type != "plain_text" || !within(bl.Text.Text, 150) {
					t.Errorf("header %+v: want plain_text of 1 to 150 characters", bl.Text)
				}
			case "section":
				if bl.Text == nil || bl.Text.Type != "mrkdwn" || !bl.Text.Verbatim || !within(bl.Text.Text, 3000) {
					t.Errorf("section %+v: want verbatim mrkdwn of 1 to 3000 characters", bl.Text)
					continue
				}
				checkMrkdwn(t, bl.Text.Text)
			case "context":
				if n := len(bl.Elements); n == 0 || n > 10 {
					t.Errorf("context with %d elements, Slack allows 1 to 10", n)
				}
				for _, e := range bl.Elements {
					if !within(e.Text, 3000) {
						t.Errorf("context element of %d characters", utf8.RuneCountInString(e.Text))
					}
					if e.Verbatim {
						checkMrkdwn(t, e.Text)
					} else {
						checkLinks(t, e.Text)
					}
				}
			case "divider":
			default:
				t.Errorf("unexpected block type %q", bl.Type)
			}
		}
	})
}

type textObject struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Verbatim bool   `json:"verbatim"`
}

func within(s string, n int) bool {
	c := utf8.RuneCountInString(s)
	return c >= 1 && c <= n
}

var (
	slackMention = regexp.MustCompile(`(?i)@(channel|here|everyone)`)
	looseAmp     = regexp.MustCompile(`&(?:amp|lt|gt);|&`)
)

// checkMrkdwn: no Slack control sequence (<...>), no mention, no bare &.
func checkMrkdwn(t *testing.T, s string) {
	t.Helper()
	if strings.ContainsAny(s, "<>") {
		t.Errorf("mrkdwn has < or >: %q", truncateForLog(s))
	}
	if m := slackMention.FindString(s); m != "" {
		t.Errorf("mrkdwn has the mention %q: %q", m, truncateForLog(s))
	}
	for _, m := range looseAmp.FindAllString(s, -1) {
		if m == "&" {
			t.Errorf("mrkdwn has a bare &: %q", truncateForLog(s))
			break
		}
	}
}

var slackLinks = regexp.MustCompile(`^<(` + regexp.QuoteMeta(tracking) + `/#/[^<>| ]*|` + regexp.QuoteMeta(runURL) + `)\|[^<>]+>( · <(` +
	regexp.QuoteMeta(tracking) + `/#/[^<>| ]*|` + regexp.QuoteMeta(runURL) + `)\|[^<>]+>)*$`)

// checkLinks: the one element that is not verbatim holds only our links.
func checkLinks(t *testing.T, s string) {
	t.Helper()
	if !slackLinks.MatchString(s) {
		t.Errorf("the links element is %q", truncateForLog(s))
	}
	if m := slackMention.FindString(s); m != "" {
		t.Errorf("the links element has the mention %q: %q", m, truncateForLog(s))
	}
}

// FuzzStatusLine: the deployment status description is one plain line of
// 1 to 140 characters for every state.
func FuzzStatusLine(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, model, rule, metric, value, errText, version string, num float64, shape uint8) {
		r := fuzzReport(model, rule, metric, value, errText, version, num, shape)
		final, _ := r.DeploymentState()
		for _, st := range []string{notify.StateInProgress, notify.StateSuccess, notify.StateFailure, notify.StateError, final} {
			line := promotion(r).StatusLine(r, st)
			if n := utf8.RuneCountInString(line); n == 0 || n > notify.MaxStatusLine {
				t.Errorf("%s: %d characters, GitHub allows 140: %q", st, n, line)
			}
			if !utf8.ValidString(line) || line != strings.TrimSpace(line) {
				t.Errorf("%s: %q is not trimmed UTF-8", st, line)
			}
			for _, c := range line {
				if unicode.IsControl(c) || c == '\u2028' || c == '\u2029' || (c >= 0x202A && c <= 0x202E) {
					t.Errorf("%s: control character %U in %q", st, c, line)
				}
			}
		}
	})
}

// FuzzEscapeLog: whatever the registry says, EscapeLine gives one line and
// EscapeLines as many lines as it had, with no raw control, format or
// separator character, no legacy ##[ command and no line that starts a
// workflow command; both are idempotent, and JSON stays JSON with the same
// values.
func FuzzEscapeLog(f *testing.F) {
	for _, s := range []string{"", "::warning::x", "ok\n::add-mask::0.93\n::stop-commands::t", " \u00a0::error::x\r##[group]g",
		"\x1b[31m\u202egnp\u0085\u2028\U000E0041", "###[", "\xff\xfe", `\u003a:`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hidden := func(r rune) bool {
			return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError
		}
		line := notify.EscapeLine(s)
		if strings.ContainsFunc(line, func(r rune) bool { return hidden(r) && r != utf8.RuneError }) || strings.Contains(line, "##[") {
			t.Errorf("EscapeLine(%q) = %q", s, line)
		}
		lines := notify.EscapeLines(s)
		got := strings.Split(lines, "\n")
		if len(got) != strings.Count(s, "\n")+1 {
			t.Errorf("EscapeLines(%q) = %q: %d lines, want %d", s, lines, len(got), strings.Count(s, "\n")+1)
		}
		for _, l := range got {
			if strings.ContainsFunc(l, func(r rune) bool { return hidden(r) && r != utf8.RuneError }) || strings.Contains(l, "##[") ||
				strings.HasPrefix(strings.TrimLeftFunc(l, unicode.IsSpace), "::") {
				t.Errorf("EscapeLines(%q) has the line %q", s, l)
			}
		}
		if again := notify.EscapeLine(line); again != line {
			t.Errorf("EscapeLine is not idempotent on %q: %q, then %q", s, line, again)
		}
		if again := notify.EscapeLines(lines); again != lines {
			t.Errorf("EscapeLines is not idempotent on %q: %q, then %q", s, lines, again)
		}
		b, err := json.MarshalIndent(map[string][]string{s: {s, "::" + s}}, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		var want, back map[string][]string
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(notify.EscapeLines(string(b))), &back); err != nil {
			t.Errorf("JSON of %q is no longer JSON: %v", s, err)
		} else if diff := cmp.Diff(want, back); diff != "" {
			t.Errorf("JSON of %q decodes to other values (-want +got):\n%s", s, diff)
		}
	})
}
