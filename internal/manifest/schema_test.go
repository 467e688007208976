package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

var manifestSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	return jsonschema.NewCompiler().Compile(filepath.Join("..", "..", "schema", "mlreg-models.schema.json"))
})

// yamlToJSON turns a manifest into the JSON value an editor validates: YAML
// aliases and merge keys resolved, keys as strings (an editor's YAML
// language server reads the key 1 as "1"), only the first document. YAML
// that yaml.v3 cannot read (bad syntax, duplicate keys) is an error.
func yamlToJSON(data []byte) (any, error) {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("failed to decode YAML: %w", err)
	}
	b, err := json.Marshal(stringKeys(v))
	if err != nil {
		return nil, fmt.Errorf("failed to encode JSON: %w", err)
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

func stringKeys(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = stringKeys(e)
		}
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[fmt.Sprint(k)] = stringKeys(e)
		}
		return out
	case []any:
		for i, e := range v {
			v[i] = stringKeys(e)
		}
	}
	return v
}

// schemaVerdict is nil when the schema accepts data, else why not.
func schemaVerdict(t *testing.T, data []byte) error {
	t.Helper()
	sch, err := manifestSchema()
	if err != nil {
		t.Fatalf("failed to compile schema: %v", err)
	}
	v, err := yamlToJSON(data)
	if err != nil {
		return err // an editor flags it as broken YAML
	}
	return sch.Validate(v)
}

// schemaGaps are the bad fixtures the schema accepts: the parser refuses
// them for a reason a JSON Schema cannot express. On every other fixture,
// good or bad, the parser and the schema agree.
var schemaGaps = map[string]string{
	"yaml-alias.yml":            "YAML aliases: the schema sees the value an alias stands for",
	"merge-key.yml":             "merge keys: the schema sees the merged mapping",
	"two-documents.yml":         "a second document: the schema checks one document at a time",
	"alias-not-string.yml":      "keys YAML reads as numbers or booleans: the schema sees every key as a string",
	"duplicate-stage.yml":       "stage names that differ only in case: JSON keys are distinct when their bytes are",
	"version-in-two-stages.yml": "one version in two stages: a schema cannot compare values with each other",
	"prompt-name.yml":           "MLflow's prompt name rule: a schema cannot check a key by the kind beside its value",
	"version-float.yml":         "15.0: to JSON Schema, a number with a zero fraction is an integer",
	"version-leading-zero.yml":  "015: the schema sees the number YAML read (13)",
	"version-not-decimal.yml":   "0x0F, 1_6, +17: the schema sees the number YAML read",
}

func TestSchemaAgreesWithParse(t *testing.T) {
	t.Parallel()
	var files []string
	for _, dir := range []string{"good", "bad"} {
		matches, err := filepath.Glob(filepath.Join(fixtures, dir, "*.yml"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, matches...)
	}
	files = append(files, filepath.Join("..", "..", "examples", "mlreg-models.yml"))
	gapsSeen := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		_, perr := Parse(f, data)
		serr := schemaVerdict(t, data)
		switch gap, isGap := schemaGaps[name]; {
		case isGap:
			gapsSeen[name] = true
			if perr == nil || serr != nil {
				t.Errorf("%s is listed as a gap (%s), but Parse() error = %v and the schema says %v", name, gap, perr, serr)
			}
		case perr == nil && serr != nil:
			t.Errorf("%s: Parse() accepts it, the schema does not:\n%v", name, serr)
		case perr != nil && serr == nil:
			t.Errorf("%s: the schema accepts it, Parse() does not:\n%v", name, perr)
		}
	}
	for name := range schemaGaps {
		if !gapsSeen[name] {
			t.Errorf("schemaGaps lists %s, which is not a fixture", name)
		}
	}
	if len(files)-len(schemaGaps) < 40 {
		t.Errorf("only %d files checked for agreement", len(files)-len(schemaGaps))
	}
}

// The example in examples/ is what users copy: it parses, passes the
// schema, and holds what its comments say (a Unity Catalog name, a prompt,
// an alias and a stage of the same model).
func TestExampleManifest(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "examples", "mlreg-models.yml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(path, data)
	if err != nil {
		t.Fatalf("Parse() error:\n%v", err)
	}
	if err := schemaVerdict(t, data); err != nil {
		t.Errorf("schema rejects the example:\n%v", err)
	}
	got := map[string]bool{}
	for _, e := range m.Entries() {
		got[e.Model+" "+e.Kind+" "+e.Target.Kind()+" "+e.Target.Name()+" "+e.Version] = true
	}
	for _, want := range []string{
		"fraud-model model alias champion 15",
		"fraud-model model alias challenger 16",
		"fraud-model model stage Production 15",
		"support-prompt prompt alias production 4",
	} {
		if !got[want] {
			t.Errorf("the example has no entry %q; it has %v", want, got)
		}
	}
	var uc, prompt bool
	for _, e := range m.Entries() {
		uc = uc || bytes.Count([]byte(e.Model), []byte(".")) == 2
		prompt = prompt || e.Kind == KindPrompt
	}
	if !uc || !prompt {
		t.Errorf("the example should show a Unity Catalog name (%v) and a prompt (%v)", uc, prompt)
	}
}
