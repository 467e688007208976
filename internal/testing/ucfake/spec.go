package ucfake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/mlreg/mlreg-action/internal/testing/testutil"
)

// SpecPath is the trimmed description of MLflow's Unity Catalog registry
// service, relative to the module root. scripts/gen-uc-protos.sh regenerates
// it from the pinned MLflow wheel.
const SpecPath = "testdata/uc/uc_registry.subset.json"

// ServiceName is the proto service the description comes from.
const ServiceName = "mlflow.ucmodelregistry.UcModelRegistryService"

// Spec is the trimmed description: each rpc's HTTP binding and the messages
// it reaches, as MLflow's own proto definitions give them.
type Spec struct {
	Source   string                 `json:"source"`
	Service  string                 `json:"service"`
	RPCs     map[string]RPC         `json:"rpcs"`
	Messages map[string]Message     `json:"messages"`
	Enums    map[string][]EnumValue `json:"enums"`
}

// RPC is one method of the service with its HTTP binding.
type RPC struct {
	Method   string `json:"method"`   // GET, POST, PATCH, DELETE
	Path     string `json:"path"`     // e.g. /api/2.0/mlflow/unity-catalog/model-versions/get
	Request  string `json:"request"`  // full message name
	Response string `json:"response"` // full message name
}

// Message is a proto message.
type Message struct {
	Fields []Field `json:"fields"`
}

// Field is a proto field. Type is the proto type name (string, int64, enum,
// message, ...); Message and Enum name the type of message and enum fields.
type Field struct {
	Name     string `json:"name"`
	JSONName string `json:"json_name"`
	Number   int    `json:"number"`
	Type     string `json:"type"`
	Repeated bool   `json:"repeated,omitempty"`
	Required bool   `json:"required,omitempty"` // the databricks.validate_required option
	Message  string `json:"message,omitempty"`
	Enum     string `json:"enum,omitempty"`
}

// EnumValue is one value of a proto enum.
type EnumValue struct {
	Name   string `json:"name"`
	Number int32  `json:"number"`
}

var (
	specOnce sync.Once
	specDoc  *Spec
	specErr  error
)

// LoadSpec reads the trimmed description once per process. The result is
// shared and must be treated as read-only.
func LoadSpec() (*Spec, error) {
	specOnce.Do(func() {
		root, err := testutil.RepoRoot()
		if err != nil {
			specErr = err
			return
		}
		b, err := os.ReadFile(filepath.Join(root, SpecPath))
		if err != nil {
			specErr = fmt.Errorf("failed to read the UC registry description (run scripts/gen-uc-protos.sh): %w", err)
			return
		}
		specDoc, specErr = ParseSpec(b)
	})
	return specDoc, specErr
}

// ParseSpec decodes a description and checks that every type it names is in it.
func ParseSpec(b []byte) (*Spec, error) {
	var s Spec
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("failed to parse the UC registry description: %w", err)
	}
	for name, r := range s.RPCs {
		for _, m := range []string{r.Request, r.Response} {
			if _, ok := s.Messages[m]; !ok {
				return nil, fmt.Errorf("UC registry description: rpc %s names message %s, which it lacks", name, m)
			}
		}
	}
	for name, m := range s.Messages {
		for _, f := range m.Fields {
			if _, ok := s.Messages[f.Message]; f.Message != "" && !ok {
				return nil, fmt.Errorf("UC registry description: %s.%s names message %s, which it lacks", name, f.Name, f.Message)
			}
			if _, ok := s.Enums[f.Enum]; f.Enum != "" && !ok {
				return nil, fmt.Errorf("UC registry description: %s.%s names enum %s, which it lacks", name, f.Name, f.Enum)
			}
		}
	}
	return &s, nil
}

// RPCNames lists the rpcs the description holds, sorted.
func (s *Spec) RPCNames() []string {
	out := make([]string, 0, len(s.RPCs))
	for n := range s.RPCs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// field finds a field of msg by its proto name or its JSON name, as the
// proto3 JSON mapping accepts both.
func (s *Spec) field(msg, key string) (Field, bool) {
	for _, f := range s.Messages[msg].Fields {
		if f.Name == key || f.JSONName == key {
			return f, true
		}
	}
	return Field{}, false
}

// InvalidError is a request that does not match the proto: Databricks
// answers it with 400 INVALID_PARAMETER_VALUE.
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

func invalid(format string, args ...any) error {
	return &InvalidError{Msg: fmt.Sprintf(format, args...)}
}

// DecodeQuery parses the query of a GET as message msg: every key must be a
// scalar field of it, a non-repeated field may appear once, and each value
// must parse as the field's type. The result maps proto field names to
// values as DecodeJSON gives them.
func (s *Spec) DecodeQuery(msg string, q url.Values) (map[string]any, error) {
	out := map[string]any{}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f, ok := s.field(msg, k)
		if !ok {
			return nil, invalid("Invalid parameter '%s': %s has no such field", k, shortName(msg))
		}
		if _, dup := out[f.Name]; dup {
			return nil, invalid("Parameter '%s' is given twice (as '%s' and '%s')", f.Name, f.Name, f.JSONName)
		}
		if f.Type == "message" || f.Type == "group" {
			return nil, invalid("Parameter '%s' is a message and cannot be passed in a query string", f.Name)
		}
		vals := q[k]
		if !f.Repeated && len(vals) > 1 {
			return nil, invalid("Parameter '%s' is not repeated but was given %d times", f.Name, len(vals))
		}
		var list []any
		for _, raw := range vals {
			v, err := s.scalar(f, raw, true)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		if f.Repeated {
			out[f.Name] = list
		} else {
			out[f.Name] = list[0]
		}
	}
	return out, s.required(msg, out)
}

// DecodeJSON parses body as message msg in the proto3 JSON mapping: unknown
// fields and values of the wrong type are errors; null is an absent field.
func (s *Spec) DecodeJSON(msg string, body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, invalid("Malformed JSON request body: %v", err)
	}
	if dec.More() {
		return nil, invalid("Malformed JSON request body: data after the JSON object")
	}
	m, err := s.message(msg, v, "")
	if err != nil {
		return nil, err
	}
	return m, s.required(msg, m)
}

func (s *Spec) message(msg string, v any, path string) (map[string]any, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, invalid("Invalid value for %s: expected a JSON object for %s, got %s", where(path), shortName(msg), jsonKind(v))
	}
	out := map[string]any{}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f, ok := s.field(msg, k)
		if !ok {
			return nil, invalid("Invalid parameter '%s': %s has no such field", join(path, k), shortName(msg))
		}
		if _, dup := out[f.Name]; dup {
			return nil, invalid("Parameter '%s' is given twice (as '%s' and '%s')", join(path, f.Name), f.Name, f.JSONName)
		}
		raw := obj[k]
		if raw == nil {
			continue // null is the default value: absent
		}
		p := join(path, f.Name)
		if f.Repeated {
			arr, ok := raw.([]any)
			if !ok {
				return nil, invalid("Invalid value for parameter '%s': expected a JSON array, got %s", p, jsonKind(raw))
			}
			list := make([]any, 0, len(arr))
			for i, e := range arr {
				x, err := s.value(f, e, fmt.Sprintf("%s[%d]", p, i))
				if err != nil {
					return nil, err
				}
				list = append(list, x)
			}
			out[f.Name] = list
			continue
		}
		x, err := s.value(f, raw, p)
		if err != nil {
			return nil, err
		}
		out[f.Name] = x
	}
	return out, nil
}

func (s *Spec) value(f Field, v any, path string) (any, error) {
	if f.Type == "message" {
		return s.message(f.Message, v, path)
	}
	switch t := v.(type) {
	case string:
		if f.Type == "bool" {
			return nil, invalid("Invalid value for parameter '%s': expected a JSON boolean, got a string", path)
		}
		return s.scalarAt(f, t, false, path)
	case json.Number:
		switch f.Type {
		case "string", "bytes", "bool":
			return nil, invalid("Invalid value %s for parameter '%s' supplied: expected %s, got a number", t, path, kindOf(f))
		}
		return s.scalarAt(f, t.String(), false, path)
	case bool:
		if f.Type != "bool" {
			return nil, invalid("Invalid value %t for parameter '%s' supplied: expected %s, got a boolean", t, path, kindOf(f))
		}
		return t, nil
	}
	return nil, invalid("Invalid value for parameter '%s': expected %s, got %s", path, kindOf(f), jsonKind(v))
}

func (s *Spec) scalar(f Field, raw string, query bool) (any, error) {
	return s.scalarAt(f, raw, query, f.Name)
}

// scalarAt parses raw (a JSON string's content, a JSON number's text, or a
// query value) as f's type.
func (s *Spec) scalarAt(f Field, raw string, query bool, path string) (any, error) {
	bad := func(why string) error {
		return invalid("Invalid value %q for parameter '%s' supplied: %s", raw, path, why)
	}
	switch f.Type {
	case "string":
		return raw, nil
	case "bytes":
		b, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			if b, err = base64.URLEncoding.DecodeString(raw); err != nil {
				return nil, bad("expected base64")
			}
		}
		return b, nil
	case "bool":
		if !query {
			return nil, bad("expected a JSON boolean")
		}
		switch raw {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, bad("expected true or false")
	case "int32", "sint32", "sfixed32":
		n, err := strconv.ParseInt(raw, 10, 32)
		if err != nil {
			return nil, bad("expected a 32-bit integer")
		}
		return n, nil
	case "uint32", "fixed32":
		n, err := strconv.ParseUint(raw, 10, 32)
		if err != nil {
			return nil, bad("expected an unsigned 32-bit integer")
		}
		return int64(n), nil
	case "int64", "sint64", "sfixed64":
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return nil, bad("expected a 64-bit integer")
		}
		return n, nil
	case "uint64", "fixed64":
		n, err := strconv.ParseUint(raw, 10, 64)
		if err != nil {
			return nil, bad("expected an unsigned 64-bit integer")
		}
		return n, nil
	case "double", "float":
		switch raw {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
		x, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return nil, bad("expected a number")
		}
		return x, nil
	case "enum":
		for _, e := range s.Enums[f.Enum] {
			if e.Name == raw || strconv.Itoa(int(e.Number)) == raw {
				return e.Name, nil
			}
		}
		names := make([]string, 0, len(s.Enums[f.Enum]))
		for _, e := range s.Enums[f.Enum] {
			names = append(names, e.Name)
		}
		return nil, bad("expected one of " + strings.Join(names, ", "))
	}
	return nil, bad("unsupported type " + f.Type)
}

// required checks the fields marked validate_required: present, and not
// empty for strings.
func (s *Spec) required(msg string, m map[string]any) error {
	for _, f := range s.Messages[msg].Fields {
		if !f.Required {
			continue
		}
		v, ok := m[f.Name]
		if str, isStr := v.(string); !ok || (isStr && str == "") {
			return invalid("Missing value for required parameter '%s'.", f.Name)
		}
	}
	return nil
}

// CheckResponse checks an answer before the fake sends it: every key a
// field of msg by its proto name (MLflow and Databricks answer with
// preserving_proto_field_name), int64 values as JSON numbers (MLflow's
// message_to_json), enums by name, nested messages likewise.
func (s *Spec) CheckResponse(msg string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("failed to encode answer: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return fmt.Errorf("failed to decode answer: %w", err)
	}
	return s.checkOut(msg, x, shortName(msg))
}

func (s *Spec) checkOut(msg string, v any, path string) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: want an object, got %s", path, jsonKind(v))
	}
	for k, x := range obj {
		var f Field
		found := false
		for _, g := range s.Messages[msg].Fields {
			if g.Name == k {
				f, found = g, true
			}
		}
		p := path + "." + k
		if !found {
			return fmt.Errorf("%s: not a field of %s", p, shortName(msg))
		}
		items := []any{x}
		if f.Repeated {
			arr, ok := x.([]any)
			if !ok {
				return fmt.Errorf("%s: repeated, want an array, got %s", p, jsonKind(x))
			}
			items = arr
		}
		for _, it := range items {
			if err := s.checkOutValue(f, it, p); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Spec) checkOutValue(f Field, v any, p string) error {
	switch f.Type {
	case "message":
		return s.checkOut(f.Message, v, p)
	case "string", "bytes":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: want a string, got %s", p, jsonKind(v))
		}
	case "bool":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want a boolean, got %s", p, jsonKind(v))
		}
	case "enum":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: want an enum name, got %s", p, jsonKind(v))
		}
		if _, err := s.scalarAt(f, str, false, p); err != nil || isDigits(str) {
			return fmt.Errorf("%s: %q is not a value of %s", p, str, f.Enum)
		}
	case "double", "float":
		if _, ok := v.(json.Number); !ok {
			return fmt.Errorf("%s: want a number, got %s", p, jsonKind(v))
		}
	default: // integers: numbers, as MLflow's message_to_json writes int64
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("%s: want an integer number, got %s", p, jsonKind(v))
		}
		if _, err := s.scalarAt(f, n.String(), false, p); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "-0123456789") == ""
}

func kindOf(f Field) string {
	switch f.Type {
	case "string":
		return "a string"
	case "bytes":
		return "a base64 string"
	case "bool":
		return "a boolean"
	case "enum":
		return "an enum name"
	case "message":
		return "a JSON object"
	case "double", "float":
		return "a number"
	}
	return "an integer"
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func shortName(full string) string {
	return full[strings.LastIndex(full, ".")+1:]
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func where(path string) string {
	if path == "" {
		return "the request body"
	}
	return "parameter '" + path + "'"
}

// IsInvalid reports whether err is a request that does not match the proto.
func IsInvalid(err error) bool {
	var e *InvalidError
	return errors.As(err, &e)
}
