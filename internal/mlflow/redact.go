package mlflow

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
)

// credentials lists what must never be repeated from a server's answer:
// the Authorization header, its credential part, the token and the
// password, and user:password (a proxy may echo any of them back).
func credentials(auth, token, password string) []string {
	var out []string
	add := func(s string) {
		if len(s) >= 4 && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	add(auth)
	if _, cred, ok := strings.Cut(auth, " "); ok {
		add(cred)
		if b, err := base64.StdEncoding.DecodeString(cred); err == nil && strings.HasPrefix(auth, "Basic ") {
			add(string(b))
		}
	}
	add(token)
	add(password)
	// Longest first, so a credential is cut whole before a part of it.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// redact replaces the client's credentials in text that came from the
// server (error messages, the start of a body that did not decode).
func (c *Client) redact(s string) string {
	for _, sec := range c.secrets {
		s = strings.ReplaceAll(s, sec, "***")
	}
	return s
}

// redactText is text from the server without the client's credentials.
// When cut (text is the start of something longer), the cut may fall inside
// a credential: the start of one that ends text is dropped as well.
func (c *Client) redactText(text []byte, cut bool) []byte {
	if len(c.secrets) == 0 {
		return text
	}
	if cut {
		for _, sec := range c.secrets {
			for k := len(sec) - 1; k > 0; k-- {
				if bytes.HasSuffix(text, []byte(sec[:k])) {
					text = text[:len(text)-k]
					break
				}
			}
		}
	}
	return []byte(c.redact(string(text)))
}

// RedactURL is s, a URL or what was meant as one (it need not parse), with
// what may be a secret hidden: the user info (user name and password) as
// "***", each query value as "***", and the fragment as "***". It is the one
// redactor of every URL the tool repeats: tracking and registry URIs,
// DATABRICKS_HOST, the Location of a refused redirect. It works on the
// string, not on a parsed URL, because a URL that fails to parse (a bad
// port, a stray character in the password) is the one most likely to be
// shown in an error.
func RedactURL(s string) string {
	scheme, rest, hasScheme := "", s, false
	if i := strings.Index(s, "://"); i >= 0 {
		scheme, rest, hasScheme = s[:i+3], s[i+3:], true
	}
	rest, hidden := cutUserinfo(rest, hasScheme)
	var b strings.Builder
	b.WriteString(scheme)
	if hidden {
		b.WriteString("***@")
	}
	rest, fragment, hasFragment := strings.Cut(rest, "#")
	rest, query, hasQuery := strings.Cut(rest, "?")
	b.WriteString(rest)
	if hasQuery {
		b.WriteByte('?')
		for i, kv := range strings.Split(query, "&") {
			if i > 0 {
				b.WriteByte('&')
			}
			k, v, ok := strings.Cut(kv, "=")
			b.WriteString(k)
			if ok {
				b.WriteByte('=')
				if v != "" {
					b.WriteString("***")
				}
			}
		}
	}
	if hasFragment {
		b.WriteByte('#')
		if fragment != "" {
			b.WriteString("***")
		}
	}
	return b.String()
}

// cutUserinfo returns what follows the user info of rest, the part of a URL
// after "scheme://" (or all of it without a scheme), and whether there was
// any. The user info ends at the last "@" of the authority. When the
// authority has none but looks like user:password (a "port" that is not a
// number) and an "@" follows, the password holds an unescaped "/", "?" or
// "#", and the user info ends at that "@" (this needs a scheme: without one,
// "models:/name@alias" is no URL with user info).
func cutUserinfo(rest string, hasScheme bool) (string, bool) {
	auth := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		auth = rest[:i]
	}
	if at := strings.LastIndex(auth, "@"); at >= 0 {
		return rest[at+1:], true
	}
	if !hasScheme || !passwordLike(auth) {
		return rest, false
	}
	at := strings.Index(rest, "@")
	if at < 0 {
		return rest, false
	}
	tail, _ := cutUserinfo(rest[at+1:], false)
	return tail, true
}

// passwordLike reports whether an authority without "@" ends in ":" and
// something that is no port number, as "user:pa" does from "user:pa/ss@host".
func passwordLike(auth string) bool {
	if strings.HasPrefix(auth, "[") { // an IPv6 literal, [::1]:5000
		_, after, ok := strings.Cut(auth, "]")
		if !ok {
			return false
		}
		auth = after
	}
	i := strings.LastIndex(auth, ":")
	if i < 0 {
		return false
	}
	port := auth[i+1:]
	return port == "" || strings.Trim(port, "0123456789") != ""
}
