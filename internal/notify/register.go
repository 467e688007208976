package notify

import (
	"fmt"
	"strings"

	"github.com/slack-go/slack"
)

// The report of register: the new version, where it came from, its status.

// registerRows are the facts of a registration, label and raw value.
func (r *Report) registerRows() [][2]string {
	g := r.Registered
	rows := [][2]string{{"Source", g.Source}}
	if g.Resolution != "" {
		rows = append(rows, [2]string{"Requested", g.Requested + ": " + g.Resolution})
	}
	if g.RunID != "" {
		rows = append(rows, [2]string{"Run", g.RunID})
	}
	return append(rows, [2]string{"Status", g.Status})
}

func (r *Report) registerMarkdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", MD(r.Headline()))
	if r.Error != "" {
		fmt.Fprintf(&b, "> [!CAUTION]\n> %s\n\n", mdN(r.Error, 1000))
	}
	b.WriteString("| | |\n|---|---|\n")
	for _, row := range r.registerRows() {
		fmt.Fprintf(&b, "| %s | %s |\n", row[0], MD(row[1]))
	}
	b.WriteString("\n")
	b.WriteString(r.markdownLinks())
	return b.String()
}

func (r *Report) registerText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", Plain(r.Headline()))
	if r.Error != "" {
		fmt.Fprintf(&b, "  error: %s\n", Plain(r.Error))
	}
	kv := &textTable{indent: "  "}
	for _, row := range r.registerRows() {
		kv.add(strings.ToLower(row[0]), Plain(row[1]))
	}
	kv.write(&b)
	b.WriteString(r.textLinks())
	return b.String()
}

func (r *Report) registerBlocks() []slack.Block {
	var lines []string
	for _, row := range r.registerRows() {
		lines = append(lines, fmt.Sprintf("*%s* %s", row[0], Mrkdwn(row[1], 500)))
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, headerText(r.Headline(), slackMaxHeader), true, false)),
		slack.NewSectionBlock(mrkdwn(fitSection(strings.Join(lines, "\n"))), nil, nil),
	}
	return append(blocks, r.slackFooter())
}
