package notify

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/mlreg/mlreg-action/internal/registry"
)

// clean makes text from the registry or the repository safe to lay out: line
// breaks (Unicode's line and paragraph separators too) and tabs become spaces, and control characters and bidirectional
// overrides (which can reorder what a reader sees) are dropped.
func clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "�")
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t' || r == '\u2028' || r == '\u2029':
			b.WriteByte(' ')
		case unicode.IsControl(r), isBidi(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isBidi reports whether r is a bidirectional formatting character: the
// embeddings, overrides and isolates, and the marks (U+200E, U+200F, U+061C).
func isBidi(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 || r == 0x200E || r == 0x200F || r == 0x061C
}

// EscapeLine shows text from the registry, an artifact store or the
// repository inside one line of a log or a terminal, where it must neither
// start a line of its own nor act on the reader's screen:
//
//   - line breaks, tabs and every other control character (C0, DEL, C1),
//     Unicode's line and paragraph separators, and format characters (the
//     bidirectional controls such as U+202E, zero-width characters, the
//     byte order mark) are shown escaped: \n, \r, \t, \u202e;
//   - "##[", which starts a GitHub Actions runner's legacy workflow command
//     wherever it is in a line, is shown as ##\u005b.
//
// Nothing else changes, and every escape is also a JSON string escape.
func EscapeLine(s string) string { return escapeLog(s, false) }

// EscapeLines is EscapeLine for whole lines of output, such as a report or
// history's JSON: line breaks stay, and a line whose first character after
// leading white space is "::", which the runner reads as a workflow command
// (::warning::, ::add-mask::, ::stop-commands::), has that colon shown as
// \u003a. JSON stays valid and decodes to the same values, since the
// escapes it gets can only fall inside its strings.
func EscapeLines(s string) string { return escapeLog(s, true) }

func escapeLog(s string, lines bool) string {
	if isLogSafe(s, lines) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	lineStart := lines // nothing but white space since the start of the line
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\n' && lines:
			b.WriteByte('\n')
			i++
			lineStart = true
			continue
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case isLogHidden(r):
			writeEscape(&b, r)
		case lineStart && strings.HasPrefix(s[i:], "::"):
			b.WriteString(`\u003a`)
		case strings.HasPrefix(s[i:], "##["):
			b.WriteString(`##\u005b`)
			size = len("##[")
		default:
			b.WriteString(s[i : i+size])
		}
		// The runner trims what .NET calls white space (Go's unicode.IsSpace)
		// before it looks for "::"; escaped characters are no longer blank.
		lineStart = lineStart && unicode.IsSpace(r) && !isLogHidden(r)
		i += size
	}
	return b.String()
}

// isLogSafe reports whether escapeLog would leave s as it is.
func isLogSafe(s string, lines bool) bool {
	if strings.Contains(s, "##[") || strings.Contains(s, "::") && lines {
		return false
	}
	for _, r := range s {
		if r == utf8.RuneError || isLogHidden(r) && !(lines && r == '\n') {
			return false
		}
	}
	return true
}

// isLogHidden reports whether a log shows r escaped: a control character, a
// format character (Cf, the bidirectional controls among them) or a line or
// paragraph separator.
func isLogHidden(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}

// writeEscape writes r as a JSON string escape: \n, \r and \t by name,
// anything else as \uXXXX (a surrogate pair above U+FFFF).
func writeEscape(b *strings.Builder, r rune) {
	switch r {
	case '\n':
		b.WriteString(`\n`)
	case '\r':
		b.WriteString(`\r`)
	case '\t':
		b.WriteString(`\t`)
	default:
		if r > 0xFFFF {
			hi, lo := utf16.EncodeRune(r)
			fmt.Fprintf(b, `\u%04x\u%04x`, hi, lo)
			return
		}
		fmt.Fprintf(b, `\u%04x`, r)
	}
}

// plainText readies text for a Slack plain_text object or a GitHub deployment
// description: one line, at most n characters. Neither format parses
// mentions, links or markup.
func plainText(s string, n int) string { return registry.Truncate(clean(s), n) }

const (
	zwsp       = "\u200b" // zero-width space: keeps Slack from pairing formatting characters
	wordJoiner = "\u2060" // keeps Slack from reading @here and friends as a mention
)

var mrkdwnReplacer = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;", // Slack's three control characters: no <!channel>, no <url|text> links
	"://", ":"+zwsp+"//", // no automatic links
)

var mentionWords = []string{"channel", "here", "everyone"}

// Mrkdwn escapes text from the registry or the repository for Slack's mrkdwn:
// it shows as written but cannot mention anyone (<!channel>, @here), open a
// link or change the formatting. The text is cut to n characters first.
//
// Slack has no escape for *, _, ~ and `; a zero-width space after each keeps
// Slack from pairing it. Only an underscore inside a word is left alone
// (val_auc stays as is): a name holds one often, and a * or ~ seldom, so
// those get the space wherever they are (v*bold*0 must not turn bold).
func Mrkdwn(s string, n int) string {
	s = breakMentions(mrkdwnReplacer.Replace(registry.Truncate(clean(s), n)))
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range rs {
		b.WriteRune(r)
		if !strings.ContainsRune("*_~`", r) {
			continue
		}
		inWord := r == '_' && i > 0 && i+1 < len(rs) && isWordRune(rs[i-1]) && isWordRune(rs[i+1])
		if !inWord {
			b.WriteString(zwsp)
		}
	}
	return b.String()
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// breakMentions puts a word joiner after the @ of @channel, @here and
// @everyone, and after the < of <!...> and <@...>.
func breakMentions(s string) string {
	if !strings.ContainsAny(s, "@<") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		switch s[i] {
		case '@':
			rest := strings.ToLower(s[i+1:])
			for _, w := range mentionWords {
				if strings.HasPrefix(rest, w) {
					b.WriteString(wordJoiner)
					break
				}
			}
		case '<':
			if i+1 < len(s) && (s[i+1] == '!' || s[i+1] == '@' || s[i+1] == '#') {
				b.WriteString(wordJoiner)
			}
		}
	}
	return b.String()
}

// headerText readies text for Slack's header, a plain_text object: plain
// text parses no mentions or links, and the breaks make sure of it.
func headerText(s string, n int) string { return registry.Truncate(breakMentions(clean(s)), n) }

// slackURL makes a URL safe inside Slack's <url|text>.
func slackURL(u string) string {
	return strings.NewReplacer("&", "&amp;", "<", "%3C", ">", "%3E", "|", "%7C", " ", "%20", "@", "%40", "\n", "", "\r", "").Replace(u)
}

// codeSpan renders our own short text (a plan move) as a Markdown code span
// that cannot end early or split a table cell. A move holds registry text
// too (the version numbers): when it holds anything but what alias, stage
// and version names are made of, it is escaped as text instead, since a
// code span can escape nothing and would show <tags> and @mentions raw.
func codeSpan(s string) string {
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(" :@→_-().+", r) {
			return mdN(s, 300)
		}
	}
	if breakMentions(s) != s { // @channel, @here, @everyone spelt out
		return mdN(s, 300)
	}
	return "`" + strings.NewReplacer("`", "ˋ", "|", "\\|").Replace(clean(s)) + "`"
}

// mermaidText keeps letters, digits and a few safe punctuation marks, so a
// label cannot end its quotes, start a comment or an entity in a chart, or
// spell a mention (no @).
func mermaidText(s string, n int) string {
	var b strings.Builder
	for _, r := range clean(s) {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), unicode.IsMark(r), strings.ContainsRune(" _-.:/()+,", r):
			b.WriteRune(r)
		default:
			b.WriteByte(' ')
		}
	}
	return registry.Truncate(strings.Join(strings.Fields(b.String()), " "), n)
}

// redact replaces every secret in s.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	return s
}
