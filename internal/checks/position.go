package checks

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// position returns the 1-based line and column of byte offset off in data,
// counting line breaks as yaml.v3 does (\r\n, \r, \n, NEL, LS, PS) and
// columns in characters.
func position(data []byte, off int) (line, col int) {
	line, col = 1, 1
	for i := 0; i < off && i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == '\r' && i+1 < len(data) && data[i+1] == '\n':
			size = 2
			line, col = line+1, 1
		case r == '\n', r == '\r', r == 0x85, r == 0x2028, r == 0x2029:
			line, col = line+1, 1
		default:
			col++
		}
		i += size
	}
	return line, col
}

// encodingError reports the first byte that is not UTF-8, or the first
// character YAML does not allow (control characters; YAML 1.2, 5.1), at its
// line and column. yaml.v3 reports the second kind without a position.
func encodingError(file, kind string, data []byte) *Error {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		msg := ""
		switch {
		case r == utf8.RuneError && size <= 1:
			msg = fmt.Sprintf("%s is not valid UTF-8 (byte 0x%02X)", kind, data[i])
		case !yamlAllowed(r):
			msg = fmt.Sprintf("invalid YAML: control characters are not allowed (U+%04X)", r)
		}
		if msg != "" {
			line, col := position(data, i)
			return &Error{File: file, Line: line, Column: col, Msg: msg}
		}
		i += size
	}
	return nil
}

// yamlAllowed is the character set of yaml.v3's reader.
func yamlAllowed(r rune) bool {
	switch {
	case r == 0x09, r == 0x0A, r == 0x0D, r >= 0x20 && r <= 0x7E, r == 0x85,
		r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// parserProblems are the problems yaml.v3's parser (not its scanner)
// reports. For these it gives the 0-based line of the enclosing construct,
// one less than the line the construct starts on, and no line at all when
// that is the first line.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

var (
	unknownAnchor  = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
	recursiveAlias = regexp.MustCompile(`^anchor '(.*)' value contains itself$`)
)

// syntaxPosition corrects the line of a yaml.v3 syntax error and finds the
// ones it reports without a line. yaml.v3 leaves the line out when the
// problem is on the first line (its 0-based line 0), e.g. `"` ("found
// unexpected end of stream"), and for the aliases its decoder resolves.
func syntaxPosition(data []byte, line int, problem string) (int, int) {
	if parserProblems[problem] {
		// When the construct starts on the first line, yaml.v3 gives the
		// problem's line instead, which may be the end of the stream.
		last, _ := position(data, len(data))
		return min(line+1, last), 0
	}
	if m := unknownAnchor.FindStringSubmatch(problem); m != nil {
		if l, c, ok := findMark(data, '*', m[1]); ok {
			return l, c
		}
	}
	if m := recursiveAlias.FindStringSubmatch(problem); m != nil {
		if l, c, ok := findMark(data, '&', m[1]); ok {
			return l, c
		}
	}
	return max(line, 1), 0
}

// findMark finds the first anchor (&name) or alias (*name) outside a
// comment: best effort, for errors yaml.v3 reports without a position.
func findMark(data []byte, indicator byte, name string) (int, int, bool) {
	mark := append([]byte{indicator}, name...)
	for from := 0; ; {
		i := bytes.Index(data[from:], mark)
		if i < 0 {
			return 0, 0, false
		}
		i += from
		end := i + len(mark)
		startOK := i == 0 || strings.IndexByte(" \t\n\r[{,:-", data[i-1]) >= 0
		endOK := end == len(data) || strings.IndexByte(" \t\n\r]},", data[end]) >= 0
		lineStart := bytes.LastIndexAny(data[:i], "\r\n") + 1
		inComment := bytes.IndexByte(data[lineStart:i], '#') >= 0
		if startOK && endOK && !inComment {
			l, c := position(data, i)
			return l, c, true
		}
		from = i + 1
	}
}

// yamlFloat is the plain-scalar float syntax yaml.v3 resolves.
var yamlFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

// outOfRange reports a plain scalar written as a number that yaml.v3 took
// for a string because it is beyond float64 (1e400).
func outOfRange(n *yaml.Node) bool {
	if n.Kind != yaml.ScalarNode || n.Style != 0 || n.ShortTag() != "!!str" {
		return false
	}
	plain := strings.ReplaceAll(n.Value, "_", "")
	if !yamlFloat.MatchString(plain) {
		return false
	}
	_, err := strconv.ParseFloat(plain, 64)
	return errors.Is(err, strconv.ErrRange)
}
