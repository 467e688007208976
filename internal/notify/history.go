package notify

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/slack-go/slack"

	"github.com/mlreg/mlreg-action/internal/outcome"
	"github.com/mlreg/mlreg-action/internal/promote"
)

// History is the body of the report of history: for each single target,
// who holds it now, every recorded promotion and rollback, newest first,
// and drift. It goes to the job summary and the report file only: history
// only reads, so it comments nowhere and posts nothing.
type History struct {
	quiet
	Targets []*promote.TargetHistory // nil when the run stopped before it read them
}

func (hs *History) version() string {
	if len(hs.Targets) == 0 {
		return ""
	}
	return hs.Targets[0].Current
}

func (*History) notifies() bool { return false }

// Drift reports whether any target drifted.
func (hs *History) Drift() bool {
	for _, t := range hs.Targets {
		if t.Drift {
			return true
		}
	}
	return false
}

func (hs *History) headline(r *Report) string {
	target := r.Target.Label()
	switch r.Outcome {
	case outcome.Recorded:
		return fmt.Sprintf("📜 %s %s: held by %s, as recorded", r.Model, target, promote.VersionLabel(hs.version()))
	case outcome.Drift:
		return fmt.Sprintf("⚠️ %s %s: drift, moved outside mlreg-action", r.Model, target)
	}
	return r.failedHeadline("") // a history is of targets, not of a version
}

func (hs *History) encode(r *Report, j *reportJSON) { j.History = hs.Targets }

// outputs: the holder of the first target, the version before it, drift.
func (hs *History) outputs(*Report) [][2]string {
	current, previous, drift := "", "", ""
	if len(hs.Targets) > 0 {
		first := hs.Targets[0]
		current, drift = first.Current, fmt.Sprint(hs.Drift())
		if len(first.Entries) > 0 {
			previous = first.Entries[0].PreviousVersion
		}
	}
	return [][2]string{{"model-version", current}, {"previous-version", previous}, {"drift", drift}}
}

// listing is the history in the format asked for, on standard output for
// the steps and scripts that read it: JSON, Markdown (on a terminal; a
// workflow has it in the job summary) or text.
func (hs *History) listing(r *Report, format string, terminal bool) (string, bool, error) {
	if hs.Targets == nil {
		return "", false, nil
	}
	switch format {
	case "json":
		b, err := json.MarshalIndent(hs.Targets, "", "  ")
		if err != nil {
			return "", true, fmt.Errorf("failed to encode the history: %w", err)
		}
		return string(b) + "\n", true, nil
	case "markdown":
		if terminal {
			return r.Markdown() + "\n", true, nil
		}
		return "", true, nil
	}
	return r.Text(), true, nil
}

func (hs *History) blocks(r *Report) []slack.Block { return bareBlocks(r) }

// text is the history for a terminal (history's format: text).
func (hs *History) text(r *Report) string {
	if hs.Targets == nil {
		return bareText(r)
	}
	var b strings.Builder
	for _, h := range hs.Targets {
		fmt.Fprintf(&b, "%s of %s: held by %s", Plain(h.Target.Label()), Plain(r.Model), Plain(promote.VersionLabel(h.Current)))
		if h.Drift {
			fmt.Fprintf(&b, " (DRIFT: last recorded %s)", Plain(promote.VersionLabel(h.Recorded)))
		}
		b.WriteString("\n")
		if len(h.Entries) == 0 {
			b.WriteString("  no promotions recorded by mlreg-action\n\n")
			continue
		}
		t := &textTable{indent: "  ", header: []string{"AT", "ACTION", "VERSION", "PREVIOUS", "BY", "RUN"},
			value: map[int]bool{0: true, 1: true, 2: true, 3: true}}
		for _, e := range h.Entries {
			t.add(Plain(e.At), Plain(e.Action), Plain(promote.VersionLabel(e.Version)), Plain(promote.VersionLabel(e.PreviousVersion)),
				dash(Plain(e.By)), dash(Plain(e.RunURL)))
		}
		t.write(&b)
		b.WriteString("\n")
	}
	return b.String()
}

// markdown is the history for the job summary (and history's format:
// markdown).
func (hs *History) markdown(r *Report) string {
	if hs.Targets == nil {
		return bareMarkdown(r)
	}
	var b strings.Builder
	for _, h := range hs.Targets {
		fmt.Fprintf(&b, "### %s of %s: held by %s\n\n", MD(h.Target.Label()), MD(r.Model), MD(promote.VersionLabel(h.Current)))
		if msg := h.DriftMessage(r.Model); msg != "" {
			fmt.Fprintf(&b, "> [!WARNING]\n> Drift: %s\n\n", MD(msg))
		}
		if len(h.Entries) == 0 {
			b.WriteString("No promotions recorded by mlreg-action.\n\n")
			continue
		}
		b.WriteString("| At | Action | Version | Previous | By | Run |\n|---|---|---|---|---|---|\n")
		for _, e := range h.Entries {
			run := MD(dash(e.RunURL))
			if r.trustedRunURL(e.RunURL) {
				run = fmt.Sprintf("[run](%s)", linkURL(e.RunURL))
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", MD(e.At), MD(e.Action),
				MD(promote.VersionLabel(e.Version)), MD(promote.VersionLabel(e.PreviousVersion)), MD(dash(e.By)), run)
		}
		b.WriteString("\n")
	}
	return b.String()
}

var actionsRunPath = regexp.MustCompile(`^/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/actions/runs/[0-9]+(/attempts/[0-9]+)?$`)

// trustedRunURL reports whether a run URL read from the registry is a
// workflow run on this run's GitHub server, and so may be a link: a
// history entry is a tag anyone with write access to the registry can
// write, and registry text never becomes a link elsewhere.
func (r *Report) trustedRunURL(s string) bool {
	own, err := url.Parse(r.Links.WorkflowRun)
	if err != nil || own.Host == "" || s == "" {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == own.Scheme && u.Host == own.Host && u.User == nil &&
		u.RawQuery == "" && u.Fragment == "" && actionsRunPath.MatchString(u.Path)
}
