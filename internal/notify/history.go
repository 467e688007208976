package notify

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// The report of history: for each single target, who holds it now, every
// recorded promotion and rollback, newest first, and drift.

func verOrNone(v string) string {
	if v == "" {
		return "none"
	}
	return "v" + v
}

// historyText is the history for a terminal (history's format: text).
func (r *Report) historyText() string {
	var b strings.Builder
	for _, h := range r.History {
		fmt.Fprintf(&b, "%s of %s: held by %s", Plain(h.Target.Label()), Plain(r.Model), Plain(verOrNone(h.Current)))
		if h.Drift {
			fmt.Fprintf(&b, " (DRIFT: last recorded %s)", Plain(verOrNone(h.Recorded)))
		}
		b.WriteString("\n")
		if len(h.Entries) == 0 {
			b.WriteString("  no promotions recorded by mlreg-action\n\n")
			continue
		}
		t := &textTable{indent: "  ", header: []string{"AT", "ACTION", "VERSION", "PREVIOUS", "BY", "RUN"},
			value: map[int]bool{0: true, 1: true, 2: true, 3: true}}
		for _, e := range h.Entries {
			t.add(Plain(e.At), Plain(e.Action), Plain(verOrNone(e.Version)), Plain(verOrNone(e.PreviousVersion)),
				dash(Plain(e.By)), dash(Plain(e.RunURL)))
		}
		t.write(&b)
		b.WriteString("\n")
	}
	return b.String()
}

// historyMarkdown is the history for the job summary (and history's
// format: markdown).
func (r *Report) historyMarkdown() string {
	var b strings.Builder
	for _, h := range r.History {
		fmt.Fprintf(&b, "### %s of %s: held by %s\n\n", MD(h.Target.Label()), MD(r.Model), MD(verOrNone(h.Current)))
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
				MD(verOrNone(e.Version)), MD(verOrNone(e.PreviousVersion)), MD(dash(e.By)), run)
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
