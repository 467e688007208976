package checks

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Error is one problem in a policy file. Line and Column are 1-based; 0
// means unknown (the problem concerns the whole file, or the YAML parser
// did not report a column).
type Error struct {
	File   string
	Line   int
	Column int
	Msg    string
	Err    error // the cause, when the file could not be read
}

// Unwrap returns the cause, e.g. fs.ErrNotExist for a missing file.
func (e *Error) Unwrap() error { return e.Err }

// Error returns "file:line:col: msg", leaving out the parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(":")
		if e.Column > 0 {
			b.WriteString(strconv.Itoa(e.Column))
			b.WriteString(":")
		}
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem Parse found, sorted by position.
type Errors []*Error

// Error returns one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// LoadFileAs reads and parses the policy file at path, naming it name in
// errors and in the policy: the path as the user wrote it, when path was
// resolved against a workspace. A file that cannot be read is an *Error too
// (without a position): like a bad policy, it is a problem of the
// configuration, not of the registry.
func LoadFileAs(path, name string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, readError(name, err)
	}
	defer f.Close() //nolint:errcheck // opened read-only: closing cannot lose data
	data, err := io.ReadAll(io.LimitReader(f, MaxPolicySize+1))
	if err != nil {
		return nil, readError(name, err)
	}
	return Parse(name, data)
}

func readError(path string, err error) *Error {
	return &Error{Msg: fmt.Sprintf("failed to read policy file %q: %v", path, err), Err: err}
}

// Parse parses a version 1 policy file. file names it in errors. On failure
// the error is Errors, holding every problem found.
func Parse(file string, data []byte) (*Policy, error) {
	p := &parser{file: file}
	pol := p.parse(data)
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *Error) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Column - b.Column
		})
		return nil, p.errs
	}
	return pol, nil
}

// Digest returns "sha256:<hex>" of data, as in Policy.Digest.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

type parser struct {
	file string
	errs Errors
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	e := &Error{File: p.file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

func (p *parser) parse(data []byte) *Policy {
	root, errs := DecodeDocument(p.file, "policy file", data)
	p.errs = append(p.errs, errs...)
	if root == nil {
		return nil
	}
	fields, ok := p.mapping(root, "the policy", []string{"version", "rules"})
	if !ok {
		return nil
	}
	pol := &Policy{File: p.file, Version: 1, Digest: Digest(data)}
	if f, ok := fields.get("version"); !ok {
		if !fields.has("version") {
			p.errorf(root, "missing required key %q (set version: 1)", "version")
		}
	} else if v, ok := p.integer(f.val, "version"); ok && v != 1 {
		p.errorf(f.val, "unsupported policy version %d: this release reads version 1", v)
		return nil // keys of another version would only add noise
	}
	f, ok := fields.get("rules")
	if !ok {
		if !fields.has("rules") {
			p.errorf(root, "missing required key %q", "rules")
		}
		return nil
	}
	pol.RulesLine = f.key.Line
	if !p.sequence(f.val, "rules") {
		return nil
	}
	if len(f.val.Content) == 0 {
		p.errorf(f.val, "rules must not be empty: add at least one rule")
		return nil
	}
	names := map[string]int{}
	for _, rn := range f.val.Content {
		if r := p.rule(rn, names); r != nil {
			pol.Rules = append(pol.Rules, r)
		}
	}
	return pol
}

// field is one key/value pair of a mapping.
type field struct {
	key, val *yaml.Node
}

// fieldList is a mapping's fields in order, plus the allowed keys that
// unknown keys were taken for typos of ("mni" → "min"): a check that such a
// key is missing would only repeat the typo report.
type fieldList struct {
	list   []field
	typos  map[string]bool
	merged bool // a merge key (<<: *alias) was left out; anything may be missing
}

// incomplete reports whether keys were left out that may have been meant
// to fill the mapping, so "missing" and "empty" reports would be noise.
func (fl fieldList) incomplete() bool {
	return len(fl.typos) > 0 || fl.merged
}

func (fl fieldList) get(key string) (field, bool) {
	for _, f := range fl.list {
		if f.key.Value == key {
			return f, true
		}
	}
	return field{}, false
}

// has reports whether key is set, or was probably meant by a typo.
func (fl fieldList) has(key string) bool {
	_, ok := fl.get(key)
	return ok || fl.typos[key] || fl.merged
}

// mapping checks that n is a mapping with unique string keys, all in
// allowed (any key when allowed is nil), and returns its fields in order.
// Problem keys are reported and left out.
func (p *parser) mapping(n *yaml.Node, what string, allowed []string) (fieldList, bool) {
	if n.Kind == yaml.AliasNode {
		return fieldList{}, false // already reported
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping, got %s", what, describe(n))
		return fieldList{}, false
	}
	out := fieldList{typos: map[string]bool{}}
	first := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "keys of %s must be strings, got %s", what, describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			out.merged = true
			if v.Kind != yaml.AliasNode {
				p.errorf(k, "merge keys (<<) are not allowed")
			}
			continue
		}
		if k.ShortTag() == "!!null" || k.Value == "" {
			p.errorf(k, "keys of %s must not be empty", what)
			continue
		}
		if prev, dup := first[k.Value]; dup {
			p.errorf(k, "duplicate key %q (first defined at line %d)", k.Value, prev.Line)
			continue
		}
		first[k.Value] = k
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			s := suggest(k.Value, allowed)
			if s != "" {
				out.typos[s] = true
			}
			p.errorf(k, "unknown key %q in %s%s", k.Value, what, keyHint(k.Value, s, allowed))
			continue
		}
		out.list = append(out.list, field{key: k, val: v})
	}
	return out, true
}

// keyHint suggests what an unknown key should be.
func keyHint(key, suggestion string, allowed []string) string {
	if suggestion != "" {
		return fmt.Sprintf(" (did you mean %q?)", suggestion)
	}
	if home, ok := keyHomes[key]; ok {
		return fmt.Sprintf(" (%q belongs under %s)", key, home)
	}
	return fmt.Sprintf(" (allowed: %s)", strings.Join(allowed, ", "))
}

// keyHomes says where keys that are valid elsewhere belong.
var keyHomes = map[string]string{
	"name": "a rule", "applies-to": "a rule", "require-source": "a rule", "metrics": "a rule",
	"tags": "a rule", "run": "a rule", "approval": "a rule", "artifacts": "a rule", "digest": "artifacts",
	"on-missing-metric": "a rule", "on-first-deploy": "a rule",
	"alias": "applies-to", "stage": "applies-to", "models": "applies-to", "kind": "applies-to",
	"aliases": "require-source", "stages": "require-source",
	"direction": "a metric (metrics.<name>)", "vs-champion": "a metric (metrics.<name>)",
	"dataset": "a metric (metrics.<name>)", "aggregate": "a metric (metrics.<name>)",
	"min-improvement": "vs-champion", "min-relative-improvement": "vs-champion", "max-regression": "vs-champion",
	"status": "run", "max-age": "run",
	"environment-reviews": "approval", "pull-request-reviews": "approval", "exclude-actor": "pull-request-reviews",
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.ShortTag() {
	case "!!str":
		return fmt.Sprintf("the string %q", n.Value)
	case "!!int":
		return "an integer (" + n.Value + ")"
	case "!!float":
		return "a number (" + n.Value + ")"
	case "!!bool":
		return "a boolean (" + n.Value + ")"
	case "!!null":
		return "null"
	case "!!timestamp":
		return "a timestamp (" + n.Value + ")"
	}
	return fmt.Sprintf("a value tagged %s", n.Tag)
}

func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind == yaml.AliasNode {
		return "", false
	}
	// A plain date (2026-01-01) is a YAML 1.1 timestamp to yaml.v3 but a
	// string in YAML 1.2, as editors read it against the JSON Schema: take
	// its text.
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!str" && n.ShortTag() != "!!timestamp") {
		hint := ""
		if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" {
			hint = fmt.Sprintf(" (quote it if you mean the string %q)", n.Value)
		}
		p.errorf(n, "%s must be a string, got %s%s", what, describe(n), hint)
		return "", false
	}
	return n.Value, true
}

// nonEmptyStr is str that also rejects blank strings.
func (p *parser) nonEmptyStr(n *yaml.Node, what string) (string, bool) {
	s, ok := p.str(n, what)
	if ok && strings.TrimSpace(s) == "" {
		p.errorf(n, "%s must not be empty", what)
		return "", false
	}
	return s, ok
}

func (p *parser) number(n *yaml.Node, what string) (float64, bool) {
	if n.Kind == yaml.AliasNode {
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		if outOfRange(n) {
			p.errorf(n, "%s must be a finite number, got %s (out of range)", what, n.Value)
			return 0, false
		}
		p.errorf(n, "%s must be a number, got %s", what, describe(n))
		return 0, false
	}
	var f float64
	if err := n.Decode(&f); err != nil {
		p.errorf(n, "%s must be a number, got %q", what, n.Value)
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		p.errorf(n, "%s must be a finite number, got %s", what, n.Value)
		return 0, false
	}
	return f, true
}

func (p *parser) integer(n *yaml.Node, what string) (int, bool) {
	if n.Kind == yaml.AliasNode {
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		p.errorf(n, "%s must be an integer, got %s", what, describe(n))
		return 0, false
	}
	var i int
	if err := n.Decode(&i); err != nil {
		p.errorf(n, "%s must be an integer, got %q", what, n.Value)
		return 0, false
	}
	return i, true
}

func (p *parser) boolean(n *yaml.Node, what string) (bool, bool) {
	if n.Kind == yaml.AliasNode {
		return false, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		p.errorf(n, "%s must be true or false, got %s", what, describe(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		p.errorf(n, "%s must be true or false, got %q", what, n.Value)
		return false, false
	}
	return b, true
}

func (p *parser) sequence(n *yaml.Node, what string) bool {
	if n.Kind == yaml.AliasNode {
		return false
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s must be a sequence, got %s", what, describe(n))
		return false
	}
	return true
}

// stringList parses a non-empty sequence of strings, checking each with check.
func (p *parser) stringList(n *yaml.Node, what string, check func(*yaml.Node, string) (string, bool)) []string {
	if !p.sequence(n, what) {
		return nil
	}
	if len(n.Content) == 0 {
		p.errorf(n, "%s must not be empty (leave the key out instead)", what)
		return nil
	}
	var out []string
	for _, item := range n.Content {
		s, ok := p.nonEmptyStr(item, "each entry of "+what)
		if !ok {
			continue
		}
		if check != nil {
			if s, ok = check(item, s); !ok {
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

func (p *parser) enum(n *yaml.Node, what string, values ...string) (string, bool) {
	s, ok := p.str(n, what)
	if !ok {
		return "", false
	}
	if !slices.Contains(values, s) {
		hint := ""
		if sg := suggest(s, values); sg != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", sg)
		}
		p.errorf(n, "%s must be one of %s, got %q%s", what, strings.Join(values, ", "), s, hint)
		return "", false
	}
	return s, true
}

var ruleKeys = []string{
	"name", "applies-to", "require-source", "metrics", "tags", "run", "approval", "artifacts",
	"on-missing-metric", "on-first-deploy",
}

func (p *parser) rule(n *yaml.Node, names map[string]int) *Rule {
	fields, ok := p.mapping(n, "rule", ruleKeys)
	if !ok {
		return nil
	}
	r := &Rule{Line: n.Line, OnMissingMetric: OnMissingFail, OnFirstDeploy: OnFirstDeployPass}
	if f, ok := fields.get("name"); !ok {
		if !fields.has("name") {
			p.errorf(n, "missing required key %q in rule", "name")
		}
	} else if s, ok := p.nonEmptyStr(f.val, "name"); ok {
		if line, dup := names[s]; dup {
			p.errorf(f.val, "duplicate rule name %q (first used at line %d)", s, line)
		} else {
			names[s] = f.val.Line
		}
		r.Name = s
	}
	if f, ok := fields.get("applies-to"); !ok {
		if !fields.has("applies-to") {
			p.errorf(n, "missing required key %q in rule: set alias or stage", "applies-to")
		}
	} else {
		r.AppliesTo = p.appliesTo(f.val)
	}
	prompt := r.AppliesTo.Kind == EntityPrompt
	for _, f := range fields.list {
		switch f.key.Value {
		case "require-source":
			r.RequireSource = p.requireSource(f.val)
		case "metrics":
			if prompt {
				// MLflow keeps no metrics for a prompt version: a run or logged model that
				// loads a prompt lists it in its mlflow.linkedPrompts tag, and one version may
				// be linked to any number of runs, none of which is its evaluation.
				p.errorf(f.key, "metrics cannot be checked in a rule for prompts (applies-to kind: prompt): "+
					"MLflow links no evaluation metrics to a prompt version; check its tags instead")
				continue
			}
			r.Metrics = p.metrics(f.val)
		case "tags":
			r.Tags = p.tags(f.val)
		case "run":
			if prompt {
				p.errorf(f.key, "run cannot be checked in a rule for prompts (applies-to kind: prompt): "+
					"a prompt version has no run; check its tags instead")
				continue
			}
			r.Run = p.run(f.val)
		case "approval":
			r.Approval = p.approval(f.val)
		case "artifacts":
			if prompt {
				p.errorf(f.key, "artifacts cannot be checked in a rule for prompts (applies-to kind: prompt): "+
					"a prompt version has no model files")
				continue
			}
			r.Artifacts = p.artifacts(f.val)
		case "on-missing-metric":
			if s, ok := p.enum(f.val, "on-missing-metric", OnMissingFail, OnMissingSkip); ok {
				r.OnMissingMetric = s
			}
		case "on-first-deploy":
			if s, ok := p.enum(f.val, "on-first-deploy", OnFirstDeployPass, OnFirstDeployFail); ok {
				r.OnFirstDeploy = s
			}
		}
	}
	return r
}

func (p *parser) appliesTo(n *yaml.Node) AppliesTo {
	var a AppliesTo
	fields, ok := p.mapping(n, "applies-to", []string{"alias", "stage", "models", "kind"})
	if !ok {
		return a
	}
	fa, hasAlias := fields.get("alias")
	fs, hasStage := fields.get("stage")
	switch {
	case hasAlias && hasStage:
		p.errorf(fs.key, "applies-to must set alias or stage, not both: write one rule for each")
	case !hasAlias && !hasStage:
		if !fields.has("alias") && !fields.has("stage") {
			p.errorf(n, "applies-to must set alias or stage")
		}
	case hasAlias:
		if s, ok := p.str(fa.val, "alias"); ok {
			a.Alias, _ = p.alias(fa.val, s)
		}
	case hasStage:
		if s, ok := p.str(fs.val, "stage"); ok {
			a.Stage, _ = p.stage(fs.val, s)
		}
	}
	if f, ok := fields.get("models"); ok {
		a.Models = p.stringList(f.val, "models", p.glob)
	}
	if f, ok := fields.get("kind"); ok {
		if s, ok := p.enum(f.val, "kind", EntityModel, EntityPrompt); ok {
			a.Kind = s
		}
	}
	return a
}

// aliasRe is MLflow's alias rule ^[\w\-]+$ with Python's Unicode \w, and
// versionAliasRe its reserved ^[vV]\d+$ with Python's Unicode \d.
var (
	aliasRe        = regexp.MustCompile(`^[\p{L}\p{N}_-]+$`)
	versionAliasRe = regexp.MustCompile(`^[vV]\p{Nd}+$`)
)

// alias checks an alias name the way MLflow does when setting one.
func (p *parser) alias(n *yaml.Node, s string) (string, bool) {
	if err := CheckAlias(s); err != nil {
		p.errorf(n, "%v", err)
		return "", false
	}
	return s, true
}

// CheckAlias applies MLflow's rules for an alias name
// (mlflow/utils/validation.py: _validate_model_alias_name and
// _validate_model_alias_name_reserved), so that a bad name is an error
// before any request.
func CheckAlias(s string) error {
	switch {
	case s == "":
		return errors.New("alias must not be empty")
	case strings.HasPrefix(s, "@"):
		return fmt.Errorf("alias %q: write the alias without \"@\" (%s)", s, strings.TrimPrefix(s, "@"))
	case utf8.RuneCountInString(s) > 255:
		return errors.New("alias is longer than 255 characters")
	case !aliasRe.MatchString(s):
		return fmt.Errorf("alias %q is not a valid MLflow alias: use only letters, digits, \"_\" and \"-\"", s)
	case asciiEqualFold(s, "latest"):
		return fmt.Errorf("alias %q is reserved by MLflow", s)
	case versionAliasRe.MatchString(s):
		return fmt.Errorf("alias %q is reserved by MLflow for version references", s)
	}
	return nil
}

func (p *parser) stage(n *yaml.Node, s string) (string, bool) {
	c, ok := CanonicalStage(s)
	if !ok {
		p.errorf(n, "stage must be one of Staging, Production, Archived, None (any case), got %q", s)
		return "", false
	}
	return c, true
}

func (p *parser) glob(n *yaml.Node, s string) (string, bool) {
	if _, err := path.Match(s, ""); err != nil {
		p.errorf(n, "model glob %q is not a valid pattern: %v", s, err)
		return "", false
	}
	return s, true
}

func (p *parser) requireSource(n *yaml.Node) *RequireSource {
	fields, ok := p.mapping(n, "require-source", []string{"aliases", "stages"})
	if !ok {
		return nil
	}
	rs := &RequireSource{Line: n.Line}
	if len(fields.list) == 0 && !fields.incomplete() {
		p.errorf(n, "require-source must list aliases or stages")
		return nil
	}
	if f, ok := fields.get("aliases"); ok {
		rs.Aliases = p.stringList(f.val, "aliases", p.alias)
	}
	if f, ok := fields.get("stages"); ok {
		rs.Stages = p.stringList(f.val, "stages", p.stage)
	}
	return rs
}

var metricKeys = []string{"min", "max", "direction", "vs-champion", "dataset", "aggregate"}

func (p *parser) metrics(n *yaml.Node) []*MetricRule {
	fields, ok := p.mapping(n, "metrics", nil)
	if !ok {
		return nil
	}
	if len(fields.list) == 0 && !fields.incomplete() {
		p.errorf(n, "metrics must not be empty (leave the key out instead)")
		return nil
	}
	var out []*MetricRule
	for _, f := range fields.list {
		if m := p.metric(f.key, f.val); m != nil {
			out = append(out, m)
		}
	}
	return out
}

func (p *parser) metric(k, n *yaml.Node) *MetricRule {
	what := fmt.Sprintf("metric %q", k.Value)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		p.errorf(k, "%s has no checks: set min, max or vs-champion", what)
		return nil
	}
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		p.errorf(n, "%s must be a mapping, got %s (write min: %s or max: %s)", what, describe(n), n.Value, n.Value)
		return nil
	}
	fields, ok := p.mapping(n, what, metricKeys)
	if !ok {
		return nil
	}
	m := &MetricRule{Key: k.Value, Line: k.Line, Aggregate: AggregateLast}
	hasMin, hasMax, hasVs := fields.has("min"), fields.has("max"), fields.has("vs-champion")
	if !hasMin && !hasMax && !hasVs {
		p.errorf(k, "%s has no checks: set min, max or vs-champion", what)
	}
	var minNode *yaml.Node
	explicitDir := fields.has("direction")
	for _, f := range fields.list {
		switch f.key.Value {
		case "min":
			if v, ok := p.number(f.val, "min"); ok {
				m.Min, minNode = &v, f.val
			}
		case "max":
			if v, ok := p.number(f.val, "max"); ok {
				m.Max = &v
			}
		case "direction":
			if s, ok := p.enum(f.val, "direction", DirectionMaximize, DirectionMinimize); ok {
				m.Direction = s
			}
		case "vs-champion":
			m.VsChampion = p.vsChampion(f.val)
		case "dataset":
			if s, ok := p.nonEmptyStr(f.val, "dataset"); ok {
				m.Dataset = s
			}
		case "aggregate":
			if s, ok := p.enum(f.val, "aggregate", AggregateLast, AggregateMin, AggregateMax, AggregateMean); ok {
				m.Aggregate = s
			}
		}
	}
	if m.Min != nil && m.Max != nil && *m.Min > *m.Max {
		p.errorf(minNode, "%s: min %s is greater than max %s", what, formatNumber(*m.Min), formatNumber(*m.Max))
	}
	if !explicitDir {
		switch {
		case hasMin && !hasMax:
			m.Direction = DirectionMaximize
		case hasMax && !hasMin:
			m.Direction = DirectionMinimize
		case hasVs:
			why := "neither min nor max is set"
			if hasMin {
				why = "both min and max are set"
			}
			p.errorf(k, "%s: set direction (maximize or minimize) for vs-champion: it cannot be inferred when %s", what, why)
		}
	}
	return m
}

var vsKeys = []string{"min-improvement", "min-relative-improvement", "max-regression"}

func (p *parser) vsChampion(n *yaml.Node) *VsChampion {
	fields, ok := p.mapping(n, "vs-champion", vsKeys)
	if !ok {
		return nil
	}
	switch {
	case len(fields.list) == 0:
		if !fields.incomplete() {
			p.errorf(n, "vs-champion must set one of min-improvement, min-relative-improvement, max-regression")
		}
		return nil
	case len(fields.list) > 1:
		p.errorf(fields.list[1].key, "vs-champion must set only one of min-improvement, min-relative-improvement, max-regression")
		return nil
	}
	f := fields.list[0]
	v, ok := p.number(f.val, f.key.Value)
	if !ok {
		return nil
	}
	if v < 0 {
		hint := ""
		if f.key.Value == "min-improvement" {
			hint = fmt.Sprintf(" (to allow a regression, use max-regression: %s)", formatNumber(-v))
		}
		p.errorf(f.val, "%s must not be negative, got %s%s", f.key.Value, formatNumber(v), hint)
		return nil
	}
	vs := &VsChampion{}
	switch f.key.Value {
	case "min-improvement":
		vs.MinImprovement = &v
	case "min-relative-improvement":
		vs.MinRelativeImprovement = &v
	case "max-regression":
		vs.MaxRegression = &v
	}
	return vs
}

// tags parses the tags section. A value is present, absent (plain) or a
// quoted or block string to compare with. Unquoted booleans, numbers and
// other plain words are errors: MLflow stores tag values as strings, and
// Python's mlflow.set_tag(k, True) stores "True", not "true", so the policy
// must spell out the exact string.
func (p *parser) tags(n *yaml.Node) []*TagRule {
	fields, ok := p.mapping(n, "tags", nil)
	if !ok {
		return nil
	}
	if len(fields.list) == 0 && !fields.incomplete() {
		p.errorf(n, "tags must not be empty (leave the key out instead)")
		return nil
	}
	var out []*TagRule
	for _, f := range fields.list {
		t := &TagRule{Key: f.key.Value, Line: f.key.Line}
		v := f.val
		if v.Kind == yaml.AliasNode {
			continue
		}
		if v.Kind != yaml.ScalarNode {
			p.errorf(v, "tag %q must be present, absent or a quoted string, got %s", t.Key, describe(v))
			continue
		}
		quoted := v.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0
		switch {
		case quoted && v.ShortTag() == "!!str":
			t.Want, t.Value = TagEquals, v.Value
		case v.ShortTag() == "!!str" && (v.Value == TagPresent || v.Value == TagAbsent):
			t.Want = v.Value
		case v.ShortTag() == "!!bool":
			p.errorf(v, "tag %q: unquoted %s is a YAML boolean; quote the exact string the tag holds, e.g. %q (Python's mlflow.set_tag stores True as %q)",
				t.Key, v.Value, strings.ToLower(v.Value), "True")
			continue
		case v.ShortTag() == "!!null":
			p.errorf(v, "tag %q has no value: write present, absent or a quoted string", t.Key)
			continue
		default:
			p.errorf(v, "tag %q: write present, absent or a quoted string, e.g. %q; got unquoted %s", t.Key, v.Value, v.Value)
			continue
		}
		out = append(out, t)
	}
	return out
}

var runStatuses = []string{"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"}

func (p *parser) run(n *yaml.Node) *RunRule {
	fields, ok := p.mapping(n, "run", []string{"status", "max-age"})
	if !ok {
		return nil
	}
	if len(fields.list) == 0 && !fields.incomplete() {
		p.errorf(n, "run must set status or max-age")
		return nil
	}
	rr := &RunRule{Line: n.Line}
	if f, ok := fields.get("status"); ok {
		if s, ok := p.str(f.val, "run status"); ok {
			if i := slices.IndexFunc(runStatuses, func(st string) bool { return asciiEqualFold(s, st) }); i >= 0 {
				rr.Status = runStatuses[i]
			} else {
				p.errorf(f.val, "run status must be one of %s, got %q", strings.Join(runStatuses, ", "), s)
			}
		}
	}
	if f, ok := fields.get("max-age"); ok {
		if f.val.Kind == yaml.ScalarNode && f.val.ShortTag() != "!!str" {
			p.errorf(f.val, "max-age must be a duration such as 168h or 7d, got %s", describe(f.val))
		} else if s, ok := p.str(f.val, "max-age"); ok {
			d, err := parseMaxAge(s)
			if err != nil {
				p.errorf(f.val, "max-age %q %v", s, err)
			} else {
				rr.MaxAge = d
			}
		}
	}
	return rr
}

var daysRe = regexp.MustCompile(`^([0-9]+)d(.*)$`)

const maxAgeDays = 36500

// parseMaxAge parses a Go duration with an optional leading day count:
// 168h, 7d, 1d12h, 90m.
func parseMaxAge(s string) (time.Duration, error) {
	const syntax = "is not a duration: use a Go duration with an optional day count, such as 168h, 7d or 1d12h"
	var total time.Duration
	rest := s
	if m := daysRe.FindStringSubmatch(s); m != nil {
		days, err := strconv.Atoi(m[1])
		if err != nil || days > maxAgeDays {
			return 0, fmt.Errorf("is too long: at most %d days", maxAgeDays)
		}
		total = time.Duration(days) * 24 * time.Hour
		rest = m[2]
	}
	if rest != "" {
		// time.ParseDuration takes a lone "0" without a unit; after a day count it is a typo.
		if strings.HasPrefix(rest, "+") || (rest != s && strings.Trim(rest, "0123456789") == "") ||
			(rest != s && strings.HasPrefix(rest, "-")) {
			return 0, errors.New(syntax)
		}
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, errors.New(syntax)
		}
		if d < 0 {
			return 0, errors.New("must be positive")
		}
		if d > time.Duration(maxAgeDays)*24*time.Hour-total {
			return 0, fmt.Errorf("is too long: at most %d days", maxAgeDays)
		}
		total += d
	}
	if total <= 0 {
		return 0, errors.New("must be positive")
	}
	return total, nil
}

func (p *parser) approval(n *yaml.Node) *Approval {
	fields, ok := p.mapping(n, "approval", []string{ApprovalEnvironmentReviews, ApprovalPullRequestReviews})
	if !ok {
		return nil
	}
	if len(fields.list) == 0 && !fields.incomplete() {
		p.errorf(n, "approval must set environment-reviews or pull-request-reviews")
		return nil
	}
	a := &Approval{Line: n.Line}
	if f, ok := fields.get(ApprovalEnvironmentReviews); ok {
		if fl, ok := p.mapping(f.val, ApprovalEnvironmentReviews, []string{"min", "environment"}); ok {
			n, okMin := p.minApprovals(f.val, fl)
			env, okEnv := "", true
			if fe, ok := fl.get("environment"); ok {
				env, okEnv = p.nonEmptyStr(fe.val, "environment")
			}
			if okMin && okEnv {
				a.EnvironmentReviews = &EnvironmentReviews{Min: n, Environment: env}
			}
		}
	}
	if f, ok := fields.get(ApprovalPullRequestReviews); ok {
		if fl, ok := p.mapping(f.val, ApprovalPullRequestReviews, []string{"min", "exclude-actor"}); ok {
			n, okMin := p.minApprovals(f.val, fl)
			excl, okExcl := false, true
			if fe, ok := fl.get("exclude-actor"); ok {
				excl, okExcl = p.boolean(fe.val, "exclude-actor")
			}
			if okMin && okExcl {
				a.PullRequestReviews = &PullRequestReviews{Min: n, ExcludeActor: excl}
			}
		}
	}
	return a
}

func (p *parser) minApprovals(n *yaml.Node, fl fieldList) (int, bool) {
	f, ok := fl.get("min")
	if !ok {
		if fl.has("min") {
			return 0, false
		}
		p.errorf(n, "missing required key %q (the number of approvals required)", "min")
		return 0, false
	}
	v, ok := p.integer(f.val, "min")
	if !ok {
		return 0, false
	}
	if v < 1 {
		p.errorf(f.val, "min must be at least 1, got %d (leave the entry out to require no approvals)", v)
		return 0, false
	}
	return v, true
}

// asciiEqualFold reports whether s and t are equal ignoring the case of
// ASCII letters only. MLflow compares stage names and the reserved alias
// "latest" after Python's str.lower(), which maps no other letter onto them;
// strings.EqualFold would also take "ſ" for "s" and "K" (Kelvin) for "k".
func asciiEqualFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		a, b := s[i], t[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// suggest returns the candidate closest to s when it is close enough to be
// a typo: a different case, "_" for "-", or one or two edits away
// (a swap of two neighbours counts as one).
func suggest(s string, candidates []string) string {
	norm := func(x string) string { return strings.ReplaceAll(strings.ToLower(x), "_", "-") }
	ns := norm(s)
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := EditDistance(ns, norm(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if utf8.RuneCountInString(s) <= 4 {
		limit = 1
	}
	if bestD <= limit {
		return best
	}
	return ""
}

// EditDistance is the optimal string alignment distance (Levenshtein with
// adjacent transpositions): what a typo costs, for "did you mean" hints.
func EditDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
