package notify

import (
	"fmt"
	"strings"
	"text/tabwriter"
)

// Plain makes registry text safe for a terminal as the other formats make
// it (clean): no control characters (so no escape sequences), no
// bidirectional controls, one line, bounded length.
func Plain(s string) string { return truncate(clean(s), maxCell) }

// Text renders the report for a terminal.
func (r *Report) Text() string {
	switch {
	case r.Fleet != nil:
		return r.fleetText()
	case r.History != nil:
		return r.historyText()
	case r.Registered != nil:
		return r.registerText()
	}
	var b strings.Builder
	r.textHead(&b)
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	if p := r.Plan; p != nil {
		for _, m := range p.Moves() {
			fmt.Fprintf(tw, "  plan\t%s\n", Plain(m))
		}
		if r.Applied != nil {
			for _, n := range r.Applied.Notes {
				fmt.Fprintf(tw, "  note\t%s\n", Plain(n))
			}
		}
		if p.PolicyFile != "" {
			fmt.Fprintf(tw, "  policy\t%s (%s)\n", Plain(p.PolicyFile), short(p.PolicyDigest))
		}
		pass, fail, skip := r.counts()
		fmt.Fprintf(tw, "  verdict\t%s: %d passed, %d failed, %d skipped\n", p.Verdict, pass, fail, skip)
		if r.PlanDigest != "" {
			fmt.Fprintf(tw, "  digest\t%s\n", r.PlanDigest)
		}
	}
	_ = tw.Flush() // into a strings.Builder, which cannot fail
	if p := r.Plan; p != nil && len(p.Checks) > 0 {
		b.WriteString("\n")
		tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  RESULT\tRULE\tCHECK\tVALUE\tBOUND\tCHAMPION\tDELTA\tREASON")
		for _, c := range p.Checks {
			fmt.Fprintf(tw, "  %s\t%s\t%s (%s)\t%s\t%s\t%s\t%s\t%s\n", c.Status, Plain(c.Rule), Plain(c.Name), c.Kind,
				Plain(c.Value), Plain(c.Bound), dash(Plain(c.Champion)), dash(Plain(c.Delta)), Plain(c.Reason))
		}
		_ = tw.Flush() // into a strings.Builder, which cannot fail
	}
	b.WriteString(r.textLinks())
	return b.String()
}

// textHead is the headline, and the warning and the error under it.
func (r *Report) textHead(b *strings.Builder) {
	fmt.Fprintf(b, "%s\n", Plain(r.Headline()))
	if r.NoPolicy {
		b.WriteString("  WARNING: policy none: no checks were run\n")
	}
	if r.Error != "" {
		fmt.Fprintf(b, "  error: %s\n", Plain(r.Error))
	}
}

// textLinks lists the links after a blank line.
func (r *Report) textLinks() string {
	var b strings.Builder
	links := [][2]string{{"version", r.Links.Version}, {"run", r.Links.Run}, {"workflow", r.Links.WorkflowRun}}
	first := true
	for _, l := range links {
		if l[1] == "" {
			continue
		}
		if first {
			b.WriteString("\n")
			first = false
		}
		fmt.Fprintf(&b, "  %-8s  %s\n", l[0], Plain(l[1]))
	}
	return b.String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
