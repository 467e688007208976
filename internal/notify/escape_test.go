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
		r := &notify.Report{Command: "promote", Model: tc.model, Target: tc.target}
		got := []string{r.Marker(), tc.target.Environment(tc.model), tc.target.TagSuffix()}
		if diff := cmp.Diff([]string{tc.marker, tc.env, tc.suffix}, got); diff != "" {
			t.Errorf("%s %+v (-want +got):\n%s", tc.model, tc.target, diff)
		}
	}
	// A registration has a comment of its own per model, whatever the target.
	r := &notify.Report{Command: "register", Model: "fraud --> model"}
	if got, want := r.Marker(), "<!-- mlreg-action model=fraud%20--%3E%20model command=register -->"; got != want {
		t.Errorf("register marker = %q, want %q", got, want)
	}
}
