package notify

import (
	"fmt"
	"strings"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// Plain makes registry text safe for a terminal as the other formats make
// it (clean): no control characters (so no escape sequences), no
// bidirectional controls, one line, bounded length.
func Plain(s string) string { return plainN(s, maxCell) }

// plainN is Plain, bounded to n runes: for a cell that wraps rather than
// being cut (an error, a reason), a table's last column.
func plainN(s string, n int) string { return registry.Truncate(clean(s), n) }

// maxWrapped bounds the text of a cell that wraps.
const maxWrapped = 1000

// bareText is the report of a run that stopped before its body had
// anything to show: the head and the links.
func bareText(r *Report) string {
	var b strings.Builder
	r.textHead(&b)
	b.WriteString(r.textLinks())
	return b.String()
}

// text renders a promotion for a terminal.
func (pm *Promotion) text(r *Report) string {
	var b strings.Builder
	r.textHead(&b)
	kv := &textTable{indent: "  "}
	if p := pm.Plan; p != nil {
		for _, m := range p.Moves() {
			kv.add("plan", Plain(m))
		}
		if pm.Applied != nil {
			for _, n := range pm.Applied.Notes {
				kv.add("note", Plain(n))
			}
		}
		if p.PolicyFile != "" {
			kv.add("policy", fmt.Sprintf("%s (%s)", Plain(p.PolicyFile), short(p.PolicyDigest)))
		}
		if rule, ok := oneRule(p.Checks); ok {
			kv.add("rule", Plain(rule))
		}
		pass, fail, skip := pm.counts()
		kv.add("verdict", fmt.Sprintf("%s: %d passed, %d failed, %d skipped", p.Verdict, pass, fail, skip))
		if r.PlanDigest != "" {
			kv.add("digest", r.PlanDigest)
		}
	}
	kv.write(&b)
	if p := pm.Plan; p != nil && len(p.Checks) > 0 {
		b.WriteString("\n")
		checksText(&b, "  ", p.Checks)
	}
	b.WriteString(r.textLinks())
	return b.String()
}

// oneRule is the rule of every check, when they all come from one.
func oneRule(cs []checks.Check) (string, bool) {
	if len(cs) == 0 {
		return "", false
	}
	for _, c := range cs[1:] {
		if c.Rule != cs[0].Rule {
			return "", false
		}
	}
	return cs[0].Rule, true
}

// checksText is the table of checks, each with its evidence. The rule is a
// column when the checks come from several rules; from one, the caller
// names it above the table (oneRule), which leaves room for the rest.
func checksText(b *strings.Builder, indent string, cs []checks.Check) {
	_, one := oneRule(cs)
	t := &textTable{indent: indent, header: []string{"RESULT", "RULE", "CHECK", "VALUE", "BOUND", "CHAMPION", "DELTA", "REASON"},
		value: map[int]bool{0: true, 3: true, 4: true, 5: true, 6: true}}
	for _, c := range cs {
		t.add(c.Status, Plain(c.Rule), fmt.Sprintf("%s (%s)", Plain(c.Name), c.Kind),
			Plain(c.Value), Plain(c.Bound), dash(Plain(c.Champion)), dash(Plain(c.Delta)), plainN(c.Reason, maxWrapped))
	}
	if one {
		t.drop(1)
	}
	t.write(b)
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
