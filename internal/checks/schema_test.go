package checks

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var policySchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	return c.Compile(filepath.Join("..", "..", "schema", "mlreg-policy.schema.json"))
})

// validateSchema validates every YAML document of data against the schema,
// as an editor does (see editorView).
func validateSchema(t *testing.T, data []byte) error {
	t.Helper()
	sch, err := policySchema()
	if err != nil {
		t.Fatalf("failed to compile schema: %v", err)
	}
	docs, err := editorView(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if err := sch.Validate(d); err != nil {
			return err
		}
	}
	return nil
}

func TestExamplePolicies(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "policies", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found %d example policies, want at least 5", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(f, data); err != nil {
				t.Errorf("Parse() error:\n%v", err)
			}
			if err := validateSchema(t, data); err != nil {
				t.Errorf("schema validation failed:\n%v", err)
			}
		})
	}
}

func TestSchemaAcceptsGoodPolicies(t *testing.T) {
	t.Parallel()
	srcs := []string{head, matchPolicy}
	for _, tc := range goodCases {
		srcs = append(srcs, tc.src)
	}
	for _, src := range srcs {
		if _, err := Parse("p.yml", []byte(src)); err != nil {
			t.Fatalf("Parse() error: %v", err)
		}
		if err := validateSchema(t, []byte(src)); err != nil {
			t.Errorf("schema rejects a valid policy:\n%s\n%v", src, err)
		}
	}
}

// The schema cannot express everything Parse checks, but what it can, it
// must reject too: editors should flag the same mistakes.
func TestSchemaRejectsBadPolicies(t *testing.T) {
	t.Parallel()
	n := 0
	for _, tc := range badCases {
		if !tc.schema {
			continue
		}
		n++
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := validateSchema(t, []byte(tc.src)); err == nil {
				t.Errorf("schema accepts:\n%s", tc.src)
			}
		})
	}
	if n < 30 {
		t.Errorf("only %d bad policies checked against the schema", n)
	}
}
