package notify_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/notify"
)

func TestMrkdwn(t *testing.T) {
	t.Parallel()
	const zw, wj = "\u200b", "\u2060"
	cases := []struct{ in, want string }{
		{"val_auc", "val_auc"},
		{"a & b < c > d", "a &amp; b &lt; c &gt; d"},
		{"<!channel> <!here|here> <@U123> <#C1>", "&lt;!channel&gt; &lt;!here|here&gt; &lt;@U123&gt; &lt;#C1&gt;"},
		{"@here @Channel @everyone @alice", "@" + wj + "here @" + wj + "Channel @" + wj + "everyone @alice"},
		{"*bold* _it_ ~s~ `c`", "*" + zw + "bold*" + zw + " _" + zw + "it_" + zw + " ~" + zw + "s~" + zw + " `" + zw + "c`" + zw},
		{"see https://evil.example", "see https:" + zw + "//evil.example"},
		{"<https://evil.example|click>", "&lt;https:" + zw + "//evil.example|click&gt;"},
		{"two\nlines\r\n\ttab", "two lines   tab"},
		{"bidi \u202Eevil\u202C done", "bidi evil done"},
		{"名前 Модель 🚀", "名前 Модель 🚀"},
		{strings.Repeat("x", 10), "xxxx…"},
	}
	for _, tc := range cases {
		n := 100
		if len(tc.in) == 10 {
			n = 5
		}
		if got := notify.Mrkdwn(tc.in, n); got != tc.want {
			t.Errorf("Mrkdwn(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMD(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"val_auc", `val\_auc`},
		{"a | b", `a \| b`},
		{"<b>x</b> & @here", `&lt;b&gt;x&lt;/b&gt; &amp; &#64;here`},
		{"[x](https://e.example)", `\[x\]\(https&#58;//e.example\)`},
		{"line\nbreak", "line break"},
		{"`code` *em*", "\\`code\\` \\*em\\*"},
	}
	for _, tc := range cases {
		if got := notify.MD(tc.in); got != tc.want {
			t.Errorf("MD(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestMarker: the PR comment marker, the default deployment environment and
// the tag suffix of a report's model and target.
func TestMarker(t *testing.T) {
	t.Parallel()
	cases := []struct {
		model               string
		target              checks.Target
		marker, env, suffix string
	}{
		{"fraud-model", checks.Target{Alias: "champion"}, "<!-- mlreg-action model=fraud-model target=@champion -->", "fraud-model@champion", "alias.champion"},
		{"fraud-model", checks.Target{Stage: "Staging"}, "<!-- mlreg-action model=fraud-model target=stage:Staging -->", "fraud-model/Staging", "stage.Staging"},
		{"m", checks.Target{Alias: "challenger", Stage: "Production"}, "<!-- mlreg-action model=m target=@challenger,stage:Production -->", "m@challenger", "alias.challenger"},
		// A name cannot end the comment or forge another key's marker.
		{"x --> target=@champion <!--", checks.Target{Alias: "canary"}, "<!-- mlreg-action model=x%20--%3E%20target%3D%40champion%20%3C%21-- target=@canary -->", "x --> target=@champion <!--@canary", "alias.canary"},
		{"модель", checks.Target{Alias: "чемпион"}, "<!-- mlreg-action model=%D0%BC%D0%BE%D0%B4%D0%B5%D0%BB%D1%8C target=@%D1%87%D0%B5%D0%BC%D0%BF%D0%B8%D0%BE%D0%BD -->", "модель@чемпион", "alias.чемпион"},
	}
	for _, tc := range cases {
		r := &notify.Report{Command: "promote", Model: tc.model, Target: tc.target, Body: &notify.Promotion{}}
		got := []string{r.Marker(), tc.target.Environment(tc.model), tc.target.TagSuffix()}
		if diff := cmp.Diff([]string{tc.marker, tc.env, tc.suffix}, got); diff != "" {
			t.Errorf("%s %+v (-want +got):\n%s", tc.model, tc.target, diff)
		}
	}
	// A registration has a comment of its own per model, whatever the target.
	r := &notify.Report{Command: "register", Model: "fraud --> model", Body: &notify.Register{}}
	if got, want := r.Marker(), "<!-- mlreg-action model=fraud%20--%3E%20model command=register -->"; got != want {
		t.Errorf("register marker = %q, want %q", got, want)
	}
}

// TestEscapeLog: EscapeLine (one line) and EscapeLines (whole lines).
func TestEscapeLog(t *testing.T) {
	t.Parallel()
	cases := []struct {
		lines    bool
		in, want string
	}{
		{false, "val_auc 0.93 名前 Модель 🚀 C:\\path", "val_auc 0.93 名前 Модель 🚀 C:\\path"},
		{false, "ok\n::warning::x\r\n::add-mask::0.93", `ok\n::warning::x\r\n::add-mask::0.93`},
		{false, "tab\tesc\x1b[31mred\x07 del\x7f nel\u0085", `tab\tesc\u001b[31mred\u0007 del\u007f nel\u0085`},
		{false, "bidi \u202Eexe.txt\u202C \u2066iso\u2069 \u200E\u200F\u061C", `bidi \u202eexe.txt\u202c \u2066iso\u2069 \u200e\u200f\u061c`},
		{false, "zero\u200bwidth\ufeff sep\u2028par\u2029", `zero\u200bwidth\ufeff sep\u2028par\u2029`},
		{false, "tag \U000E0041 outside the BMP", `tag \udb40\udc41 outside the BMP`},
		{false, "##[group]x and ###[error]y", `##\u005bgroup]x and ###\u005berror]y`},
		{false, "::warning::inside a line", "::warning::inside a line"},
		{false, "bad \xff utf-8", "bad \ufffd utf-8"},
		{true, "a report\n  with lines\n", "a report\n  with lines\n"},
		{true, "::warning::x", `\u003a:warning::x`},
		{true, "ok\n::stop-commands::tok\n  ::error::y\n\u00a0\u3000::add-mask::z", "ok\n\\u003a:stop-commands::tok\n  \\u003a:error::y\n\u00a0\u3000\\u003a:add-mask::z"},
		{true, "\t::x\r::y", `\t::x\r::y`}, // an escaped character is no longer white space
		{true, "x ::y\n:z", "x ::y\n:z"},
		{true, "{\n  \"at\": \"a\\nb\u202e ##[group]\"\n}", "{\n  \"at\": \"a\\nb\\u202e ##\\u005bgroup]\"\n}"},
	}
	for _, tc := range cases {
		escape, name := notify.EscapeLine, "EscapeLine"
		if tc.lines {
			escape, name = notify.EscapeLines, "EscapeLines"
		}
		if got := escape(tc.in); got != tc.want {
			t.Errorf("%s(%q) = %q, want %q", name, tc.in, got, tc.want)
		}
	}
}

// TestPlain: terminal text drops what the other formats drop (clean).
func TestPlain(t *testing.T) {
	t.Parallel()
	if got, want := notify.Plain("a\u202eb\u2066c\nd\x1b[31me\u2028f"), "abc d[31me f"; got != want {
		t.Errorf("Plain = %q, want %q", got, want)
	}
}
