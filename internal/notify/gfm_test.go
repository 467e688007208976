package notify_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer/html"
)

// gfm renders Markdown as GitHub does before sanitizing: GFM tables,
// autolinks and strikethrough, raw HTML passed through, so that any text the
// escaping let through shows up as markup.
var gfm = goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithRendererOptions(html.WithUnsafe()))

var (
	hrefRE   = regexp.MustCompile(`href="([^"]*)"`)
	rowRE    = regexp.MustCompile(`(?s)<tr>(.*?)</tr>`)
	cellRE   = regexp.MustCompile(`<t[dh][ >]`)
	strongRE = regexp.MustCompile(`<strong>(.*?)</strong>`)
)

// Every report, parsed as GitHub Flavored Markdown: only our links, only our
// emphasis, no HTML from the registry, and every table row of full width.
func TestMarkdownRendersSafely(t *testing.T) {
	t.Parallel()
	for name, r := range reports() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			md := r.CommentBody()
			var out bytes.Buffer
			if err := gfm.Convert([]byte(md), &out); err != nil {
				t.Fatal(err)
			}
			h := out.String()
			// Every escaped | is text in a cell; a bare one would have split
			// the cell (GFM drops the cells past the header's width).
			if esc, shown := strings.Count(md, `\|`), strings.Count(h, "|"); esc != shown {
				t.Errorf("%d escaped pipes in the Markdown, %d in the text", esc, shown)
			}
			for _, m := range hrefRE.FindAllStringSubmatch(h, -1) {
				if !strings.HasPrefix(m[1], tracking+"/#/") && m[1] != runURL {
					t.Errorf("link to %q", m[1])
				}
			}
			for _, bad := range []string{"<script", "<b>", "<em>", "<del>", "<code>code", "<h1", "<img", "<!channel>"} {
				if strings.Contains(h, bad) {
					t.Errorf("rendered HTML has %q", bad)
				}
			}
			for _, m := range strongRE.FindAllStringSubmatch(h, -1) {
				if m[1] != "pass" && m[1] != "fail" && m[1] != "skipped" {
					t.Errorf("emphasis from the registry: <strong>%s</strong>", m[1])
				}
			}
			for _, table := range strings.Split(h, "<table>")[1:] {
				table, _, ok := strings.Cut(table, "</table>")
				if !ok {
					t.Errorf("a table is not closed: %s", truncateForLog(table))
					continue
				}
				rows := rowRE.FindAllStringSubmatch(table, -1)
				width := len(cellRE.FindAllString(rows[0][1], -1))
				for _, row := range rows {
					if n := len(cellRE.FindAllString(row[1], -1)); n != width {
						t.Errorf("table row has %d cells, the header %d: %s", n, width, truncateForLog(row[1]))
					}
				}
			}
			if strings.Count(h, `<pre><code class="language-mermaid">`) != strings.Count(h, "<pre>") {
				t.Errorf("a code block that is not a chart")
			}
		})
	}
}
