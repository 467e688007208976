package checks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// DecodeDocument reads data as the one YAML document of a configuration
// file, with the checks Parse makes before it looks at any key: at most
// MaxPolicySize bytes, UTF-8 without control characters, valid YAML,
// exactly one document. file names the file in errors and kind is what
// messages call it ("policy file", "manifest"). It returns the document's
// root node, or nil when there is no document to read; the problems are
// Errors with the file and a line each (1 for the whole file). YAML
// aliases are problems too, reported with a root: refusing them rules out
// alias bombs, and a caller reading the root skips alias nodes.
func DecodeDocument(file, kind string, data []byte) (*yaml.Node, Errors) {
	// Problems of the whole file point at its first line, so that every
	// problem has a line to annotate.
	if len(data) > MaxPolicySize {
		return nil, Errors{{File: file, Line: 1, Column: 1,
			Msg: fmt.Sprintf("%s is larger than 1 MiB (%d bytes)", kind, MaxPolicySize)}}
	}
	if e := encodingError(file, kind, data); e != nil {
		return nil, Errors{e}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{File: file, Line: 1, Column: 1, Msg: kind + " is empty"}}
		}
		return nil, Errors{syntaxError(file, data, err)}
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, Errors{{File: file, Line: next.Line, Column: next.Column,
			Msg: kind + " must hold exactly one YAML document; remove the second one"}}
	case !errors.Is(err, io.EOF):
		return nil, Errors{syntaxError(file, data, err)}
	}
	var errs Errors
	rejectAliases(file, &doc, &errs)
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	return root, errs
}

// rejectAliases reports every YAML alias under n.
func rejectAliases(file string, n *yaml.Node, errs *Errors) {
	if n.Kind == yaml.AliasNode {
		*errs = append(*errs, &Error{File: file, Line: n.Line, Column: n.Column,
			Msg: fmt.Sprintf("YAML aliases are not allowed (*%s): write the value out", n.Value)})
		return
	}
	for _, c := range n.Content {
		rejectAliases(file, c, errs)
	}
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func syntaxError(file string, data []byte, err error) *Error {
	msg := err.Error()
	e := &Error{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = "invalid YAML: " + m[2]
	}
	e.Line, e.Column = syntaxPosition(data, e.Line, strings.TrimPrefix(e.Msg, "invalid YAML: "))
	return e
}

// Describe names what a YAML node holds, for messages: "a mapping",
// `the string "x"`, "an integer (3)", "null".
func Describe(n *yaml.Node) string { return describe(n) }

// Suggest returns the candidate that s is probably a typo of ("mni" →
// "min", "on_missing_metric" → "on-missing-metric"), or "".
func Suggest(s string, candidates []string) string { return suggest(s, candidates) }
