package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/fleet"
	"github.com/mlreg/mlreg-action/internal/outcome"
	"github.com/mlreg/mlreg-action/internal/promote"
)

// Fleet is the body of the report of a desired-state file (validate and
// promote with manifest): the plan of every entry and, for promote, what
// was applied. One report covers the whole file: one PR comment, one job
// summary, one Slack message, and a deployment per changed entry.
type Fleet struct {
	quiet
	Manifest string           // the file, as the user named it
	Plan     *fleet.FleetPlan // nil when the file or the policy could not be read
	Result   *fleet.Result    // promote: what Apply did; nil for validate
	// Reviewed is promote's expected-plan-digest: the plan it was asked to
	// apply. The report shows it in a row of its own, before this run's
	// plan digest, so that a rerun reads it from the comment again whatever
	// this run did (examples/workflows/registry-as-code.yml).
	Reviewed string
	// VersionURL links a version to its registry's page
	// (registry.Rules.VersionURL); nil: no links to versions.
	VersionURL func(model, version string, prompt bool) string
	// Moves: the run applies the plan when it passes (promote, not a dry
	// run); only such a report has deployments and a Slack message that a
	// rerun of the same apply edits.
	Moves bool
}

func (*Fleet) version() string { return "" } // each entry has its own

func (f *Fleet) fileName(r *Report) string { return r.Command + "-manifest-" + f.Manifest }

// outputs are the outputs of a manifest run (README, "Outputs"): verdict,
// changed, plan-digest and changes.
func (f *Fleet) outputs(*Report) [][2]string {
	verdict, digest, changes := "", "", "[]"
	if f.Plan != nil {
		verdict, digest = f.Plan.Verdict(), f.Plan.Digest
		list := f.Plan.Changes()
		if f.Result != nil {
			list = f.Result.Changes()
		}
		if b, err := json.Marshal(list); err == nil {
			changes = string(b)
		}
	}
	changed := f.Result != nil && f.Result.Changed()
	return [][2]string{
		{"verdict", verdict},
		{"changed", fmt.Sprint(changed)},
		{"plan-digest", digest},
		{"changes", changes},
	}
}

// slackThread: one message per apply of the file, kept in the tag
// SlackManifestTag of its first entry's desired version. The same apply is
// the one its entries' records name (fleet.Result.RecordDigest).
func (f *Fleet) slackThread(*Report) (slackThread, bool) {
	if !f.Moves || f.Result == nil || f.Result.RecordDigest == "" || f.Plan == nil || len(f.Plan.Entries) == 0 {
		return slackThread{}, false
	}
	first := f.Plan.Entries[0]
	return slackThread{tag: SlackManifestTag(f.Manifest), model: first.Model, version: first.Desired, noun: "promotion",
		digest: func(map[string]string, Settings) string { return f.Result.RecordDigest }}, true
}

// fleetRow is one entry as the reports show it.
type fleetRow struct {
	e       *fleet.Entry
	outcome outcome.Outcome
	err     error // planning or applying
}

func (f *Fleet) rows() []fleetRow {
	if f.Plan == nil {
		return nil
	}
	out := make([]fleetRow, len(f.Plan.Entries))
	for i, e := range f.Plan.Entries {
		out[i] = fleetRow{e: e, outcome: e.PlanOutcome(), err: e.Err}
		if f.Result != nil && i < len(f.Result.Entries) {
			er := f.Result.Entries[i]
			out[i].outcome = er.Outcome
			if er.Err != nil {
				out[i].err = er.Err
			}
		}
	}
	return out
}

// changes are the rows that differ from the registry (or could not be
// planned), and unchanged the rest.
func (f *Fleet) split() (changes, unchanged []fleetRow) {
	for _, r := range f.rows() {
		if r.e.Differs() || r.e.Status == fleet.StatusError || r.outcome != outcome.InPlace {
			changes = append(changes, r)
		} else {
			unchanged = append(unchanged, r)
		}
	}
	return changes, unchanged
}

// Counts is "2 promoted, 1 blocked by policy, 40 already in place": the
// entries by outcome, in the words of a single promotion's report.
func (f *Fleet) Counts() string {
	n := map[outcome.Outcome]int{}
	for _, r := range f.rows() {
		n[r.outcome]++
	}
	var parts []string
	for _, o := range []outcome.Outcome{outcome.Promoted, outcome.WouldChange, outcome.Blocked,
		outcome.Failed, outcome.Conflict, outcome.InPlace} {
		if n[o] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[o], o.Label()))
		}
	}
	if len(parts) == 0 {
		return "no entries"
	}
	return strings.Join(parts, ", ")
}

func (f *Fleet) headline(r *Report) string {
	name := f.Manifest
	if f.Plan == nil {
		return fmt.Sprintf("⚠️ %s: %s failed", name, r.Command)
	}
	counts := f.Counts()
	dry := ""
	if r.DryRun {
		dry = " (dry run)"
	}
	switch r.Outcome {
	case outcome.Promoted, outcome.InPlace: // the counts say "already in place"
		return fmt.Sprintf("✅ %s: %s%s", name, counts, dry)
	case outcome.WouldChange:
		return fmt.Sprintf("✅ %s: every change passes the policy: %s%s", name, counts, dry)
	case outcome.Blocked:
		if !f.Moves || r.DryRun {
			return fmt.Sprintf("❌ %s: a change fails the policy, promote would apply nothing: %s%s", name, counts, dry)
		}
		return fmt.Sprintf("❌ %s: a change fails the policy, nothing is applied: %s", name, counts)
	case outcome.Drift:
		return fmt.Sprintf("⚠️ %s: drift, the registry differs from the file: %s", name, counts)
	case outcome.Conflict:
		return fmt.Sprintf("⚠️ %s: conflict: %s%s", name, counts, dry)
	}
	return fmt.Sprintf("⚠️ %s: %s failed: %s%s", name, r.Command, counts, dry)
}

// marker is the hidden first line of the manifest's PR comment.
func (f *Fleet) marker(*Report) string {
	return fmt.Sprintf("<!-- mlreg-action manifest=%s -->", markerEscape(f.Manifest))
}

func rowModel(e *fleet.Entry) string {
	if e.Kind == "prompt" {
		return "prompt " + e.Model
	}
	return e.Model
}

func rowChange(e *fleet.Entry) string {
	return fmt.Sprintf("%s → v%s", promote.VersionLabel(e.Holder), e.Desired)
}

func rowVerdict(e *fleet.Entry) string {
	if e.Status == fleet.StatusError {
		return "error"
	}
	return e.Verdict
}

// rowDetail is what a reader needs about a row in one cell: the error, or
// the failing checks.
func rowDetail(row fleetRow) string {
	if row.err != nil {
		return row.err.Error()
	}
	if row.e.Plan == nil {
		return ""
	}
	var names []string
	for _, c := range row.e.Plan.Checks {
		if c.Status == checks.StatusFail {
			names = append(names, fmt.Sprintf("%s %s (%s)", c.Name, c.Value, c.Bound))
		}
	}
	return strings.Join(names, "; ")
}

func (f *Fleet) rowLinks(r *Report, e *fleet.Entry) (version, run string) {
	if f.VersionURL != nil {
		version = f.VersionURL(e.Model, e.Desired, e.Kind == "prompt")
	}
	if e.Plan != nil {
		run = RunURL(r.TrackingURI, e.Plan.Candidate.RunID)
	}
	return version, run
}

func verdictIcon(v string) string {
	switch v {
	case checks.VerdictPass:
		return "✅"
	case checks.VerdictFail:
		return "❌"
	case "error":
		return "⚠️"
	}
	return "➖"
}

// markdown is the report of a manifest run: the summary, the table of
// changes, each change's checks, the unchanged entries folded.
func (f *Fleet) markdown(r *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", MD(r.Headline()))
	if r.NoPolicy {
		b.WriteString("> [!WARNING]\n> `policy: none`: no checks were run.\n\n")
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "> [!CAUTION]\n> %s\n\n", mdN(r.Error, 1000))
	}
	b.WriteString("| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| Manifest | %s |\n", MD(f.Manifest))
	if p := f.Plan; p != nil {
		if p.PolicyFile != "" {
			fmt.Fprintf(&b, "| Policy | %s (`%s`) |\n", MD(p.PolicyFile), short(p.PolicyDigest))
		}
		fmt.Fprintf(&b, "| Verdict | **%s** |\n", MD(p.Verdict()))
		fmt.Fprintf(&b, "| Entries | %s |\n", MD(f.Counts()))
		switch {
		case f.Reviewed != "" && f.Result != nil && f.Result.Resumed:
			fmt.Fprintf(&b, "| Reviewed plan | `%s`: the entries in place were applied by an earlier run of it |\n", f.Reviewed)
		case f.Reviewed != "":
			fmt.Fprintf(&b, "| Reviewed plan | `%s` |\n", f.Reviewed)
		}
		fmt.Fprintf(&b, "| Plan digest | `%s` |\n", p.Digest)
	}
	b.WriteString("\n")
	changes, unchanged := f.split()
	if len(changes) > 0 {
		b.WriteString("| Model | Target | Change | Verdict | Outcome | Failing checks or error |\n")
		b.WriteString("|---|---|---|---|---|---|\n")
		for i, row := range changes {
			if b.Len() > maxMarkdown/2 {
				fmt.Fprintf(&b, "| %d more changes: see the report file | | | | | |\n", len(changes)-i)
				break
			}
			e := row.e
			fmt.Fprintf(&b, "| %s | %s | %s | %s %s | %s | %s |\n", MD(rowModel(e)), MD(e.Label()), codeSpan(rowChange(e)),
				verdictIcon(rowVerdict(e)), MD(rowVerdict(e)), MD(row.outcome.Label()), mdN(rowDetail(row), 300))
		}
		b.WriteString("\n")
		for i, row := range changes {
			e := row.e
			if e.Plan == nil {
				continue
			}
			if b.Len() > maxMarkdown-12000 {
				fmt.Fprintf(&b, "%d more changes' checks: see the report file or the step log.\n\n", len(changes)-i)
				break
			}
			fmt.Fprintf(&b, "#### %s %s: %s\n\n", MD(rowModel(e)), MD(e.Label()), codeSpan(rowChange(e)))
			var links []string
			ver, run := f.rowLinks(r, e)
			if ver != "" {
				links = append(links, fmt.Sprintf("[MLflow v%s](%s)", MD(e.Desired), linkURL(ver)))
			}
			if run != "" {
				links = append(links, fmt.Sprintf("[MLflow run](%s)", linkURL(run)))
			}
			fmt.Fprintf(&b, "Verdict **%s**", MD(e.Verdict))
			if len(e.Plan.Rules) > 0 {
				rules := make([]string, len(e.Plan.Rules))
				for i, n := range e.Plan.Rules {
					rules[i] = MD(n)
				}
				fmt.Fprintf(&b, " (%s)", strings.Join(rules, ", "))
			}
			if len(links) > 0 {
				b.WriteString(" · " + strings.Join(links, " · "))
			}
			b.WriteString("\n\n")
			checkTable(&b, e.Plan, maxMarkdown-10000)
		}
	}
	if len(unchanged) > 0 {
		fmt.Fprintf(&b, "<details><summary>%d unchanged %s</summary>\n\n", len(unchanged), Plural(len(unchanged), "entry", "entries"))
		b.WriteString("| Model | Target | Version |\n|---|---|---|\n")
		for i, row := range unchanged {
			if b.Len() > maxMarkdown-2000 {
				fmt.Fprintf(&b, "| %d more | | |\n", len(unchanged)-i)
				break
			}
			fmt.Fprintf(&b, "| %s | %s | v%s |\n", MD(rowModel(row.e)), MD(row.e.Label()), MD(row.e.Desired))
		}
		b.WriteString("\n</details>\n\n")
	}
	b.WriteString(r.markdownLinks())
	return b.String()
}

// Plural is one or many, by n.
func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// text is the report of a manifest run for a terminal.
func (f *Fleet) text(r *Report) string {
	var b strings.Builder
	r.textHead(&b)
	kv := &textTable{indent: "  "}
	kv.add("manifest", Plain(f.Manifest))
	if p := f.Plan; p != nil {
		if p.PolicyFile != "" {
			kv.add("policy", fmt.Sprintf("%s (%s)", Plain(p.PolicyFile), short(p.PolicyDigest)))
		}
		kv.add("verdict", p.Verdict())
		kv.add("digest", p.Digest)
	}
	kv.write(&b)
	changes, unchanged := f.split()
	if len(changes) > 0 {
		b.WriteString("\n")
		t := &textTable{indent: "  ", header: []string{"MODEL", "TARGET", "CHANGE", "VERDICT", "OUTCOME", "DETAIL"},
			value: map[int]bool{2: true, 3: true, 4: true}}
		for _, row := range changes {
			e := row.e
			t.add(Plain(rowModel(e)), Plain(e.Label()), Plain(rowChange(e)), rowVerdict(e), row.outcome.Label(),
				dash(plainN(rowDetail(row), maxWrapped)))
		}
		t.write(&b)
		// Each change's checks, as a single promotion's report shows them.
		for _, row := range changes {
			e := row.e
			if e.Plan == nil || len(e.Plan.Checks) == 0 {
				continue
			}
			head := fmt.Sprintf("%s %s: %s, %s", Plain(rowModel(e)), Plain(e.Label()), Plain(rowChange(e)), e.Verdict)
			if rule, ok := oneRule(e.Plan.Checks); ok {
				head += " (" + Plain(rule) + ")"
			}
			fmt.Fprintf(&b, "\n  %s\n", head)
			checksText(&b, "    ", e.Plan.Checks)
		}
	}
	if len(unchanged) > 0 {
		fmt.Fprintf(&b, "\n  %d unchanged %s\n", len(unchanged), Plural(len(unchanged), "entry", "entries"))
	}
	b.WriteString(r.textLinks())
	return b.String()
}

// blocks is the one Slack message of a manifest run: the headline, a
// line per change, the unchanged count, the links.
func (f *Fleet) blocks(r *Report) []slack.Block {
	blocks := []slack.Block{headerBlock(r)}
	if r.NoPolicy {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(":warning: `policy: none`: no checks were run."), nil, nil))
	}
	if r.Error != "" {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(":x: "+Mrkdwn(r.Error, 1500)), nil, nil))
	}
	changes, unchanged := f.split()
	var cur []string
	curLen, omitted := 0, 0
	for i, row := range changes {
		e := row.e
		line := fmt.Sprintf("%s *%s* `%s` %s: %s, %s", slackIcon(checkStatusOf(rowVerdict(e))), Mrkdwn(rowModel(e), 100),
			Mrkdwn(e.Label(), 60), Mrkdwn(rowChange(e), 40), Mrkdwn(rowVerdict(e), 10), Mrkdwn(row.outcome.Label(), 20))
		if d := rowDetail(row); d != "" {
			line += " (" + Mrkdwn(d, 200) + ")"
		}
		n := utf8.RuneCountInString(line) + 1
		if curLen+n > slackMaxSection {
			if len(blocks) >= slackMaxBlocks-4 {
				omitted = len(changes) - i
				break
			}
			blocks = append(blocks, slack.NewSectionBlock(mrkdwn(strings.Join(cur, "\n")), nil, nil))
			cur, curLen = nil, 0
		}
		cur = append(cur, line)
		curLen += n
	}
	if len(cur) > 0 {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(strings.Join(cur, "\n")), nil, nil))
	}
	var notes []string
	if omitted > 0 {
		notes = append(notes, fmt.Sprintf("%d more changes: see the job summary of the workflow run.", omitted))
	}
	if len(unchanged) > 0 {
		notes = append(notes, fmt.Sprintf("%d unchanged %s.", len(unchanged), Plural(len(unchanged), "entry", "entries")))
	}
	if len(notes) > 0 {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(strings.Join(notes, " "))))
	}
	return append(blocks, r.slackFooter())
}

// checkStatusOf maps a verdict to the check status whose icon shows it.
func checkStatusOf(verdict string) string {
	switch verdict {
	case checks.VerdictPass:
		return checks.StatusPass
	case checks.VerdictFail, "error":
		return checks.StatusFail
	}
	return checks.StatusSkip
}

// entryReport is the single-promotion report of one applied entry, for its
// deployment.
func (f *Fleet) entryReport(r *Report, row fleetRow, applied *fleet.EntryResult) (*Report, *Promotion) {
	e := row.e
	body := &Promotion{Plan: e.Plan, Applied: applied.Promote, Moves: true}
	sub := &Report{Command: r.Command, Model: e.Model, Target: e.Target, Body: body,
		PlanDigest: r.PlanDigest, TrackingURI: r.TrackingURI, Links: Links{WorkflowRun: r.Links.WorkflowRun}}
	sub.Links.Version, sub.Links.Run = f.rowLinks(r, e)
	switch row.outcome {
	case outcome.Promoted, outcome.Conflict:
		sub.Outcome = row.outcome
	default:
		sub.Outcome = outcome.Failed
	}
	if row.err != nil {
		sub.Error = row.err.Error()
	}
	return sub, body
}

// deploy creates a deployment per entry that promote applied or tried to
// apply (an entry in place, or not reached, has none).
func (f *Fleet) deploy(ctx context.Context, r *Report, s Settings, res *Result) error {
	if !f.Moves {
		return nil
	}
	if f.Result == nil {
		res.skipf("deployment: none (%s)", r.Outcome)
		return nil
	}
	s.Environment = "" // each entry's own: <model>@<alias> or <model>/<Stage>
	var errs []error
	for i, row := range f.rows() {
		er := &f.Result.Entries[i]
		if !er.Changed && er.Err == nil {
			continue
		}
		sub, body := f.entryReport(r, row, er)
		if err := deployReport(ctx, sub, body, s, res); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", row.e.Model, row.e.Label(), err))
		}
	}
	return errors.Join(errs...)
}

// fleetJSON is the report file's view of a manifest run.
type fleetJSON struct {
	Manifest   string      `json:"manifest"`
	Verdict    string      `json:"verdict,omitempty"`
	PlanDigest string      `json:"plan_digest,omitempty"`
	Unchanged  int         `json:"unchanged"`
	Entries    []entryJSON `json:"entries"`
	Requests   int         `json:"requests"`
}

type entryJSON struct {
	Model   string          `json:"model"`
	Kind    string          `json:"kind"`
	Target  string          `json:"target"`
	From    string          `json:"from"`
	To      string          `json:"to"`
	Status  string          `json:"status"`
	Verdict string          `json:"verdict,omitempty"`
	Outcome outcome.Outcome `json:"outcome"`
	// Drift: the target was moved outside mlreg-action (its holder is not
	// the last recorded one), rather than changed by the file.
	Drift bool   `json:"drift,omitempty"`
	Error string `json:"error,omitempty"`
	Line  int    `json:"line"`
	// ModelURI and AliasURI load the desired version and the target's
	// alias, as a single promotion's model-uri and alias-uri outputs do.
	ModelURI string         `json:"model_uri"`
	AliasURI string         `json:"alias_uri,omitempty"`
	Links    Links          `json:"links"`
	Checks   []checks.Check `json:"checks,omitempty"`
}

// encode writes the plan of every entry and its outcome into the report
// file, in place of the top-level model and target.
func (f *Fleet) encode(r *Report, j *reportJSON) {
	j.Model, j.Target = nil, nil
	v := &fleetJSON{Manifest: f.Manifest, Entries: []entryJSON{}}
	if p := f.Plan; p != nil {
		v.Verdict, v.PlanDigest, v.Unchanged, v.Requests = p.Verdict(), p.Digest, p.Unchanged(), p.Requests
	}
	if f.Result != nil {
		v.Requests += f.Result.Requests
	}
	for _, row := range f.rows() {
		e := row.e
		ej := entryJSON{Model: e.Model, Kind: e.Kind, Target: e.Label(), From: e.Holder, To: e.Desired,
			Status: e.Status, Verdict: e.Verdict, Outcome: row.outcome, Drift: e.Drifted(), Line: e.Pos.Line}
		ej.ModelURI, ej.AliasURI = URIs(e.Model, e.Desired, e.Target.Alias, e.Kind == "prompt")
		ej.Links.Version, ej.Links.Run = f.rowLinks(r, e)
		if row.err != nil {
			ej.Error = row.err.Error()
		}
		if e.Plan != nil {
			ej.Checks = e.Plan.Checks
		}
		v.Entries = append(v.Entries, ej)
	}
	j.Manifest = v
}
