package notify

import (
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/mlreg/mlreg-action/internal/outcome"
)

// Register is the body of the report of register: the new version, where
// it came from, its status. A PR comment of its own per model, a Slack
// message per version, no deployment.
type Register struct {
	quiet
	Registered *Registration // nil when the run stopped before it had a version
}

func (g *Register) version() string {
	if g.Registered == nil {
		return ""
	}
	return g.Registered.Version
}

func (g *Register) headline(r *Report) string {
	v := versionSuffix(g.version())
	switch r.Outcome {
	case outcome.Registered, outcome.Reused:
		from := ""
		if reg := g.Registered; reg != nil && reg.RunID != "" {
			from = " from run " + reg.RunID
		} else if reg != nil {
			from = " from " + reg.Source
		}
		if r.Outcome == outcome.Reused {
			return fmt.Sprintf("📦 %s%s already registered%s by this workflow run", r.Model, v, from)
		}
		return fmt.Sprintf("📦 %s%s registered%s", r.Model, v, from)
	}
	return r.failedHeadline(g.version())
}

// marker is <!-- mlreg-action model=<name> command=register -->: one
// comment per model for its registrations.
func (g *Register) marker(r *Report) string {
	return fmt.Sprintf("<!-- mlreg-action model=%s command=register -->", markerEscape(r.Model))
}

// rows are the facts of a registration, label and raw value.
func (g *Register) rows() [][2]string {
	reg := g.Registered
	rows := [][2]string{{"Source", reg.Source}}
	if reg.Resolution != "" {
		rows = append(rows, [2]string{"Requested", reg.Requested + ": " + reg.Resolution})
	}
	if reg.RunID != "" {
		rows = append(rows, [2]string{"Run", reg.RunID})
	}
	return append(rows, [2]string{"Status", reg.Status})
}

func (g *Register) markdown(r *Report) string {
	var b strings.Builder
	b.WriteString(mdHead(r))
	if g.Registered != nil {
		b.WriteString("| | |\n|---|---|\n")
		for _, row := range g.rows() {
			fmt.Fprintf(&b, "| %s | %s |\n", row[0], MD(row[1]))
		}
		b.WriteString("\n")
	}
	b.WriteString(r.markdownLinks())
	return b.String()
}

func (g *Register) text(r *Report) string {
	var b strings.Builder
	r.textHead(&b)
	if g.Registered != nil {
		kv := &textTable{indent: "  "}
		for _, row := range g.rows() {
			kv.add(strings.ToLower(row[0]), Plain(row[1]))
		}
		kv.write(&b)
	}
	b.WriteString(r.textLinks())
	return b.String()
}

func (g *Register) blocks(r *Report) []slack.Block {
	if g.Registered == nil {
		return bareBlocks(r)
	}
	var lines []string
	for _, row := range g.rows() {
		lines = append(lines, fmt.Sprintf("*%s* %s", row[0], Mrkdwn(row[1], 500)))
	}
	return []slack.Block{headerBlock(r), slack.NewSectionBlock(mrkdwn(fitSection(strings.Join(lines, "\n"))), nil, nil), r.slackFooter()}
}

func (g *Register) encode(r *Report, j *reportJSON) { j.Registered = g.Registered }

// outputs: the version, its URI, and whether this run registered it.
func (g *Register) outputs(r *Report) [][2]string {
	version, uri, changed := "", "", false
	if reg := g.Registered; reg != nil {
		version, uri, changed = reg.Version, fmt.Sprintf("models:/%s/%s", r.Model, reg.Version), !reg.Reused
	}
	return [][2]string{
		{"model-version", version},
		{"model-uri", uri},
		{"changed", fmt.Sprint(changed)},
	}
}

// slackThread: one message per registered version, in the version's tag
// SlackRegisterTag, which a rerun that reuses the version edits.
func (g *Register) slackThread(r *Report) (slackThread, bool) {
	if g.Registered == nil {
		return slackThread{}, false
	}
	return slackThread{tag: SlackRegisterTag, model: r.Model, version: g.Registered.Version, noun: "registration",
		digest: func(map[string]string, Settings) string { return r.PlanDigest }}, true
}
