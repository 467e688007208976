package notify

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/mlreg/mlreg-action/internal/checks"
)

// Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks).
const (
	slackMaxBlocks  = 50
	slackMaxSection = 3000 // characters in a section's text
	slackMaxHeader  = 150  // characters in a header's plain_text
	slackMaxContext = 2000 // characters in one context element (kept well under)
)

func mrkdwn(text string) *slack.TextBlockObject {
	// verbatim: Slack neither links URLs and channel names nor parses
	// mentions in it; Mrkdwn escaping covers the rest.
	return slack.NewTextBlockObject(slack.MarkdownType, text, false, true)
}

// SlackText is the message's fallback text (notifications, screen readers).
func (r *Report) SlackText() string { return Mrkdwn(r.Headline(), 300) }

// headerBlock is a message's first block: the headline.
func headerBlock(r *Report) slack.Block {
	return slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, headerText(r.Headline(), slackMaxHeader), true, false))
}

// bareBlocks is the message of a run that stopped before its body had
// anything to show: the headline, the warning of policy: none, the error,
// the links.
func bareBlocks(r *Report) []slack.Block { return (&Promotion{}).blocks(r) }

// blocks renders a promotion as Block Kit blocks within Slack's limits: a
// header with the verdict, the plan, one line per check, and the links.
func (pm *Promotion) blocks(r *Report) []slack.Block {
	blocks := []slack.Block{headerBlock(r)}
	var summary []string
	if r.NoPolicy {
		summary = append(summary, ":warning: Promoted with `policy: none`: no checks were run.")
	}
	if p := pm.Plan; p != nil {
		moves := p.Moves()
		for i := range moves {
			moves[i] = "`" + Mrkdwn(moves[i], 200) + "`"
		}
		summary = append(summary, "*Plan* "+strings.Join(moves, "  "))
		pass, fail, skip := pm.counts()
		summary = append(summary, fmt.Sprintf("*Verdict* %s: %d passed, %d failed, %d skipped", Mrkdwn(p.Verdict, 20), pass, fail, skip))
		if p.PolicyFile != "" {
			pol := "*Policy* " + Mrkdwn(p.PolicyFile, 200)
			if len(p.Rules) > 0 {
				names := make([]string, 0, len(p.Rules))
				for _, n := range p.Rules {
					names = append(names, Mrkdwn(n, 100))
				}
				pol += " (" + strings.Join(names, ", ") + ")"
			}
			summary = append(summary, pol)
		}
	}
	if len(summary) > 0 {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(fitSection(strings.Join(summary, "\n"))), nil, nil))
	}
	if r.Error != "" {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(":x: "+Mrkdwn(r.Error, 1500)), nil, nil))
	}

	if p := pm.Plan; p != nil && len(p.Checks) > 0 {
		blocks = append(blocks, slack.NewDividerBlock())
		// Room for check sections, keeping one block for a "more checks"
		// note and one for the links.
		room := slackMaxBlocks - len(blocks) - 2
		var cur []string
		curLen, omitted := 0, 0
		for i, c := range p.Checks {
			line := slackCheckLine(c)
			n := utf8.RuneCountInString(line) + 1
			if curLen+n > slackMaxSection {
				if room == 1 {
					omitted = len(p.Checks) - i
					break
				}
				blocks = append(blocks, slack.NewSectionBlock(mrkdwn(strings.Join(cur, "\n")), nil, nil))
				room--
				cur, curLen = nil, 0
			}
			cur = append(cur, line)
			curLen += n
		}
		if len(cur) > 0 {
			blocks = append(blocks, slack.NewSectionBlock(mrkdwn(strings.Join(cur, "\n")), nil, nil))
		}
		if omitted > 0 {
			blocks = append(blocks, slack.NewContextBlock("", mrkdwn(fmt.Sprintf("%d more checks: see the job summary of the workflow run.", omitted))))
		}
	}

	return append(blocks, r.slackFooter())
}

// slackFooter is the last block: the links and the plan digest.
func (r *Report) slackFooter() slack.Block {
	var ctx []slack.MixedElement
	var links []string
	if r.Links.Version != "" {
		label := r.versionLabel()
		if v := r.Version(); v != "" {
			label += " v" + Mrkdwn(v, 20)
		}
		links = append(links, fmt.Sprintf("<%s|%s>", slackURL(r.Links.Version), label))
	}
	if r.Links.Run != "" {
		links = append(links, fmt.Sprintf("<%s|MLflow run>", slackURL(r.Links.Run)))
	}
	if r.Links.WorkflowRun != "" {
		links = append(links, fmt.Sprintf("<%s|workflow run>", slackURL(r.Links.WorkflowRun)))
	}
	footer := "mlreg-action"
	if r.PlanDigest != "" {
		footer += " · plan digest `" + short(r.PlanDigest) + "`"
	}
	if joined := fitLinks(links, slackMaxContext); joined != "" {
		// Links are ours (tracking URI and run URL), so they are not verbatim.
		ctx = append(ctx, slack.NewTextBlockObject(slack.MarkdownType, joined, false, false))
	}
	ctx = append(ctx, mrkdwn(footer))
	return slack.NewContextBlock("", ctx...)
}

// fitLinks joins the links that fit in n characters, leaving out whole
// links: a link cut short (a long model name in its URL) would leave an
// unclosed <url|text> that Slack shows as raw text.
func fitLinks(links []string, n int) string {
	var out []string
	size := 0
	for _, l := range links {
		add := utf8.RuneCountInString(l)
		if len(out) > 0 {
			add += len(" · ")
		}
		if size+add > n {
			continue
		}
		out = append(out, l)
		size += add
	}
	return strings.Join(out, " · ")
}

// slackCheckLine is one check: icon, name, value, bound, champion, delta, reason.
// Each piece is cut before escaping, so a line stays far below a section's limit.
func slackCheckLine(c checks.Check) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s *%s* (%s) %s", slackIcon(c.Status), Mrkdwn(c.Name, 80), Mrkdwn(c.Kind, 20), Mrkdwn(orDash(c.Value), 60))
	if c.Bound != "" {
		fmt.Fprintf(&b, ", want %s", Mrkdwn(c.Bound, 60))
	}
	if c.Champion != "" {
		fmt.Fprintf(&b, ", champion %s", Mrkdwn(c.Champion, 40))
	}
	if c.Delta != "" {
		fmt.Fprintf(&b, ", Δ %s", Mrkdwn(c.Delta, 40))
	}
	if c.Reason != "" {
		fmt.Fprintf(&b, ": %s", Mrkdwn(c.Reason, 150))
	}
	if c.Rule != "" {
		fmt.Fprintf(&b, " · rule %s", Mrkdwn(c.Rule, 60))
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func slackIcon(status string) string {
	switch status {
	case checks.StatusPass:
		return ":white_check_mark:"
	case checks.StatusFail:
		return ":x:"
	default:
		return ":heavy_minus_sign:"
	}
}

// fitSection cuts already-escaped text to a section's limit at a line break.
func fitSection(s string) string {
	if utf8.RuneCountInString(s) <= slackMaxSection {
		return s
	}
	r := []rune(s)[:slackMaxSection-1]
	if i := strings.LastIndex(string(r), "\n"); i > 0 {
		return string(r)[:i] + "\n…"
	}
	return string(r) + "…"
}
