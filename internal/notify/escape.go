package notify

import (
	"strings"
	"unicode"
	"unicode/utf8"
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
		case unicode.IsControl(r):
		case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F, r == 0x061C:
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// truncate shortens s to at most n runes, marking the cut with "…".
func truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// plainText readies text for a Slack plain_text object or a GitHub deployment
// description: one line, at most n characters. Neither format parses
// mentions, links or markup.
func plainText(s string, n int) string { return truncate(clean(s), n) }

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
	s = breakMentions(mrkdwnReplacer.Replace(truncate(clean(s), n)))
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
func headerText(s string, n int) string { return truncate(breakMentions(clean(s)), n) }

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
	return truncate(strings.Join(strings.Fields(b.String()), " "), n)
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
