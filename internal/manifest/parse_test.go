package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/checks"
)

var fixtures = filepath.Join("..", "..", "testdata", "manifests")

// Target kinds, as entry takes them.
const (
	TargetAlias = checks.TargetKindAlias
	TargetStage = checks.TargetKindStage
)

func entry(model, kind, targetKind, target, version string, line, col int) Entry {
	t := checks.AliasTarget(target)
	if targetKind == TargetStage {
		t = checks.StageTarget(target)
	}
	return Entry{Model: model, Kind: kind, Target: t, Version: version, Pos: Pos{line, col}}
}

// goodEntries is what each good fixture means.
var goodEntries = map[string][]Entry{
	"spec-example.yml": {
		entry("fraud-model", KindModel, TargetAlias, "challenger", "16", 7, 19),
		entry("fraud-model", KindModel, TargetAlias, "champion", "15", 6, 17),
		entry("fraud-model", KindModel, TargetStage, "Production", "15", 9, 19),
		entry("support-prompt", KindPrompt, TargetAlias, "production", "4", 13, 19),
	},
	"unity-catalog.yml": {
		entry("main.fraud.fraud_model", KindModel, TargetAlias, "challenger", "4", 7, 19),
		entry("main.fraud.fraud_model", KindModel, TargetAlias, "champion", "3", 6, 17),
		entry("main.genai.support_prompt", KindPrompt, TargetAlias, "production", "2", 14, 19),
		entry("ml.recs.ranker", KindModel, TargetAlias, "champion", "12", 10, 25),
	},
	"stages-any-case.yml": {
		entry("churn", KindModel, TargetStage, "Archived", "2", 8, 17),
		entry("churn", KindModel, TargetStage, "None", "1", 9, 13),
		entry("churn", KindModel, TargetStage, "Production", "7", 6, 19),
		entry("churn", KindModel, TargetStage, "Staging", "8", 7, 16),
	},
	"flow-style.yml": {
		entry("m", KindModel, TargetAlias, "b", "1", 1, 53),
		entry("m", KindModel, TargetAlias, "champion", "1", 1, 47),
		entry("n", KindPrompt, TargetAlias, "prod", "2147483647", 1, 92),
	},
	"names.yml": {
		entry(".hidden", KindModel, TargetAlias, "champion", "1", 15, 25),
		entry("2024", KindModel, TargetAlias, "1", "3", 6, 27),
		entry("a..b", KindModel, TargetAlias, "champion", "1", 17, 25),
		entry("modèle de fraude", KindModel, TargetAlias, "V-2", "7", 12, 12),
		entry("modèle de fraude", KindModel, TargetAlias, "latest_good", "8", 13, 20),
		entry("modèle de fraude", KindModel, TargetAlias, "true", "5", 10, 15),
		entry("modèle de fraude", KindModel, TargetAlias, "v1a", "6", 11, 12),
		entry("modèle de fraude", KindModel, TargetAlias, "冠军", "2", 9, 11),
	},
	"explicit-tags.yml": {
		entry("fraud-model", KindModel, TargetAlias, "challenger", "16", 7, 19),
		entry("fraud-model", KindModel, TargetAlias, "champion", "15", 6, 17),
	},
}

func TestParseGood(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(fixtures, "good", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(goodEntries) {
		t.Fatalf("found %d good fixtures, want the %d that goodEntries describes", len(files), len(goodEntries))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			want, ok := goodEntries[filepath.Base(f)]
			if !ok {
				t.Fatalf("goodEntries does not describe %s", f)
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Parse("models.yml", data)
			if err != nil {
				t.Fatalf("Parse() error:\n%v", err)
			}
			if m.File != "models.yml" || m.Version != 1 {
				t.Errorf("Parse() = file %q version %d, want models.yml, 1", m.File, m.Version)
			}
			if diff := cmp.Diff(want, m.Entries()); diff != "" {
				t.Errorf("Entries() differ (-want +got):\n%s", diff)
			}
		})
	}
}

// wantLine is a bad fixture's expectation: "# want: line:col: message substring".
var wantLine = regexp.MustCompile(`(?m)^# want: (\d+):(\d+): (.*)$`)

type wantErr struct {
	line, col int
	msg       string // substring of the message
}

func fixtureWants(t *testing.T, data []byte) []wantErr {
	t.Helper()
	var out []wantErr
	for _, m := range wantLine.FindAllSubmatch(data, -1) {
		line, _ := strconv.Atoi(string(m[1]))
		col, _ := strconv.Atoi(string(m[2]))
		out = append(out, wantErr{line, col, string(m[3])})
	}
	if len(out) == 0 {
		t.Fatalf("fixture has no \"# want: line:col: message\" line")
	}
	return out
}

// checkErrors asserts that err is exactly the problems in want, in order,
// each naming file.
func checkErrors(t *testing.T, file string, err error, want []wantErr) {
	t.Helper()
	var errs checks.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse() error %T is not checks.Errors: %v", err, err)
	}
	if len(errs) != len(want) {
		t.Fatalf("Parse() returned %d problems, want %d:\n%v", len(errs), len(want), err)
	}
	for i, w := range want {
		e := errs[i]
		if e.File != file || e.Line != w.line || e.Column != w.col || !strings.Contains(e.Msg, w.msg) {
			t.Errorf("problem %d = %v\nwant        %s:%d:%d: ...%s...", i, e, file, w.line, w.col, w.msg)
		}
	}
}

func TestParseBad(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(fixtures, "bad", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 40 {
		t.Fatalf("found %d bad fixtures, want at least 40", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Parse("models.yml", data)
			if m != nil {
				t.Errorf("Parse() returned a manifest with %d entries and error %v", len(m.entries), err)
			}
			checkErrors(t, "models.yml", err, fixtureWants(t, data))
		})
	}
}

// Problems that need bytes a fixture should not hold, or a size.
func TestParseFileProblems(t *testing.T) {
	t.Parallel()
	const good = "version: 1\nmodels:\n  m: {aliases: {champion: 1}}\n"
	cases := []struct {
		name, src string
		want      []wantErr
	}{
		{"empty", "", []wantErr{{1, 1, "manifest is empty"}}},
		{"invalid UTF-8", "version: 1\nmodels:\n  mod\xe8le: {aliases: {champion: 1}}\n", []wantErr{{3, 6, "manifest is not valid UTF-8 (byte 0xE8)"}}},
		{"control character", "version: 1\nmodels:\n  m: {aliases: {champion: 1\x07}}\n", []wantErr{{3, 28, "invalid YAML: control characters are not allowed (U+0007)"}}},
		{"larger than 1 MiB", good + "# " + strings.Repeat("x", checks.MaxPolicySize) + "\n", []wantErr{{1, 1, "manifest is larger than 1 MiB"}}},
		{"null document", "~\n", []wantErr{{1, 1, "the manifest must be a mapping with version and models, got null"}}},
		{"alias as the document", "&a [*a]\n", []wantErr{{1, 1, "the manifest must be a mapping with version and models, got a sequence"}, {1, 5, "YAML aliases are not allowed (*a)"}}},
		{"alias as a model name", "version: 1\nmodels:\n  &n m: {aliases: {champion: 1}}\n  *n : {aliases: {challenger: 1}}\n", []wantErr{{4, 3, "YAML aliases are not allowed (*n)"}}},
		{"mapping as a model name", "version: 1\nmodels:\n  ? {a: b}\n  : {aliases: {champion: 1}}\n", []wantErr{{3, 5, "a model name must be a string, got a mapping"}}},
		{"escaped separator is blank, as Python's strip() says", "version: 1\nmodels:\n  \"\\x1c \": {aliases: {champion: 1}}\n", []wantErr{{3, 3, "model name must not be empty"}}},
		{"alias of 256 characters", "version: 1\nmodels:\n  m: {aliases: {" + strings.Repeat("é", 256) + ": 1}}\n", []wantErr{{3, 17, "alias is longer than 255 characters"}}},
		{"version alias in Unicode digits", "version: 1\nmodels:\n  m: {aliases: {v\u0663: 1}}\n", []wantErr{{3, 17, "alias \"v\u0663\" is reserved by MLflow for version references"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("models.yml", []byte(tc.src))
			checkErrors(t, "models.yml", err, tc.want)
		})
	}
	t.Run("255 characters are allowed", func(t *testing.T) {
		t.Parallel()
		alias := strings.Repeat("é", 255)
		m, err := Parse("models.yml", []byte("version: 1\nmodels:\n  m: {aliases: {"+alias+": 1}}\n"))
		if err != nil || m.Entries()[0].Target.Alias != alias {
			t.Errorf("Parse() = %+v, %v", m, err)
		}
	})
}

// The entries' order is the model, then aliases before stages, then the
// target: two files that differ only in how they order their keys give
// the same entries (positions aside).
func TestEntriesOrder(t *testing.T) {
	t.Parallel()
	a := "version: 1\nmodels:\n  b: {stages: {Staging: 2}, aliases: {z: 1, a: 1}}\n  a: {aliases: {x: 3}}\n"
	b := "models:\n  a:\n    aliases: {x: 3}\n  b:\n    aliases: {a: 1, z: 1}\n    stages: {staging: 2}\nversion: 1\n"
	ma, err := Parse("a.yml", []byte(a))
	if err != nil {
		t.Fatal(err)
	}
	mb, err := Parse("b.yml", []byte(b))
	if err != nil {
		t.Fatal(err)
	}
	key := func(es []Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, fmt.Sprintf("%s %s %s %s %s", e.Model, e.Kind, e.Target.Kind(), e.Target.Name(), e.Version))
		}
		return out
	}
	want := []string{"a model alias x 3", "b model alias a 1", "b model alias z 1", "b model stage Staging 2"}
	if diff := cmp.Diff(want, key(ma.Entries())); diff != "" {
		t.Errorf("a.yml entries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, key(mb.Entries())); diff != "" {
		t.Errorf("b.yml entries (-want +got):\n%s", diff)
	}
	// Entries is the caller's to change.
	es := ma.Entries()
	es[0].Version = "99"
	if got := ma.Entries()[0].Version; got != "3" {
		t.Errorf("changing the slice Entries returned changed the manifest: version %s", got)
	}
}

func TestPosString(t *testing.T) {
	t.Parallel()
	if got := (Pos{Line: 12, Column: 7}).String(); got != "12:7" {
		t.Errorf("Pos.String() = %q, want 12:7", got)
	}
}

// A manifest that cannot be read is a configuration problem (*checks.Error)
// naming the file as the user wrote it, with its cause.
func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, p := range map[string]string{"missing": filepath.Join(dir, "nope.yml"), "directory": dir} {
		_, err := LoadFile(p, ".github/mlreg-models.yml")
		var e *checks.Error
		if !errors.As(err, &e) || e.Line != 0 || e.File != "" || !strings.HasPrefix(e.Msg, `failed to read manifest ".github/mlreg-models.yml": `) {
			t.Errorf("%s: LoadFile() error = %#v", name, err)
		}
		if name == "missing" && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: LoadFile() error %v does not wrap fs.ErrNotExist", name, err)
		}
	}
	p := filepath.Join(dir, "models.yml")
	if err := os.WriteFile(p, []byte("version: 1\nmodels:\n  m: {aliases: {champion: 0}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(p, ".github/mlreg-models.yml")
	if err == nil || err.Error() != `.github/mlreg-models.yml:3:27: model "m", alias "champion": version must be a positive integer, got 0` {
		t.Errorf("LoadFile() error = %v", err)
	}
	if err := os.WriteFile(p, []byte("version: 1\nmodels:\n  m: {aliases: {champion: 1}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := LoadFile(p, "models.yml")
	if err != nil || len(m.Entries()) != 1 || m.File != "models.yml" {
		t.Errorf("LoadFile() = %+v, %v", m, err)
	}
}
