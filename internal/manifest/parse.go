package manifest

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
)

// Parse parses a version 1 manifest. file names it in errors. On failure
// the error is checks.Errors, holding every problem found, sorted by
// position.
func Parse(file string, data []byte) (*Manifest, error) {
	p := &parser{file: file}
	m := p.parse(data)
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *checks.Error) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Column - b.Column
		})
		return nil, p.errs
	}
	sortEntries(m.entries)
	return m, nil
}

type parser struct {
	file string
	errs checks.Errors
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, &checks.Error{File: p.file, Line: n.Line, Column: n.Column, Msg: fmt.Sprintf(format, args...)})
}

var (
	rootKeys  = []string{"version", "models"}
	modelKeys = []string{"kind", "aliases", "stages"}
	kinds     = []string{KindModel, KindPrompt}
)

func (p *parser) parse(data []byte) *Manifest {
	root, errs := checks.DecodeDocument(p.file, "manifest", data)
	p.errs = append(p.errs, errs...)
	if root == nil || root.Kind == yaml.AliasNode {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "the manifest must be a mapping with version and models, got %s", checks.Describe(root))
		return nil
	}
	m := &Manifest{File: p.file, Version: 1}
	var version, models *yaml.Node
	typos := map[string]bool{}
	for _, f := range p.pairs(root, "key") {
		switch f.key.Value {
		case "version":
			version = f.val
		case "models":
			models = f.val
		default:
			s := checks.Suggest(f.key.Value, rootKeys)
			typos[s] = true
			p.errorf(f.key, "unknown key %q in the manifest%s", f.key.Value, rootKeyHint(f, s))
		}
	}
	if version == nil {
		if !typos["version"] {
			p.errorf(root, "missing required key %q (set version: 1)", "version")
		}
	} else if v, ok := p.integer(version, "version"); ok && v != 1 {
		p.errorf(version, "unsupported manifest version %d: this release reads version 1", v)
		return nil // keys of another version would only add noise
	}
	if models == nil {
		if !typos["models"] {
			p.errorf(root, "missing required key %q", "models")
		}
		return m
	}
	p.models(m, models)
	return m
}

// rootKeyHint says what an unknown top-level key should be: a typo of a
// key, a key of a model, or a model written without "models:" above it.
func rootKeyHint(f field, suggestion string) string {
	switch {
	case suggestion != "":
		return fmt.Sprintf(" (did you mean %q?)", suggestion)
	case slices.Contains(modelKeys, f.key.Value):
		return fmt.Sprintf(" (%q belongs under a model: models.<name>.%s)", f.key.Value, f.key.Value)
	case f.val.Kind == yaml.MappingNode && hasAnyKey(f.val, modelKeys):
		return " (models go under models:)"
	}
	return fmt.Sprintf(" (allowed: %s)", strings.Join(rootKeys, ", "))
}

func hasAnyKey(n *yaml.Node, keys []string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if slices.Contains(keys, n.Content[i].Value) {
			return true
		}
	}
	return false
}

func (p *parser) models(m *Manifest, n *yaml.Node) {
	switch {
	case n.Kind == yaml.AliasNode:
		return
	case isNull(n) || (n.Kind == yaml.MappingNode && len(n.Content) == 0):
		p.errorf(n, "models must not be empty: name at least one model")
		return
	case n.Kind == yaml.SequenceNode:
		p.errorf(n, "models must be a mapping from model names to their aliases and stages, got a sequence (write fraud-model: {aliases: {champion: 15}}, not - name: fraud-model)")
		return
	case n.Kind != yaml.MappingNode:
		p.errorf(n, "models must be a mapping from model names to their aliases and stages, got %s", checks.Describe(n))
		return
	}
	for _, f := range p.pairs(n, "model") {
		m.entries = append(m.entries, p.model(f.key, f.val)...)
	}
}

// promptNameRe is MLflow's prompt name rule (mlflow/prompt/constants.py
// PROMPT_NAME_RULE), which register_prompt applies.
var promptNameRe = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)

func (p *parser) model(k, n *yaml.Node) []Entry {
	name := k.Value
	if err := mlflow.CheckModelName(name); err != nil {
		p.errorf(k, "%v", err)
		name = ""
	}
	switch {
	case n.Kind == yaml.AliasNode:
		return nil
	case isNull(n):
		p.errorf(k, "model %q has no aliases or stages: set aliases (or stages)", k.Value)
		return nil
	case n.Kind != yaml.MappingNode:
		p.errorf(n, "model %q must be a mapping with aliases or stages, got %s", k.Value, checks.Describe(n))
		return nil
	}
	kind := KindModel
	var aliases, stages *field
	typos := map[string]bool{}
	for _, f := range p.pairs(n, "key") {
		switch f.key.Value {
		case "kind":
			if s, ok := p.kind(f.val); ok {
				kind = s
			} else {
				kind = ""
			}
		case "aliases":
			aliases = &f
		case "stages":
			stages = &f
		default:
			meant, hint := modelKeyHint(f)
			typos[meant] = true
			p.errorf(f.key, "unknown key %q in model %q%s", f.key.Value, k.Value, hint)
		}
	}
	if kind == KindPrompt && name != "" && !promptNameRe.MatchString(name) {
		p.errorf(k, "prompt name %q is not a valid MLflow prompt name: use only letters, digits, \"_\", \"-\" and \".\"", name)
		name = ""
	}
	if aliases == nil && stages == nil && !typos["aliases"] && !typos["stages"] {
		p.errorf(k, "model %q has no aliases or stages: set aliases (or stages)", k.Value)
	}
	var out []Entry
	if aliases != nil {
		out = append(out, p.targets(k.Value, *aliases, checks.TargetKindAlias)...)
	}
	if stages != nil {
		if kind == KindPrompt {
			p.errorf(stages.key, "model %q is a prompt: MLflow's prompts have no stages; use aliases", k.Value)
		} else {
			out = append(out, p.targets(k.Value, *stages, checks.TargetKindStage)...)
		}
	}
	if name == "" || kind == "" {
		return nil // reported; the entries would be wrong
	}
	for i := range out {
		out[i].Model, out[i].Kind = name, kind
	}
	return out
}

// modelKeyHint says what an unknown key of a model should be: a typo of a
// key, or an alias or stage written without "aliases:" or "stages:" above
// it. meant is the key the user probably meant, if any.
func modelKeyHint(f field) (meant, hint string) {
	if s := checks.Suggest(f.key.Value, modelKeys); s != "" {
		return s, fmt.Sprintf(" (did you mean %q?)", s)
	}
	if _, ok := checks.CanonicalStage(f.key.Value); ok {
		return "stages", " (stages go under stages:)"
	}
	if f.val.Kind == yaml.ScalarNode && f.val.ShortTag() == "!!int" && checks.CheckAlias(f.key.Value) == nil {
		return "aliases", " (aliases go under aliases:)"
	}
	return "", fmt.Sprintf(" (allowed: %s)", strings.Join(modelKeys, ", "))
}

func (p *parser) kind(n *yaml.Node) (string, bool) {
	if n.Kind == yaml.AliasNode {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		p.errorf(n, "kind must be one of %s, got %s", strings.Join(kinds, ", "), checks.Describe(n))
		return "", false
	}
	if !slices.Contains(kinds, n.Value) {
		hint := ""
		if s := checks.Suggest(n.Value, kinds); s != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", s)
		}
		p.errorf(n, "kind must be one of %s, got %q%s", strings.Join(kinds, ", "), n.Value, hint)
		return "", false
	}
	return n.Value, true
}

// targets parses a model's aliases or stages: a mapping from target name
// to version.
func (p *parser) targets(model string, f field, targetKind string) []Entry {
	section := f.key.Value // aliases or stages
	n := f.val
	switch {
	case n.Kind == yaml.AliasNode:
		return nil
	case isNull(n) || (n.Kind == yaml.MappingNode && len(n.Content) == 0):
		p.errorf(n, "%s of model %q must not be empty (leave the key out instead)", section, model)
		return nil
	case n.Kind != yaml.MappingNode:
		p.errorf(n, "%s of model %q must be a mapping from %s names to versions, got %s", section, model, targetKind, checks.Describe(n))
		return nil
	}
	var out []Entry
	stageKeys := map[string]*yaml.Node{}      // canonical stage → its first key
	stageOfVersion := map[string]*yaml.Node{} // version → its first stage key
	for _, tf := range p.pairs(n, targetKind) {
		target, ok := tf.key.Value, true
		if targetKind == checks.TargetKindAlias {
			if err := checks.CheckAlias(target); err != nil {
				p.errorf(tf.key, "%v", err)
				ok = false
			}
		} else {
			target, ok = checks.CanonicalStage(tf.key.Value)
			switch {
			case !ok:
				p.errorf(tf.key, "stage must be one of Staging, Production, Archived, None (any case), got %q", tf.key.Value)
			case stageKeys[target] != nil:
				first := stageKeys[target]
				p.errorf(tf.key, "duplicate stage %q: %q at line %d is the same stage (stage names are case-insensitive)", tf.key.Value, first.Value, first.Line)
				ok = false
			default:
				stageKeys[target] = tf.key
			}
		}
		what := fmt.Sprintf("model %q, %s %q", model, targetKind, tf.key.Value)
		v, vok := p.version(tf.val, what)
		if !ok || !vok {
			continue
		}
		if targetKind == checks.TargetKindStage {
			if prev := stageOfVersion[v]; prev != nil {
				first, _ := checks.CanonicalStage(prev.Value)
				p.errorf(tf.val, "model %q: version %s cannot be in stage %s and stage %s (line %d): a version is in one stage at a time", model, v, target, first, prev.Line)
				continue
			}
			stageOfVersion[v] = tf.key
		}
		t := checks.AliasTarget(target)
		if targetKind == checks.TargetKindStage {
			t = checks.StageTarget(target)
		}
		out = append(out, Entry{Target: t, Version: v, Pos: Pos{tf.val.Line, tf.val.Column}})
	}
	return out
}

var (
	// decimalVersion is how a version is written: a positive decimal
	// integer without sign, leading zeros or underscores.
	decimalVersion = regexp.MustCompile(`^[1-9][0-9]*$`)
	leadingZero    = regexp.MustCompile(`^0[0-9_]+$`)
	versionRef     = regexp.MustCompile(`^[vV]([1-9][0-9]*)$`)
)

// version parses a version value; what names it in messages.
func (p *parser) version(n *yaml.Node, what string) (string, bool) {
	if n.Kind == yaml.AliasNode {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, "%s: version must be a positive integer, got %s", what, checks.Describe(n))
		return "", false
	}
	v, tag := n.Value, n.ShortTag()
	switch {
	case tag == "!!null":
		p.errorf(n, "%s: version is missing: write the version number", what)
	case tag == "!!str":
		hint := ""
		if decimalVersion.MatchString(v) {
			hint = fmt.Sprintf(" (write %s without quotes)", v)
		} else if m := versionRef.FindStringSubmatch(v); m != nil {
			hint = fmt.Sprintf(" (write %s)", m[1])
		}
		p.errorf(n, "%s: version must be a positive integer, got %s%s", what, checks.Describe(n), hint)
	case tag != "!!int" && tag != "!!float":
		p.errorf(n, "%s: version must be a positive integer, got %s", what, checks.Describe(n))
	case decimalVersion.MatchString(v) && (tag == "!!int" || len(v) > 10):
		// A plain integer beyond int64 is a float to yaml.v3.
		if i, err := strconv.Atoi(v); err != nil || i > MaxVersion {
			p.errorf(n, "%s: version %s is larger than any MLflow version (at most %d)", what, v, MaxVersion)
			return "", false
		}
		return v, true
	case leadingZero.MatchString(v):
		p.errorf(n, "%s: version %s has a leading zero, and YAML may read it as an octal number: write the version without it", what, v)
	default:
		var i int64
		if err := n.Decode(&i); tag == "!!int" && err == nil && i > 0 {
			p.errorf(n, "%s: version must be written in decimal, got %s: write %d", what, v, i)
		} else {
			p.errorf(n, "%s: version must be a positive integer, got %s", what, v)
		}
	}
	return "", false
}

// integer parses the file format version.
func (p *parser) integer(n *yaml.Node, what string) (int, bool) {
	if n.Kind == yaml.AliasNode {
		return 0, false
	}
	var i int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
		p.errorf(n, "%s must be an integer, got %s", what, checks.Describe(n))
		return 0, false
	}
	return i, true
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// field is one key/value pair of a mapping.
type field struct {
	key, val *yaml.Node
}

// pairs returns the key/value pairs of mapping n in order. Keys must be
// unique strings; problem keys are reported and left out. noun names a key
// in messages: "model", "alias", "stage" or "key".
func (p *parser) pairs(n *yaml.Node, noun string) []field {
	var out []field
	first := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind == yaml.AliasNode:
			continue // reported
		case k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge":
			if v.Kind != yaml.AliasNode {
				p.errorf(k, "merge keys (<<) are not allowed: write the keys out")
			}
			continue
		case k.Kind != yaml.ScalarNode:
			p.errorf(k, "%s must be a string, got %s", keyWhat(noun), checks.Describe(k))
			continue
		case k.ShortTag() != "!!str":
			p.errorf(k, "%s must be a string, got %s (quote it if you mean the string %q)", keyWhat(noun), checks.Describe(k), k.Value)
			continue
		}
		if prev, dup := first[k.Value]; dup {
			p.errorf(k, "duplicate %s %q (first defined at line %d)", noun, k.Value, prev.Line)
			continue
		}
		first[k.Value] = k
		out = append(out, field{key: k, val: v})
	}
	return out
}

func keyWhat(noun string) string {
	switch noun {
	case "model":
		return "a model name"
	case "alias":
		return "an alias name"
	case "stage":
		return "a stage name"
	}
	return "a key"
}
