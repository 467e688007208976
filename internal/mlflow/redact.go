package mlflow

import (
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

// redactBody is body without the client's credentials.
func (c *Client) redactBody(body []byte) []byte {
	if len(c.secrets) == 0 {
		return body
	}
	return []byte(c.redact(string(body)))
}
