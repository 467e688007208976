package action

import (
	"bytes"
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/mlreg/mlreg-action/internal/notify"
)

// The action.yml contract: the metadata GitHub reads and the binary that runs
// must agree on every input and output, or a user's `with:` is silently
// ignored, a default differs between the runner and the CLI, or
// `steps.x.outputs.y` is always empty.

const actionYAML = "../../action.yml"

type yamlInput struct {
	Description        string  `yaml:"description"`
	Required           bool    `yaml:"required"`
	Default            *string `yaml:"default"`
	DeprecationMessage string  `yaml:"deprecationMessage"`
}

type yamlOutput struct {
	Description string `yaml:"description"`
}

type actionMetadata struct {
	Name        string                `yaml:"name"`
	Description string                `yaml:"description"`
	Author      string                `yaml:"author"`
	Branding    map[string]string     `yaml:"branding"`
	Inputs      map[string]yamlInput  `yaml:"inputs"`
	Outputs     map[string]yamlOutput `yaml:"outputs"`
	Runs        struct {
		Using      string   `yaml:"using"`
		Image      string   `yaml:"image"`
		Args       []string `yaml:"args"`
		Entrypoint string   `yaml:"entrypoint"`
	} `yaml:"runs"`
}

// expressionDefaults are action.yml defaults the runner evaluates before the
// binary starts; the binary itself has no default for them.
var expressionDefaults = map[string]string{
	"github-token": "${{ github.token }}",
}

// notifyOutputs are declared for the notify phase (deployment, PR comment,
// Slack), which lands separately. Until the code sets them, their absence is
// logged, not failed; every other declared output must be set somewhere.
var notifyOutputs = map[string]bool{"deployment-id": true, "comment-id": true, "slack-ts": true, "notify-errors": true}

var (
	metaOnce sync.Once
	meta     actionMetadata
	metaRaw  map[string]any
	metaErr  error
)

func loadActionYAML(t *testing.T) (actionMetadata, map[string]any) {
	t.Helper()
	metaOnce.Do(func() {
		var b []byte
		b, metaErr = os.ReadFile(actionYAML)
		if metaErr != nil {
			return
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if metaErr = dec.Decode(&meta); metaErr != nil {
			return
		}
		metaErr = yaml.Unmarshal(b, &metaRaw)
	})
	if metaErr != nil {
		t.Fatalf("failed to read %s: %v", actionYAML, metaErr)
	}
	return meta, metaRaw
}

func normalize(s string) string { return strings.Join(strings.Fields(s), " ") }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestActionMetadata(t *testing.T) {
	t.Parallel()
	m, raw := loadActionYAML(t)
	if m.Name == "" || m.Description == "" {
		t.Errorf("action.yml needs a name and a description, got %q and %q", m.Name, m.Description)
	}
	if m.Runs.Using != "docker" {
		t.Errorf("runs.using = %q, want docker", m.Runs.Using)
	}
	// A run pulls the released image and builds nothing (README, "Container image").
	if !regexp.MustCompile(`^docker://ghcr\.io/mlreg/mlreg-action:v[0-9]+$`).MatchString(m.Runs.Image) {
		t.Errorf("runs.image = %q, want the prebuilt docker://ghcr.io/mlreg/mlreg-action:v<major>", m.Runs.Image)
	}
	// The binary reads INPUT_ variables; arguments or another entrypoint would bypass the contract.
	if len(m.Runs.Args) > 0 || m.Runs.Entrypoint != "" {
		t.Errorf("runs has args %q / entrypoint %q; the image's entrypoint takes its inputs from the environment", m.Runs.Args, m.Runs.Entrypoint)
	}
	// Every input and output entry holds only keys GitHub knows for a Docker action.
	allowed := map[string][]string{"inputs": {"description", "required", "default", "deprecationMessage"}, "outputs": {"description"}}
	for section, keys := range allowed {
		entries, _ := raw[section].(map[string]any)
		for name, v := range entries {
			fields, _ := v.(map[string]any)
			for k := range fields {
				if !slices.Contains(keys, k) {
					t.Errorf("%s.%s has key %q; a Docker action's %s take only %v", section, name, k, section, keys)
				}
			}
		}
	}
}

func TestInputsMatchActionYAML(t *testing.T) {
	t.Parallel()
	m, _ := loadActionYAML(t)
	binary := map[string]Input{}
	for _, in := range Inputs {
		if _, dup := binary[in.Name]; dup {
			t.Errorf("Inputs declares %q twice", in.Name)
		}
		binary[in.Name] = in
	}
	for _, name := range sortedKeys(m.Inputs) {
		if _, ok := binary[name]; !ok {
			t.Errorf("action.yml declares input %q, which the binary does not read (add it to Inputs in inputs.go)", name)
		}
	}
	for _, in := range Inputs {
		y, ok := m.Inputs[in.Name]
		if !ok {
			t.Errorf("the binary reads input %q, which action.yml does not declare", in.Name)
			continue
		}
		if normalize(y.Description) == "" {
			t.Errorf("action.yml input %q has no description", in.Name)
		}
		if normalize(y.Description) != normalize(in.Desc) {
			t.Errorf("input %q: action.yml says %q, inputs.go (the CLI's --help) says %q", in.Name, y.Description, in.Desc)
		}
		yDefault := ""
		if y.Default != nil {
			yDefault = *y.Default
		}
		if expr, ok := expressionDefaults[in.Name]; ok {
			if yDefault != expr || in.Default != "" {
				t.Errorf("input %q: want action.yml default %q evaluated by the runner and no binary default, got %q and %q", in.Name, expr, yDefault, in.Default)
			}
			continue
		}
		if strings.Contains(yDefault, "${{") {
			t.Errorf("input %q: action.yml default %q is an expression; list it in expressionDefaults if the binary relies on the runner for it", in.Name, yDefault)
		}
		if yDefault != in.Default {
			t.Errorf("input %q: action.yml default %q, binary default %q (a workflow and the CLI would behave differently)", in.Name, yDefault, in.Default)
		}
		if y.Required && y.Default != nil {
			t.Errorf("input %q is required and has a default", in.Name)
		}
	}
}

// TestRequiredInputs: an input action.yml marks required is one the binary
// refuses to run without, and the other way round.
func TestRequiredInputs(t *testing.T) {
	t.Parallel()
	m, _ := loadActionYAML(t)
	env := map[string]string{EnvName("tracking-uri"): "http://127.0.0.1:1"}
	getenv := func(k string) string { return env[k] }
	_, err := loadConfig(&source{flags: map[string]string{}, getenv: getenv}, getenv)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	for _, name := range sortedKeys(m.Inputs) {
		refused := strings.Contains(msg, "input "+name+" is required")
		if m.Inputs[name].Required && !refused {
			t.Errorf("action.yml marks %q required, but the binary runs without it (errors: %q)", name, msg)
		}
		if !m.Inputs[name].Required && refused {
			t.Errorf("the binary requires %q, but action.yml does not mark it required", name)
		}
	}
}

// runnerEnvName is how GitHub's runner names an input's variable for a Docker
// action, written out independently of EnvName: spaces become underscores, the
// name is upper-cased, hyphens stay (INPUT_MODEL-NAME).
func runnerEnvName(input string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(input, " ", "_"))
}

// TestBinaryReadsInputsUnderRunnerNames runs the binary's entry point with a
// recording environment: every input action.yml declares must be looked up
// under the runner's variable name, and every INPUT_ variable looked up must be
// a declared input.
func TestBinaryReadsInputsUnderRunnerNames(t *testing.T) {
	t.Parallel()
	m, _ := loadActionYAML(t)
	for _, in := range Inputs {
		if got, want := EnvName(in.Name), runnerEnvName(in.Name); got != want {
			t.Errorf("EnvName(%q) = %q, the runner sets %q", in.Name, got, want)
		}
	}
	var mu sync.Mutex
	asked := map[string]bool{}
	getenv := func(k string) string {
		mu.Lock()
		defer mu.Unlock()
		asked[k] = true
		return ""
	}
	// With no inputs at all, Main reads every input, reports the missing ones and stops (exit 2).
	code := Main(context.Background(), Env{Getenv: getenv, Stdout: io.Discard, Stderr: io.Discard, Version: "test"})
	if code != ExitInvalid {
		t.Errorf("Main with no inputs = %d, want %d", code, ExitInvalid)
	}
	declared := map[string]bool{}
	for _, name := range sortedKeys(m.Inputs) {
		declared[runnerEnvName(name)] = true
		if !asked[runnerEnvName(name)] {
			t.Errorf("action.yml input %q: the binary never reads %s", name, runnerEnvName(name))
		}
	}
	for _, k := range sortedKeys(asked) {
		if strings.HasPrefix(k, "INPUT_") && !declared[k] {
			t.Errorf("the binary reads %s, which is no input declared in action.yml", k)
		}
	}
}

// TestLoadConfigReadsEveryInput: parsing the configuration consults every input
// in Inputs, so none is declared and then forgotten.
func TestLoadConfigReadsEveryInput(t *testing.T) {
	t.Parallel()
	getenv := func(string) string { return "" }
	src := &source{flags: map[string]string{}, getenv: getenv, read: map[string]bool{}}
	_, _ = loadConfig(src, getenv) // missing inputs are errors; only what was read matters here
	for _, in := range Inputs {
		if !src.read[in.Name] {
			t.Errorf("loadConfig never reads input %q", in.Name)
		}
	}
}

func TestOutputsMatchActionYAML(t *testing.T) {
	t.Parallel()
	m, _ := loadActionYAML(t)
	declared := map[string]bool{}
	for _, o := range Outputs {
		if declared[o.Name] {
			t.Errorf("Outputs declares %q twice", o.Name)
		}
		declared[o.Name] = true
		y, ok := m.Outputs[o.Name]
		switch {
		case !ok:
			t.Errorf("Outputs has %q, which action.yml does not declare", o.Name)
		case normalize(y.Description) == "":
			t.Errorf("action.yml output %q has no description", o.Name)
		case normalize(y.Description) != normalize(o.Desc):
			t.Errorf("output %q: action.yml says %q, outputs.go says %q", o.Name, y.Description, o.Desc)
		}
	}
	for _, name := range sortedKeys(m.Outputs) {
		if !declared[name] {
			t.Errorf("action.yml declares output %q, which is not in Outputs (outputs.go)", name)
		}
	}
	for name := range notifyOutputs {
		if !declared[name] {
			t.Errorf("notify output %q is no longer declared; drop it from notifyOutputs", name)
		}
	}
}

// TestOutputsSetAreDeclared checks what the code sets against Outputs: the
// outputs of each kind of report (notify.Report.Outputs), and every output name
// the package's source passes to SetOutput or lists as a {"name", value}
// pair in a function that sets or returns outputs.
func TestOutputsSetAreDeclared(t *testing.T) {
	t.Parallel()
	declared := map[string]bool{}
	for _, o := range Outputs {
		declared[o.Name] = true
	}

	set := map[string]string{} // name -> where
	for kind, body := range map[string]notify.Body{"promotion": &notify.Promotion{}, "register": &notify.Register{},
		"history": &notify.History{}, "manifest": &notify.Fleet{}} {
		for _, kv := range (&notify.Report{Body: body}).Outputs() {
			set[kv[0]] = "the outputs of a report of " + kind
		}
	}
	for name, where := range outputNamesInSource(t) {
		if _, ok := set[name]; !ok {
			set[name] = where
		}
	}
	if len(set) == 0 {
		t.Fatal("found no outputs set by the code")
	}
	for _, name := range sortedKeys(set) {
		if !declared[name] {
			t.Errorf("%s sets output %q, which action.yml does not declare (the runner would drop it)", set[name], name)
		}
	}
	for _, o := range Outputs {
		if _, ok := set[o.Name]; ok {
			continue
		}
		if notifyOutputs[o.Name] {
			t.Logf("output %q is declared for the notify phase and not set yet", o.Name)
			continue
		}
		t.Errorf("output %q is declared but nothing in the package sets it", o.Name)
	}
}

// outputNamesInSource scans the package's non-test Go files for output names:
// string literals passed as the key to a two-argument SetOutput call, and
// string keys of [2]string pairs inside functions that call SetOutput or
// return [][2]string.
func outputNamesInSource(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	found := map[string]string{}
	add := func(lit ast.Expr) {
		bl, ok := lit.(*ast.BasicLit)
		if !ok || bl.Kind != token.STRING {
			return
		}
		name, err := strconv.Unquote(bl.Value)
		if err != nil {
			return
		}
		if _, ok := found[name]; !ok {
			p := fset.Position(bl.Pos())
			found[name] = p.Filename + ":" + strconv.Itoa(p.Line)
		}
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatalf("failed to parse %s: %v", f, err)
		}
		for _, decl := range af.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			setsOutputs := returnsPairs(fn)
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if call, ok := n.(*ast.CallExpr); ok && isSetOutput(call) {
					setsOutputs = true
					add(call.Args[0])
				}
				return true
			})
			if !setsOutputs {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if cl, ok := n.(*ast.CompositeLit); ok && isPair(cl.Type) && len(cl.Elts) == 2 {
					add(cl.Elts[0])
				}
				if cl, ok := n.(*ast.CompositeLit); ok && isPairSlice(cl.Type) {
					for _, e := range cl.Elts {
						if inner, ok := e.(*ast.CompositeLit); ok && len(inner.Elts) == 2 {
							add(inner.Elts[0])
						}
					}
				}
				return true
			})
		}
	}
	return found
}

func isSetOutput(call *ast.CallExpr) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "SetOutput" && len(call.Args) == 2
}

// isPair matches the type [2]string.
func isPair(e ast.Expr) bool {
	at, ok := e.(*ast.ArrayType)
	if !ok || at.Len == nil {
		return false
	}
	l, ok := at.Len.(*ast.BasicLit)
	id, isIdent := at.Elt.(*ast.Ident)
	return ok && l.Value == "2" && isIdent && id.Name == "string"
}

// isPairSlice matches the type [][2]string.
func isPairSlice(e ast.Expr) bool {
	at, ok := e.(*ast.ArrayType)
	return ok && at.Len == nil && isPair(at.Elt)
}

func returnsPairs(fn *ast.FuncDecl) bool {
	if fn.Type.Results == nil {
		return false
	}
	for _, r := range fn.Type.Results.List {
		if isPairSlice(r.Type) {
			return true
		}
	}
	return false
}
