package checks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// The policy's keys live in two places: Parse and
// schema/mlreg-policy.schema.json, which editors use. TestSchemaAndParserAgree
// runs every policy of the repository (good and bad) and a corpus generated
// from the schema's key set through both, and requires the same verdict:
// both accept or both reject. What the schema cannot express is listed in
// schemaExceptions, each with its reason; an exception that stops
// disagreeing fails the test, so the list stays true.

// schemaExceptions are the cases where Parse rejects what the schema accepts
// (or the schema cannot see the value at all), by case name, with the reason.
var schemaExceptions = map[string]string{
	// Relations between values: JSON Schema checks each value on its own.
	"bad: min greater than max":                  minMax,
	"rules[].metrics.*.min = an integer":         minMax,
	"rules[].metrics.*.min = a fraction":         minMax,
	"rules[].metrics.*.min = a huge integer":     minMax,
	"rules[].metrics.*.max = zero":               minMax,
	"rules[].metrics.*.max = a negative integer": minMax,
	"bad: duplicate rule names":                  "names unique across rules: uniqueItems compares whole items, not one property",
	"edge: max-age over 100 years":               maxAgeSum,
	"edge: max-age beyond a time.Duration":       maxAgeSum,
	"edge: max-age below a nanosecond":           "a fraction of a nanosecond rounds to zero; the pattern would have to do arithmetic",
	"bad: bad glob":                              globSyntax,
	"fuzz seed 5":                                globSyntax,
	// Integers: JSON has one number type, and its integers have no size.
	"version = an integral float":                                   integralFloat,
	"rules[].approval.environment-reviews.min = an integral float":  integralFloat,
	"rules[].approval.pull-request-reviews.min = an integral float": integralFloat,
	"rules[].approval.environment-reviews.min = a huge integer":     hugeInt,
	"rules[].approval.pull-request-reviews.min = a huge integer":    hugeInt,
	// YAML that JSON does not carry.
	"bad: tag value unquoted word": unquotedTag,
	"rules[].tags.* = a timestamp": unquotedTag,
	"bad: YAML alias":              "editors resolve aliases before validating; the parser refuses them (alias bombs)",
	"bad: YAML merge key":          "editors resolve merge keys before validating; the parser refuses them",
	"bad: NaN bound":               "JSON has no NaN: the schema never sees the value",
	"bad: empty file":              emptyFile,
	"fuzz seed 0":                  emptyFile,
	"edge: metric key null":        "a null key (~) has no JSON spelling; editors make it the string \"null\" or \"~\", a valid metric name",
	"bad: larger than 1 MiB":       "the size of the file is not a property of its JSON value",
}

const (
	minMax        = "min <= max relates two values"
	maxAgeSum     = "the 100-year limit bounds the sum of a duration's parts, which a pattern cannot add up"
	globSyntax    = "path.Match syntax (an unclosed [, a bad range) is not something the schema's pattern can check"
	integralFloat = "1.0 is an integer in JSON; the parser wants YAML's integer type (!!int)"
	hugeInt       = "the parser's integers are 64-bit; JSON Schema's integers have no size"
	unquotedTag   = "quoting is invisible in JSON: an unquoted yes or 2026-01-01 is a plain string to the schema, while the parser asks to quote tag values"
	emptyFile     = "an editor has no document to validate"
)

// agreeCase is one policy file of the corpus.
type agreeCase struct {
	name string
	src  string
	good bool // documented as valid: both must accept it
}

// editorView decodes every YAML document of data into the JSON value an
// editor validates against the schema (as yaml-language-server does: YAML
// 1.2 core types, aliases and merge keys resolved, a duplicate key is a YAML
// error). It fails with errNotJSON for a value JSON cannot hold.
func editorView(data []byte) ([]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []any
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("invalid YAML: %w", err)
		}
		c := &jsonConverter{budget: 100_000}
		v, err := c.value(&n)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("failed to encode JSON: %w", err)
		}
		jv, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("failed to decode JSON: %w", err)
		}
		docs = append(docs, jv)
	}
}

var errNotJSON = errors.New("value JSON cannot hold")

type jsonConverter struct{ budget int }

func (c *jsonConverter) value(n *yaml.Node) (any, error) {
	if c.budget--; c.budget < 0 {
		return nil, errors.New("invalid YAML: alias expansion too large")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0])
	case yaml.AliasNode:
		return c.value(n.Alias)
	case yaml.SequenceNode:
		out := []any{}
		for _, item := range n.Content {
			v, err := c.value(item)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		return c.mapping(n)
	}
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		err := n.Decode(&b)
		return b, err
	case "!!int", "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, fmt.Errorf("invalid YAML number %q: %w", n.Value, err)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%w: %s", errNotJSON, n.Value)
		}
		if n.ShortTag() == "!!int" {
			return json.Number(strconv.FormatFloat(f, 'f', -1, 64)), nil
		}
		return f, nil
	}
	// Strings, and YAML 1.1 types (timestamps, binary) that YAML 1.2 reads as strings.
	return n.Value, nil
}

func (c *jsonConverter) mapping(n *yaml.Node) (map[string]any, error) {
	out := map[string]any{}
	merged := map[string]any{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, errors.New("invalid YAML: a mapping key that is not a scalar")
		}
		if k.ShortTag() == "!!merge" {
			sources := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				sources = v.Content
			}
			for _, src := range sources {
				m, err := c.value(src)
				if err != nil {
					return nil, err
				}
				mm, ok := m.(map[string]any)
				if !ok {
					return nil, errors.New("invalid YAML: a merge key whose value is not a mapping")
				}
				for key, val := range mm {
					if _, set := merged[key]; !set {
						merged[key] = val
					}
				}
			}
			continue
		}
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("invalid YAML: duplicate key %q", k.Value)
		}
		val, err := c.value(v)
		if err != nil {
			return nil, err
		}
		out[k.Value] = val
	}
	for key, val := range merged {
		if _, set := out[key]; !set {
			out[key] = val
		}
	}
	return out, nil
}

// schemaVerdict is what an editor says of data: "" when every document
// validates, else the first problem. yamlOK reports whether the YAML
// decoded, so that a rejection is the schema's own.
func schemaVerdict(t *testing.T, data []byte) (problem string, yamlOK bool, err error) {
	t.Helper()
	sch, err := policySchema()
	if err != nil {
		t.Fatalf("failed to compile schema: %v", err)
	}
	docs, err := editorView(data)
	if err != nil {
		return err.Error(), false, err
	}
	if len(docs) == 0 {
		return "", true, nil
	}
	for _, d := range docs {
		if err := sch.Validate(d); err != nil {
			return oneLine(err.Error()), true, nil
		}
	}
	return "", true, nil
}

// oneLine joins a validation error's lines, which nest the causes.
func oneLine(s string) string {
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines[1:], "; ")
}

// repoCorpus is every policy the repository holds: example files, the
// README's policy, the parser's good and bad cases, and the fuzz corpus.
func repoCorpus(t *testing.T) []agreeCase {
	t.Helper()
	var out []agreeCase
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "policies", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no policies under testdata/policies: %v", err)
	}
	files = append(files, filepath.Join("..", "..", "examples", "mlreg-policy.yml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, agreeCase{name: "file: " + filepath.Base(f), src: string(b), good: true})
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		if strings.HasPrefix(m[1], "version: 1\nrules:") {
			n++
			out = append(out, agreeCase{name: fmt.Sprintf("README policy %d", n), src: m[1], good: true})
		}
	}
	if n == 0 {
		t.Error("found no policy in README.md")
	}
	for i, src := range []string{head, matchPolicy} {
		out = append(out, agreeCase{name: fmt.Sprintf("good: test policy %d", i), src: src, good: true})
	}
	for _, tc := range goodCases {
		out = append(out, agreeCase{name: "good: " + tc.name, src: tc.src, good: true})
	}
	for _, tc := range badCases {
		out = append(out, agreeCase{name: "bad: " + tc.name, src: tc.src})
	}
	for i, s := range fuzzExtraSeeds {
		out = append(out, agreeCase{name: fmt.Sprintf("fuzz seed %d", i), src: s})
	}
	seeds, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzParse", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range seeds {
		src, err := readFuzzSeed(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, agreeCase{name: "fuzz corpus " + filepath.Base(f), src: src})
	}
	return out
}

// readFuzzSeed reads a file of the "go test fuzz v1" format holding one []byte.
func readFuzzSeed(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") {
		return "", fmt.Errorf("%s: not a one-[]byte fuzz seed", path)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func TestSchemaAndParserAgree(t *testing.T) {
	t.Parallel()
	corpus := append(repoCorpus(t), generatedCorpus(t)...)
	names := map[string]bool{}
	for _, c := range corpus {
		if names[c.name] {
			t.Fatalf("two corpus cases are named %q", c.name)
		}
		names[c.name] = true
	}
	for name := range schemaExceptions {
		if !names[name] {
			t.Errorf("schemaExceptions names %q, which is not in the corpus", name)
		}
	}
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, perr := Parse("policy.yml", []byte(c.src))
			problem, _, serr := schemaVerdict(t, []byte(c.src))
			parserOK, schemaOK := perr == nil, problem == ""
			if c.good && !parserOK {
				t.Errorf("Parse() rejects a documented policy:\n%v", perr)
			}
			why, excepted := schemaExceptions[c.name]
			switch {
			case excepted && (parserOK || (schemaOK == parserOK && !errors.Is(serr, errNotJSON))):
				t.Errorf("listed as an exception (%s), but the parser says %v and the schema says %q: remove it from schemaExceptions",
					why, perr, problem)
			case excepted:
			case errors.Is(serr, errNotJSON):
				t.Errorf("the schema cannot see this policy (%v): list it in schemaExceptions with the reason", serr)
			case parserOK && !schemaOK:
				t.Errorf("the schema rejects what the parser accepts: %s\n%s", problem, c.src)
			case !parserOK && schemaOK:
				t.Errorf("the parser rejects what the schema accepts:\n%v\n%s", perr, c.src)
			}
		})
	}
}

// TestBadCasesSchemaFlag keeps badCase.schema ("the JSON Schema rejects it
// too", used by TestSchemaRejectsBadPolicies) true to the schema.
func TestBadCasesSchemaFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range badCases {
		problem, yamlOK, _ := schemaVerdict(t, []byte(tc.src))
		if got := yamlOK && problem != ""; got != tc.schema {
			t.Errorf("bad case %q: schema: %t, but the schema rejects it: %t (%s)", tc.name, tc.schema, got, problem)
		}
	}
}
