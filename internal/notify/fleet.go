package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/fleet"
)

// Fleet is the part of a report about a desired-state file (validate and
// promote with manifest): the plan of every entry and, for promote, what
// was applied. One report covers the whole file: one PR comment, one job
// summary, one Slack message, and a deployment per changed entry.
type Fleet struct {
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
}

// fleetRow is one entry as the reports show it.
type fleetRow struct {
	e       *fleet.Entry
	outcome string
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
		if r.e.Differs() || r.e.Status == fleet.StatusError || r.outcome != fleet.OutcomeUnchanged {
			changes = append(changes, r)
		} else {
			unchanged = append(unchanged, r)
		}
	}
	return changes, unchanged
}

// outcomeText is how an entry's outcome reads in a report.
func outcomeText(o string) string {
	switch o {
	case fleet.OutcomeWouldChange:
		return OutcomeWould // a single promotion's validate says so
	case fleet.OutcomeBlocked:
		return "blocked"
	case fleet.OutcomeFailed:
		return "failed"
	}
	return o
}

// Counts is "2 promoted, 1 blocked, 40 unchanged": the entries by outcome.
func (f *Fleet) Counts() string {
	n := map[string]int{}
	for _, r := range f.rows() {
		n[r.outcome]++
	}
	var parts []string
	for _, o := range []string{fleet.OutcomePromoted, fleet.OutcomeWouldChange, fleet.OutcomeBlocked,
		fleet.OutcomeFailed, fleet.OutcomeConflict, fleet.OutcomeUnchanged} {
		if n[o] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[o], outcomeText(o)))
		}
	}
	if len(parts) == 0 {
		return "no entries"
	}
	return strings.Join(parts, ", ")
}

func (r *Report) fleetHeadline() string {
	f := r.Fleet
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
	case OutcomePromoted:
		return fmt.Sprintf("✅ %s: %s%s", name, counts, dry)
	case OutcomeInPlace:
		return fmt.Sprintf("✅ %s: already in place: %s%s", name, counts, dry)
	case OutcomeWould:
		return fmt.Sprintf("✅ %s: every change passes the policy: %s%s", name, counts, dry)
	case OutcomeBlocked:
		if r.Command == "validate" || r.DryRun {
			return fmt.Sprintf("❌ %s: a change fails the policy, promote would apply nothing: %s%s", name, counts, dry)
		}
		return fmt.Sprintf("❌ %s: a change fails the policy, nothing is applied: %s", name, counts)
	case OutcomeDrift:
		return fmt.Sprintf("⚠️ %s: drift, the registry differs from the file: %s", name, counts)
	case OutcomeConflict:
		return fmt.Sprintf("⚠️ %s: conflict: %s%s", name, counts, dry)
	}
	return fmt.Sprintf("⚠️ %s: %s failed: %s%s", name, r.Command, counts, dry)
}

// fleetMarker is the hidden first line of the manifest's PR comment.
func (r *Report) fleetMarker() string {
	return fmt.Sprintf("<!-- mlreg-action manifest=%s -->", markerEscape(r.Fleet.Manifest))
}

func rowModel(e *fleet.Entry) string {
	if e.Kind == "prompt" {
		return "prompt " + e.Model
	}
	return e.Model
}

func rowChange(e *fleet.Entry) string {
	return fmt.Sprintf("%s → v%s", verOrNone(e.Holder), e.Desired)
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

func (r *Report) rowLinks(e *fleet.Entry) (version, run string) {
	if r.Fleet.VersionURL != nil {
		version = r.Fleet.VersionURL(e.Model, e.Desired, e.Kind == "prompt")
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

// fleetMarkdown is the report of a manifest run: the summary, the table of
// changes, each change's checks, the unchanged entries folded.
func (r *Report) fleetMarkdown() string {
	var b strings.Builder
	f := r.Fleet
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
				verdictIcon(rowVerdict(e)), MD(rowVerdict(e)), MD(outcomeText(row.outcome)), mdN(rowDetail(row), 300))
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
			ver, run := r.rowLinks(e)
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

// fleetText is the report of a manifest run for a terminal.
func (r *Report) fleetText() string {
	var b strings.Builder
	f := r.Fleet
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
			t.add(Plain(rowModel(e)), Plain(e.Label()), Plain(rowChange(e)), rowVerdict(e), outcomeText(row.outcome),
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

// fleetBlocks is the one Slack message of a manifest run: the headline, a
// line per change, the unchanged count, the links.
func (r *Report) fleetBlocks() []slack.Block {
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, headerText(r.Headline(), slackMaxHeader), true, false)),
	}
	if r.NoPolicy {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(":warning: `policy: none`: no checks were run."), nil, nil))
	}
	if r.Error != "" {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(":x: "+Mrkdwn(r.Error, 1500)), nil, nil))
	}
	changes, unchanged := r.Fleet.split()
	var cur []string
	curLen, omitted := 0, 0
	for i, row := range changes {
		e := row.e
		line := fmt.Sprintf("%s *%s* `%s` %s: %s, %s", slackIcon(checkStatusOf(rowVerdict(e))), Mrkdwn(rowModel(e), 100),
			Mrkdwn(e.Label(), 60), Mrkdwn(rowChange(e), 40), Mrkdwn(rowVerdict(e), 10), Mrkdwn(outcomeText(row.outcome), 20))
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
func (r *Report) entryReport(row fleetRow, applied *fleet.EntryResult) *Report {
	e := row.e
	sub := &Report{Command: r.Command, Model: e.Model, Target: e.Target, Plan: e.Plan, Applied: applied.Promote,
		PlanDigest: r.PlanDigest, TrackingURI: r.TrackingURI, Links: Links{WorkflowRun: r.Links.WorkflowRun}}
	sub.Links.Version, sub.Links.Run = r.rowLinks(e)
	switch row.outcome {
	case fleet.OutcomePromoted:
		sub.Outcome = OutcomePromoted
	case fleet.OutcomeConflict:
		sub.Outcome = OutcomeConflict
	default:
		sub.Outcome = OutcomeError
	}
	if row.err != nil {
		sub.Error = row.err.Error()
	}
	return sub
}

// sendFleetDeployments creates a deployment per entry that promote applied
// or tried to apply (an entry in place, or not reached, has none).
func sendFleetDeployments(ctx context.Context, r *Report, s Settings, res *Result) error {
	f := r.Fleet
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
		if err := deployReport(ctx, r.entryReport(row, er), s, res); err != nil {
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
	Model   string `json:"model"`
	Kind    string `json:"kind"`
	Target  string `json:"target"`
	From    string `json:"from"`
	To      string `json:"to"`
	Status  string `json:"status"`
	Verdict string `json:"verdict,omitempty"`
	Outcome string `json:"outcome"`
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

// fleetJSON is the plan of every entry and its outcome, for the report
// file (Report.MarshalJSON).
func (r *Report) fleetJSON() *fleetJSON {
	f := r.Fleet
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
		ej.Links.Version, ej.Links.Run = r.rowLinks(e)
		if row.err != nil {
			ej.Error = row.err.Error()
		}
		if e.Plan != nil {
			ej.Checks = e.Plan.Checks
		}
		v.Entries = append(v.Entries, ej)
	}
	return v
}
