package checks

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The generated corpus: for every key the schema names, the policy with that
// key set to a valid value, to each value of wrongValues, and left out; for
// every mapping with a closed key set, the policy with an unknown key added;
// and edgeCases. The key set comes from the schema, so a key added to the
// schema is covered at once (it needs a sample value when it has no enum,
// const or example), and TestKeySetsAgree fails until the parser knows it
// too. TestSchemaAndParserAgree runs the corpus through both.

// fullPolicy sets every key of the schema that can be set together.
const fullPolicy = `version: 1
rules:
  - name: gate
    applies-to:
      alias: champion
      models: ["fraud-*"]
    require-source:
      aliases: [challenger]
      stages: [Staging]
    metrics:
      val_auc:
        min: 0.9
        max: 1
        direction: maximize
        vs-champion:
          min-improvement: 0.002
        dataset: holdout
        aggregate: max
    tags:
      dataset_version: present
    run:
      status: FINISHED
      max-age: 168h
    approval:
      environment-reviews:
        min: 1
        environment: production
      pull-request-reviews:
        min: 1
        exclude-actor: true
    artifacts:
      digest: required
    on-missing-metric: fail
    on-first-deploy: pass
`

// samples are valid values for keys that fullPolicy leaves out, and the
// sibling each one excludes. A key without a sample takes the schema's
// const, first enum value or first example.
var samples = map[string]struct{ value, excludes string }{
	"rules[].applies-to.stage":                               {"Production", "alias"},
	"rules[].metrics.*.vs-champion.min-relative-improvement": {"0.01", "min-improvement"},
	"rules[].metrics.*.vs-champion.max-regression":           {"0.001", "min-improvement"},
}

// wrongValues replace each key's value, one at a time. Their names are part
// of the case names.
var wrongValues = []struct{ name, yaml string }{
	{"a string", `"x-wrong"`},
	{"an empty string", `""`},
	{"a blank string", `" "`},
	{"a no-break space", `"\u00a0"`},
	{"an ideographic space", `"\u3000"`},
	{"an integer", `7`},
	{"zero", `0`},
	{"a negative integer", `-1`},
	{"a fraction", `2.5`},
	{"an integral float", `1.0`},
	{"a huge integer", `99999999999999999999`},
	{"a boolean", `true`},
	{"null", `null`},
	{"a timestamp", `2026-01-01`},
	{"a sequence", `["x"]`},
	{"an empty sequence", `[]`},
	{"a mapping", `{zz-key: 1}`},
	{"an empty mapping", `{}`},
}

// edgeCases are values the generated corpus does not reach: case folding
// beyond ASCII, duration spellings, enum case. Each is head's rule plus src.
var edgeCases = []struct{ name, src string }{
	{"stage in upper case", "    require-source: {stages: [PRODUCTION]}\n"},
	{"alias latest with a long s", "    require-source: {aliases: [lateſt]}\n"},
	{"alias LATEST", "    require-source: {aliases: [LATEST]}\n"},
	{"alias V1", "    require-source: {aliases: [V1]}\n"},
	{"run status with a dotless i", "    run: {status: fınıshed}\n"},
	{"run status in mixed case", "    run: {status: Finished}\n"},
	{"aggregate in upper case", "    metrics: {m: {max: 1, aggregate: MAX}}\n"},
	{"direction in upper case", "    metrics: {m: {max: 1, direction: MINIMIZE}}\n"},
	{"max-age with a trailing dot", "    run: {max-age: 1.h}\n"},
	{"max-age with a leading dot", "    run: {max-age: .5h}\n"},
	{"max-age zero hours", "    run: {max-age: 0h}\n"},
	{"max-age zero days and hours", "    run: {max-age: 0d0h}\n"},
	{"max-age below a nanosecond", "    run: {max-age: 0.5ns}\n"},
	{"max-age in microseconds (micro sign)", "    run: {max-age: 5µs}\n"},
	{"max-age in microseconds (mu)", "    run: {max-age: 5μs}\n"},
	{"max-age of 100 years", "    run: {max-age: 36500d}\n"},
	{"max-age over 100 years", "    run: {max-age: 36500d1h}\n"},
	{"max-age beyond a time.Duration", "    run: {max-age: 9999999999h}\n"},
	{"max-age with a space", "    run: {max-age: 7d 1h}\n"},
	{"metric key a number", "    metrics: {1: {max: 1}}\n"},
	{"metric key blank", "    metrics: {\" \": {max: 1}}\n"},
	{"metric key empty", "    metrics: {\"\": {max: 1}}\n"},
	{"metric key null", "    metrics: {~: {max: 1}}\n"},
	{"tag key empty", "    tags: {\"\": present}\n"},
	{"tag value quoted date", "    tags: {released: \"2026-01-01\"}\n"},
	{"tag value block string", "    tags: {note: |\n        two\n        lines\n"},
	{"name an explicit string tag", "  - name: !!str 12\n    applies-to: {stage: Staging}\n"},
	{"version in hex", "HEX"},
}

// schemaKey is one key path of the schema: "rules[].metrics.*.min" ("[]" an
// array item, "*" any key of an open mapping).
type schemaKey struct {
	path string
	node map[string]any // its schema, $refs resolved
}

// closedMapping is a mapping whose keys the schema lists (additionalProperties: false).
type closedMapping struct {
	path string // "" is the policy itself
	keys []string
}

func loadSchemaJSON(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "schema", "mlreg-policy.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// walkSchema lists every key path and closed mapping of the schema.
func walkSchema(t *testing.T, root map[string]any) ([]schemaKey, []closedMapping) {
	t.Helper()
	defs, _ := root["$defs"].(map[string]any)
	resolve := func(s map[string]any) map[string]any {
		for {
			ref, ok := s["$ref"].(string)
			if !ok {
				return s
			}
			d, ok := defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
			if !ok {
				t.Fatalf("schema: unresolved $ref %s", ref)
			}
			s = d
		}
	}
	var keys []schemaKey
	var closed []closedMapping
	var walk func(path string, s map[string]any)
	join := func(path, seg string) string {
		if path == "" || seg == "[]" {
			return path + seg
		}
		return path + "." + seg
	}
	walk = func(path string, s map[string]any) {
		s = resolve(s)
		if props, ok := s["properties"].(map[string]any); ok {
			var names []string
			for name := range props {
				names = append(names, name)
			}
			slices.Sort(names)
			if s["additionalProperties"] == false {
				closed = append(closed, closedMapping{path: path, keys: names})
			}
			for _, name := range names {
				p := join(path, name)
				keys = append(keys, schemaKey{path: p, node: resolve(props[name].(map[string]any))})
				walk(p, props[name].(map[string]any))
			}
		}
		if ap, ok := s["additionalProperties"].(map[string]any); ok {
			p := join(path, "*")
			keys = append(keys, schemaKey{path: p, node: resolve(ap)})
			walk(p, ap)
		}
		if items, ok := s["items"].(map[string]any); ok {
			p := join(path, "[]")
			keys = append(keys, schemaKey{path: p, node: resolve(items)})
			walk(p, items)
		}
	}
	walk("", root)
	return keys, closed
}

// segments splits a key path: "rules[].metrics.*" → rules, [], metrics, *.
func segments(path string) []string {
	var out []string
	for _, part := range strings.Split(path, ".") {
		if part == "" {
			continue
		}
		name, isItem := strings.CutSuffix(part, "[]")
		if name != "" {
			out = append(out, name)
		}
		if isItem {
			out = append(out, "[]")
		}
	}
	return out
}

// policyDoc is fullPolicy as a node tree to edit.
func policyDoc(t *testing.T) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(fullPolicy), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

func scalarNode(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("bad sample %q: %v", src, err)
	}
	return doc.Content[0]
}

// locate returns the mapping (or sequence) holding the last segment of
// segs, and that segment as a key ("" for a sequence item; for "*", the
// first key of the open mapping). The key itself need not be set.
func locate(n *yaml.Node, segs []string) (parent *yaml.Node, key string, ok bool) {
	for i, seg := range segs {
		last := i == len(segs)-1
		switch {
		case seg == "[]":
			if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
				return nil, "", false
			}
			if last {
				return n, "", true
			}
			n = n.Content[0]
		case n.Kind != yaml.MappingNode:
			return nil, "", false
		case seg == "*":
			if len(n.Content) == 0 {
				return nil, "", false
			}
			if last {
				return n, n.Content[0].Value, true
			}
			n = n.Content[1]
		default:
			if last {
				return n, seg, true
			}
			v := mappingValue(n, seg)
			if v == nil {
				return nil, "", false
			}
			n = v
		}
	}
	return nil, "", false
}

func mappingValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// set puts v under key in mapping m (or as the first item of sequence m).
func set(m *yaml.Node, key string, v *yaml.Node) {
	if m.Kind == yaml.SequenceNode {
		m.Content[0] = v
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

func remove(m *yaml.Node, key string) {
	if m.Kind == yaml.SequenceNode {
		m.Content = m.Content[1:]
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = slices.Delete(m.Content, i, i+2)
			return
		}
	}
}

func encode(t *testing.T, root *yaml.Node) string {
	t.Helper()
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// sampleFor is a valid value for a key fullPolicy leaves out.
func sampleFor(t *testing.T, k schemaKey) (value, excludes string) {
	t.Helper()
	if s, ok := samples[k.path]; ok {
		return s.value, s.excludes
	}
	var v any
	switch {
	case k.node["const"] != nil:
		v = k.node["const"]
	case k.node["enum"] != nil:
		v = k.node["enum"].([]any)[0]
	case k.node["examples"] != nil:
		v = k.node["examples"].([]any)[0]
	default:
		t.Errorf("no valid sample for %s, which the full policy leaves out: add one to samples", k.path)
		return "", ""
	}
	b, _ := json.Marshal(v) // JSON scalars are YAML flow scalars
	return string(b), ""
}

// generatedCorpus builds the generated cases (see the top of this file).
func generatedCorpus(t *testing.T) []agreeCase {
	t.Helper()
	keys, closed := walkSchema(t, loadSchemaJSON(t))
	if len(keys) < 30 {
		t.Fatalf("found %d keys in the schema; the walk is broken", len(keys))
	}
	out := []agreeCase{{name: "full policy", src: fullPolicy, good: true}}
	for _, k := range keys {
		segs := segments(k.path)
		base := policyDoc(t)
		parent, key, ok := locate(base, segs)
		if !ok {
			t.Fatalf("%s: its parent is not in the full policy", k.path)
		}
		if parent.Kind == yaml.MappingNode && mappingValue(parent, key) == nil {
			v, excl := sampleFor(t, k)
			if v == "" {
				continue
			}
			if excl != "" {
				remove(parent, excl)
			}
			set(parent, key, scalarNode(t, v))
			out = append(out, agreeCase{name: k.path + " = " + v, src: encode(t, base), good: true})
		}
		for _, w := range wrongValues {
			set(parent, key, scalarNode(t, w.yaml))
			out = append(out, agreeCase{name: k.path + " = " + w.name, src: encode(t, base)})
		}
		doc := policyDoc(t)
		if p, k2, ok := locate(doc, segs); ok && (p.Kind == yaml.SequenceNode || mappingValue(p, k2) != nil) {
			remove(p, k2)
			out = append(out, agreeCase{name: k.path + " left out", src: encode(t, doc)})
		}
	}
	for _, e := range edgeCases {
		src := head + e.src
		if e.src == "HEX" {
			src = strings.Replace(head, "version: 1", "version: 0x1", 1)
		}
		out = append(out, agreeCase{name: "edge: " + e.name, src: src})
	}
	for _, c := range closed {
		doc := policyDoc(t)
		m := doc
		if c.path != "" {
			p, key, ok := locate(doc, segments(c.path))
			if !ok {
				t.Fatalf("closed mapping %s is not in the full policy", c.path)
			}
			if m = mappingValue(p, key); p.Kind == yaml.SequenceNode {
				m = p.Content[0]
			}
		}
		set(m, unknownKey, scalarNode(t, "1"))
		out = append(out, agreeCase{name: "unknown key in " + cmp.Or(c.path, "the policy"), src: encode(t, doc)})
	}
	return out
}

// unknownKey is far from every key, so the parser lists the allowed ones.
const unknownKey = "zz-unknown"

// TestKeySetsAgree: in every mapping with a closed key set, the keys the
// parser allows (as its unknown-key message lists them) are the schema's.
func TestKeySetsAgree(t *testing.T) {
	t.Parallel()
	_, closed := walkSchema(t, loadSchemaJSON(t))
	if len(closed) < 9 {
		t.Fatalf("found %d closed mappings in the schema; the walk is broken", len(closed))
	}
	cases := map[string]string{}
	for _, c := range generatedCorpus(t) {
		cases[c.name] = c.src
	}
	for _, c := range closed {
		name := "unknown key in " + cmp.Or(c.path, "the policy")
		_, err := Parse("p.yml", []byte(cases[name]))
		msg := ""
		var errs Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				if strings.Contains(e.Msg, strconv.Quote(unknownKey)) {
					msg = e.Msg
				}
			}
		}
		_, list, ok := strings.Cut(msg, "(allowed: ")
		if !ok {
			t.Errorf("%s: the parser did not list the allowed keys: %v", name, err)
			continue
		}
		allowed := strings.Split(strings.TrimSuffix(list, ")"), ", ")
		slices.Sort(allowed)
		if !slices.Equal(allowed, c.keys) {
			t.Errorf("keys of %s: the parser allows %v, the schema %v", cmp.Or(c.path, "the policy"), allowed, c.keys)
		}
	}
}

// TestGeneratedCorpusRejectsWrongKinds: a value of another YAML kind than a
// key takes (a mapping for a string, a string for a mapping) is rejected,
// so the generated cases are bad cases, not only agreeing ones.
func TestGeneratedCorpusRejectsWrongKinds(t *testing.T) {
	t.Parallel()
	keys, _ := walkSchema(t, loadSchemaJSON(t))
	kindOf := func(n *yaml.Node) string {
		switch {
		case n.Kind == yaml.MappingNode:
			return "mapping"
		case n.Kind == yaml.SequenceNode:
			return "sequence"
		case n.ShortTag() == "!!null":
			return "null"
		}
		return "scalar"
	}
	for _, k := range keys {
		parent, key, ok := locate(policyDoc(t), segments(k.path))
		if !ok {
			continue
		}
		valid := mappingValue(parent, key)
		if parent.Kind == yaml.SequenceNode {
			valid = parent.Content[0]
		}
		if valid == nil {
			continue
		}
		for _, w := range wrongValues {
			doc := policyDoc(t)
			p, k2, _ := locate(doc, segments(k.path))
			wn := scalarNode(t, w.yaml)
			if kindOf(wn) == kindOf(valid) {
				continue
			}
			set(p, k2, wn)
			if _, err := Parse("p.yml", []byte(encode(t, doc))); err == nil {
				t.Errorf("%s = %s: the parser accepts a %s where a %s belongs", k.path, w.name, kindOf(wn), kindOf(valid))
			}
		}
	}
}
