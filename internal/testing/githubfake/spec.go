package githubfake

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/mlreg/mlreg-action/internal/testing/testutil"
)

// SpecPath is the trimmed description, relative to the module root.
// scripts/gen-github-openapi.sh regenerates it from @octokit/openapi.
const SpecPath = "testdata/github/api.github.com.subset.json"

var (
	specOnce sync.Once
	specDoc  *openapi3.T
	specErr  error
)

// LoadSpec parses and validates the trimmed description once per process.
// The document is shared and must be treated as read-only.
func LoadSpec() (*openapi3.T, error) {
	specOnce.Do(func() {
		specDoc, specErr = loadSpec()
	})
	return specDoc, specErr
}

func loadSpec() (*openapi3.T, error) {
	root, err := testutil.RepoRoot()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(root, SpecPath))
	if err != nil {
		return nil, fmt.Errorf("failed to read GitHub's API description (run scripts/gen-github-openapi.sh): %w", err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		return nil, fmt.Errorf("failed to load GitHub's API description: %w", err)
	}
	// Paths are matched after the fake strips its own prefix.
	doc.Servers = nil
	doc.SetStringFormatValidator("uri", openapi3.NewCallbackValidator(func(s string) error {
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" {
			return fmt.Errorf("not an absolute URI: %q", s)
		}
		return nil
	}))
	if err := doc.Validate(context.Background(), ValidationOptions...); err != nil {
		return nil, fmt.Errorf("GitHub's API description is invalid: %w", err)
	}
	return doc, nil
}

// ValidationOptions check the description itself. GitHub's own examples do
// not all match its schemas (the "team" example lacks the required "type"),
// so examples are not checked; requests and responses are.
var ValidationOptions = []openapi3.ValidationOption{openapi3.DisableExamplesValidation()}

// SpecOperations lists the operationIds the trimmed description holds.
func SpecOperations(doc *openapi3.T) []string {
	var ops []string
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			ops = append(ops, op.OperationID)
		}
	}
	sort.Strings(ops)
	return ops
}

// sample builds a value that satisfies s: required properties only, the
// schema's own example where it has one, nullable objects filled in (so a
// handler can overlay fields on them). Handlers overlay the fields they own.
func sample(s *openapi3.Schema, depth int) any {
	if s == nil {
		return nil
	}
	if (depth > 12 && s.Nullable) || depth > 30 {
		return nil
	}
	if len(s.AllOf) > 0 {
		out := map[string]any{}
		for _, ref := range s.AllOf {
			if m, ok := sample(ref.Value, depth+1).(map[string]any); ok {
				for k, v := range m {
					out[k] = v
				}
			}
		}
		return out
	}
	if len(s.OneOf) > 0 {
		return sample(s.OneOf[0].Value, depth+1)
	}
	if len(s.AnyOf) > 0 {
		return sample(s.AnyOf[0].Value, depth+1)
	}
	if len(s.Enum) > 0 {
		return s.Enum[0]
	}
	typ := ""
	if s.Type != nil && len(s.Type.Slice()) > 0 {
		typ = s.Type.Slice()[0]
	}
	switch typ {
	case openapi3.TypeObject, "":
		if typ == "" && len(s.Properties) == 0 {
			return map[string]any{}
		}
		out := map[string]any{}
		for _, name := range s.Required {
			if p, ok := s.Properties[name]; ok && p.Value != nil {
				out[name] = sample(p.Value, depth+1)
			} else {
				out[name] = ""
			}
		}
		return out
	case openapi3.TypeArray:
		if s.MinItems > 0 && s.Items != nil {
			return []any{sample(s.Items.Value, depth+1)}
		}
		return []any{}
	case openapi3.TypeString:
		switch s.Format {
		case "date-time":
			return sampleTime.Format(time.RFC3339)
		case "date":
			return sampleTime.Format(time.DateOnly)
		case "uri":
			if v, ok := s.Example.(string); ok {
				if u, err := url.Parse(v); err == nil && u.Scheme != "" {
					return v
				}
			}
			return "https://api.github.com/"
		case "email":
			return "octocat@github.com"
		}
		if v, ok := s.Example.(string); ok {
			return v
		}
		return ""
	case openapi3.TypeInteger:
		if v, ok := s.Example.(float64); ok && v == float64(int64(v)) {
			return int64(v)
		}
		return int64(1)
	case openapi3.TypeNumber:
		if v, ok := s.Example.(float64); ok {
			return v
		}
		return 1.0
	case openapi3.TypeBoolean:
		if v, ok := s.Example.(bool); ok {
			return v
		}
		return false
	}
	return nil
}

var sampleTime = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// overlay deep-merges o onto base (maps merge, anything else replaces).
func overlay(base, o any) any {
	bm, ok1 := base.(map[string]any)
	om, ok2 := o.(map[string]any)
	if !ok1 || !ok2 {
		return o
	}
	for k, v := range om {
		bm[k] = overlay(bm[k], v)
	}
	return bm
}
