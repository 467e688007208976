package notify

import (
	"fmt"
	"strings"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// maxCell bounds text from the registry in one table cell.
const maxCell = 200

// maxMarkdown keeps the report well under GitHub's 65,536-character limit for
// a comment body (the job summary allows 1 MiB); checks past it are counted,
// not listed.
const maxMarkdown = 60000

var mdReplacer = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;", // no HTML
	"\\", "\\\\", "`", "\\`", "*", "\\*", "_", "\\_", "{", "\\{", "}", "\\}",
	"[", "\\[", "]", "\\]", "(", "\\(", ")", "\\)", "#", "\\#", "+", "\\+",
	"!", "\\!", "|", "\\|", "~", "\\~", "$", "\\$",
	"@", "&#64;", // no @mentions or @channel-style pings
	"://", "&#58;//", // no autolinks
	"\r\n", " ", "\n", " ", "\r", " ", "\t", " ",
)

// MD escapes text that comes from the registry or the repository so it renders
// as plain text in GitHub Markdown: no HTML, links, mentions, emphasis or table breaks.
func MD(s string) string { return mdN(s, maxCell) }

func mdN(s string, n int) string { return mdReplacer.Replace(registry.Truncate(clean(s), n)) }

func statusIcon(status string) string {
	switch status {
	case checks.StatusPass:
		return "✅"
	case checks.StatusFail:
		return "❌"
	default:
		return "➖"
	}
}

// mdHead is the heading of a report: the headline, then the warning of
// policy: none and the error, if any.
func mdHead(r *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", MD(r.Headline()))
	if r.NoPolicy {
		b.WriteString("> [!WARNING]\n> Promoted with `policy: none`: no checks were run.\n\n")
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "> [!CAUTION]\n> %s\n\n", mdN(r.Error, 1000))
	}
	return b.String()
}

// bareMarkdown is the report of a run that stopped before its body had
// anything to show: the heading and the links.
func bareMarkdown(r *Report) string { return mdHead(r) + r.markdownLinks() }

// markdown renders a promotion for the job summary and the PR comment: the
// verdict, the plan, every check, the chart, and the links.
func (pm *Promotion) markdown(r *Report) string {
	var b strings.Builder
	b.WriteString(mdHead(r))
	p := pm.Plan
	if p != nil {
		b.WriteString("| | |\n|---|---|\n")
		moves := p.Moves()
		for i := range moves {
			moves[i] = codeSpan(moves[i])
		}
		fmt.Fprintf(&b, "| Plan | %s |\n", strings.Join(moves, "<br>"))
		cand := "v" + MD(p.Candidate.Version)
		if p.Candidate.RunID != "" {
			cand += " from run " + MD(p.Candidate.RunID)
		}
		fmt.Fprintf(&b, "| Candidate | %s |\n", cand)
		if p.Champion != nil {
			fmt.Fprintf(&b, "| Champion | v%s |\n", MD(p.Champion.Version))
		}
		if pm.Applied != nil && len(pm.Applied.Notes) > 0 {
			fmt.Fprintf(&b, "| Notes | %s |\n", MD(strings.Join(pm.Applied.Notes, "; ")))
		}
		if p.PolicyFile != "" {
			fmt.Fprintf(&b, "| Policy | %s (`%s`) |\n", MD(p.PolicyFile), short(p.PolicyDigest))
		}
		if len(p.Rules) > 0 {
			rules := make([]string, len(p.Rules))
			for i, n := range p.Rules {
				rules[i] = MD(n)
			}
			fmt.Fprintf(&b, "| Rules | %s |\n", strings.Join(rules, ", "))
		}
		pass, fail, skip := pm.counts()
		fmt.Fprintf(&b, "| Verdict | **%s**: %d passed, %d failed, %d skipped |\n", MD(p.Verdict), pass, fail, skip)
		if r.PlanDigest != "" {
			fmt.Fprintf(&b, "| Plan digest | `%s` |\n", short(r.PlanDigest))
		}
		b.WriteString("\n")
		checkTable(&b, p, maxMarkdown-8000)
		b.WriteString(chart(p))
	}
	b.WriteString(r.markdownLinks())
	return b.String()
}

// checkTable writes the table of p's checks, if any; past limit bytes of
// b, the checks left are counted, not listed.
func checkTable(b *strings.Builder, p *promote.Plan, limit int) {
	if len(p.Checks) == 0 {
		return
	}
	champ := "Champion"
	if p.Champion != nil {
		champ += " (v" + MD(p.Champion.Version) + ")"
	}
	fmt.Fprintf(b, "| | Rule | Check | Value | Bound | %s | Delta | Result |\n", champ)
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for i, c := range p.Checks {
		if b.Len() > limit {
			fmt.Fprintf(b, "| ➖ | | %d more checks: see the report file or the step log | | | | | |\n", len(p.Checks)-i)
			break
		}
		result := c.Status
		if c.Reason != "" {
			result += ": " + c.Reason
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n",
			statusIcon(c.Status), MD(c.Rule), MD(c.Name)+" ("+MD(c.Kind)+")", MD(c.Value), MD(c.Bound),
			MD(c.Champion), MD(c.Delta), MD(result))
	}
	b.WriteString("\n")
}

// markdownLinks is the last line: the MLflow version and run pages, the
// workflow run.
func (r *Report) markdownLinks() string {
	var links []string
	if r.Links.Version != "" {
		label := r.versionLabel()
		if v := r.Version(); v != "" {
			label += " v" + MD(v)
		}
		links = append(links, fmt.Sprintf("[%s](%s)", label, linkURL(r.Links.Version)))
	}
	if r.Links.Run != "" {
		links = append(links, fmt.Sprintf("[MLflow run](%s)", linkURL(r.Links.Run)))
	}
	if r.Links.WorkflowRun != "" {
		links = append(links, fmt.Sprintf("[workflow run](%s)", linkURL(r.Links.WorkflowRun)))
	}
	if len(links) == 0 {
		return ""
	}
	return strings.Join(links, " · ") + "\n"
}

// short abbreviates a "sha256:<hex>" digest for display.
func short(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}

// linkURL makes a URL safe inside a Markdown link destination.
func linkURL(u string) string {
	return strings.NewReplacer("(", "%28", ")", "%29", " ", "%20", "<", "%3C", ">", "%3E", "@", "%40", "\n", "", "\r", "").Replace(u)
}
