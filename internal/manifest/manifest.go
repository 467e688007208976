// Package manifest reads the desired-state file (README, "Desired state
// file"): for each registered model or prompt, the version that each alias,
// or legacy stage, must point to.
//
// Parse is as strict as the policy parser (internal/checks): unknown keys,
// wrong types, duplicate keys and entries, YAML aliases and invalid names
// are errors, every one reported at once as checks.Errors with file, line
// and column. A version is a positive integer written in decimal, unquoted
// (15, not "15", 015 or 0xF), at most MaxVersion. Stage keys are
// case-insensitive and canonicalised (production → Production). The JSON
// Schema schema/mlreg-models.schema.json checks what a schema can; the
// parser checks more (see schema_test.go for the list).
package manifest

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/mlreg/mlreg-action/internal/checks"
)

// Kinds of registered model an entry names.
const (
	KindModel  = "model"
	KindPrompt = "prompt"
)

// MaxVersion is the largest version a manifest may name: MLflow's SQL
// store keeps versions in a 32-bit INTEGER column.
const MaxVersion = 1<<31 - 1

// Manifest is a parsed desired-state file.
type Manifest struct {
	File    string // as given to Parse, for messages
	Version int    // file format version: 1
	entries []Entry
}

// Entry is one (model, target) of the manifest and the version that must
// hold the target.
type Entry struct {
	Model   string        // registered model or prompt name, e.g. fraud-model or main.fraud.fraud_model
	Kind    string        // KindModel or KindPrompt
	Target  checks.Target // a single target: an alias, or a canonical stage (Production)
	Version string        // positive decimal integer, as the MLflow API spells versions: "15"
	Pos     Pos           // of the version value in the file
}

// Pos is a 1-based line and column in the file.
type Pos struct {
	Line, Column int
}

// String returns "line:column".
func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Column) }

// Entries returns every entry, ordered by model name, then aliases before
// stages, then target name: the order does not depend on how the file
// orders its keys. The slice is the caller's.
func (m *Manifest) Entries() []Entry { return slices.Clone(m.entries) }

func sortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Model, b.Model), cmp.Compare(a.Target.Kind(), b.Target.Kind()), cmp.Compare(a.Target.Name(), b.Target.Name()))
	})
}

// LoadFile reads and parses the manifest at path, naming it name in errors
// and in the manifest (the path as the user wrote it, when path was
// resolved against a workspace). A file that cannot be read is a
// *checks.Error without a position: like a bad manifest, it is a problem of
// the configuration, not of the registry.
func LoadFile(path, name string) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, readError(name, err)
	}
	defer f.Close() //nolint:errcheck // opened read-only: closing cannot lose data
	data, err := io.ReadAll(io.LimitReader(f, checks.MaxPolicySize+1))
	if err != nil {
		return nil, readError(name, err)
	}
	return Parse(name, data)
}

func readError(name string, err error) *checks.Error {
	return &checks.Error{Msg: fmt.Sprintf("failed to read manifest %q: %v", name, err), Err: err}
}
