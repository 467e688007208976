package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
)

// fuzzSeeds are the fixtures, the example and some broken manifests.
func fuzzSeeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(fixtures, "*", "*.yml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed manifests: %v", err)
	}
	files = append(files, filepath.Join("..", "..", "examples", "mlreg-models.yml"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"version: 1\nmodels: &a {m: *a}\n",
		"version: 1\nmodels:\n  ? [a, b]\n  : {aliases: {champion: 1}}\n",
		"version: 1\nmodels: {m: {aliases: {champion: !!binary AAAA}}}\n",
		"version: 1\nmodels: {m: {aliases: {champion: 1e400}}}\n",
		"version: 1\nmodels: {m: {stages: {none: 1, NONE: 2}}}\n",
		"version: 1\x00\nmodels: {}\n",
		"\xef\xbb\xbfversion: 1\nmodels: {m: {aliases: {a: 1}}}\n",
		"version: 1\r\nmodels:\r\n\tm: {aliases: {a: 1}}\r\n",
		"version: 1\nmodels: {" + strings.Repeat("{", 200) + "\n",
	} {
		f.Add([]byte(s))
	}
}

// Parse never panics; every problem it reports names the file and a line;
// a manifest it accepts holds only entries that MLflow would take, in
// order, without duplicates, and parsing it again gives the same entries.
func FuzzParse(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("fuzz.yml", data)
		if err != nil {
			if m != nil {
				t.Fatalf("Parse() returned a manifest and an error: %v", err)
			}
			var errs checks.Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("Parse() error %T is not checks.Errors: %v", err, err)
			}
			for _, e := range errs {
				if e.File != "fuzz.yml" || e.Line < 1 || e.Column < 0 || e.Msg == "" {
					t.Errorf("problem without a position: file %q line %d column %d: %q", e.File, e.Line, e.Column, e.Msg)
				}
			}
			if !slices.IsSortedFunc(errs, func(a, b *checks.Error) int { return a.Line - b.Line }) {
				t.Errorf("problems are not sorted by line: %v", err)
			}
			return
		}
		es := m.Entries()
		if len(es) == 0 || m.Version != 1 {
			t.Fatalf("Parse() = version %d with %d entries, no error", m.Version, len(es))
		}
		type target struct{ model, kind, name string }
		seen := map[target]bool{}
		stageOf := map[[2]string]string{} // model, version → stage
		for i, e := range es {
			if i > 0 && !entryLess(es[i-1], e) {
				t.Errorf("entries out of order: %+v before %+v", es[i-1], e)
			}
			if err := mlflow.CheckModelName(e.Model); err != nil {
				t.Errorf("entry %+v: %v", e, err)
			}
			if e.Kind != KindModel && e.Kind != KindPrompt {
				t.Errorf("entry %+v: kind %q", e, e.Kind)
			}
			switch {
			case e.Target.Alias != "" && e.Target.Stage == "":
				if err := checks.CheckAlias(e.Target.Alias); err != nil {
					t.Errorf("entry %+v: %v", e, err)
				}
			case e.Target.Stage != "" && e.Target.Alias == "":
				if c, ok := checks.CanonicalStage(e.Target.Stage); !ok || c != e.Target.Stage || e.Kind == KindPrompt {
					t.Errorf("entry %+v: not a canonical stage of a model", e)
				}
				k := [2]string{e.Model, e.Version}
				if prev, dup := stageOf[k]; dup {
					t.Errorf("entry %+v: the version is in stage %s too", e, prev)
				}
				stageOf[k] = e.Target.Stage
			default:
				t.Errorf("entry %+v: not a single target", e)
			}
			if v, err := strconv.Atoi(e.Version); err != nil || v < 1 || v > MaxVersion || strconv.Itoa(v) != e.Version {
				t.Errorf("entry %+v: version %q is not a decimal in 1..%d", e, e.Version, MaxVersion)
			}
			if e.Pos.Line < 1 || e.Pos.Column < 1 {
				t.Errorf("entry %+v: no position", e)
			}
			tg := target{e.Model, e.Target.Kind(), e.Target.Name()}
			if seen[tg] {
				t.Errorf("duplicate entry %+v", e)
			}
			seen[tg] = true
		}
		again, err := Parse("fuzz.yml", data)
		if err != nil {
			t.Fatalf("Parse() failed the second time: %v", err)
		}
		if diff := cmp.Diff(es, again.Entries()); diff != "" {
			t.Errorf("Parse() is not deterministic (-first +second):\n%s", diff)
		}
	})
}

func entryLess(a, b Entry) bool {
	if a.Model != b.Model {
		return a.Model < b.Model
	}
	if a.Target.Kind() != b.Target.Kind() {
		return a.Target.Kind() < b.Target.Kind()
	}
	return a.Target.Name() < b.Target.Name()
}
