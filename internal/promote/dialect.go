package promote

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/uc"
)

// Dialect adapts promote to the registry it runs on: the key under which
// each of its tags is stored (audit record, history, replaced mark, lock),
// how the history is laid out and bounded, the lock's name, and the inputs
// the registry cannot take. The zero value is MLflow's own registry (OSS):
// keys as written (mlreg.promotion.alias.champion), full records in the
// history up to MaxHistoryChars, stages allowed.
//
// UnityCatalog is Databricks Unity Catalog, whose tags take no dots in their
// keys, at most 1,000 characters in a value and at most 50 per object (see
// internal/uc for the sources): keys take uc.TagKey's form
// (mlreg_promotion_alias_champion), the record on the promoted version is
// cut to fit (FitRecord), the model's history keeps compact entries (see
// EncodeCompactHistory), and stages and names that are not three-level are
// invalid input.
type Dialect struct {
	uc bool
}

// UnityCatalog is the dialect of Databricks Unity Catalog (registry-uri: databricks-uc).
var UnityCatalog = Dialect{uc: true}

// IsUnityCatalog reports whether d is UnityCatalog.
func (d Dialect) IsUnityCatalog() bool { return d.uc }

// String names the registry: "MLflow" or "Unity Catalog".
func (d Dialect) String() string {
	if d.uc {
		return "Unity Catalog"
	}
	return "MLflow"
}

// HasStages reports whether the registry has model stages (Unity Catalog has none).
func (d Dialect) HasStages() bool { return !d.uc }

// TagKey is the key under which the tag key is stored: key itself on OSS,
// uc.TagKey(key) on Unity Catalog. Every tag promote reads or writes goes
// through it.
func (d Dialect) TagKey(key string) string {
	if d.uc {
		return uc.TagKey(key)
	}
	return key
}

// PromotionTagKey is the stored key of the version tag recording a promotion to t.
func (d Dialect) PromotionTagKey(t checks.Target) string { return d.TagKey(PromotionTagKey(t)) }

// HistoryTagKey is the stored key of the registered-model tag holding t's history.
func (d Dialect) HistoryTagKey(t checks.Target) string { return d.TagKey(HistoryTagKey(t)) }

// ReplacedTagKey is the stored key of the mark on the version t's promotion replaced.
func (d Dialect) ReplacedTagKey(t checks.Target) string { return d.TagKey(ReplacedTagKey(t)) }

// HistoryBound is the most characters (bytes of UTF-8, which is never fewer
// than characters) the history tag of one target may hold: MaxHistoryChars on
// OSS, uc.MaxTagValueChars on Unity Catalog.
func (d Dialect) HistoryBound() int {
	if d.uc {
		return uc.MaxTagValueChars
	}
	return MaxHistoryChars
}

// LockName is the registered model that serializes promotions of model:
// LockName(model) on OSS, uc.LockName(model) (catalog.schema.mlreg_lock_<model>)
// on Unity Catalog.
func (d Dialect) LockName(model string) string {
	if d.uc {
		return uc.LockName(model)
	}
	return LockName(model)
}

// TakeoverName is the takeover claim of the lock of model that owner took
// with token (see Service.clear): the registered model whose creation
// entitles a run to delete that lock once it has expired.
func (d Dialect) TakeoverName(model, owner, token string) string {
	return d.takeoverName(model, lockState{owner: owner, token: token}.id())
}

// takeoverName is the takeover claim of the lock (or claim) of model whose
// id is id: TakeoverPrefix + id on OSS, uc.TakeoverName on Unity Catalog (in
// the model's schema, where the lock is).
func (d Dialect) takeoverName(model, id string) string {
	if d.uc {
		return uc.TakeoverName(model, id)
	}
	return TakeoverPrefix + id
}

// ValidateModelName checks the model-name input for the registry: not
// blank, and MLflow's name rules (mlflow.CheckModelName) on OSS, a
// three-level name on Unity Catalog (uc.ValidateName; the error wraps
// uc.ErrInvalidName). The action checks its input with it, and
// Request.Validate again for any other caller; the error names the input.
func (d Dialect) ValidateModelName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("input model-name is required")
	case d.uc:
		if err := uc.ValidateName(name); err != nil {
			return fmt.Errorf("input model-name: %w", err)
		}
	default:
		if err := mlflow.CheckModelName(name); err != nil {
			return fmt.Errorf("input model-name: %w", err)
		}
	}
	return nil
}

// ValidateTarget refuses a target the registry cannot hold: a stage on
// Unity Catalog, which has none (the error names target-stage). The
// spelling of the alias and the stage is checked where the input is parsed
// (checks.CheckAlias, checks.CanonicalStage).
func (d Dialect) ValidateTarget(t checks.Target) error {
	if d.uc && t.Stage != "" {
		return fmt.Errorf("input target-stage: Unity Catalog has no model stages (got %q); use target-alias", t.Stage)
	}
	return nil
}

// check refuses a model name or a target the registry cannot take, every
// problem at once, each wrapping ErrInvalid.
func (d Dialect) check(model string, t checks.Target) error {
	var errs []error
	if err := d.ValidateModelName(model); err != nil {
		errs = append(errs, invalid(err))
	}
	if err := d.ValidateTarget(t); err != nil {
		errs = append(errs, invalid(err))
	}
	return errors.Join(errs...)
}

// tagValue returns v as the registry can store it: v itself on OSS; on
// Unity Catalog without surrounding spaces and cut to uc.MaxTagValueChars.
func (d Dialect) tagValue(v string) string {
	if !d.uc {
		return v
	}
	return truncate(strings.TrimFunc(v, unicode.IsSpace), uc.MaxTagValueChars)
}

// ellipsis marks a value cut by truncate or truncateJSON.
const ellipsis = "…"

// jsonLen is the length of s encoded as a JSON string by encoding/json,
// quotes excluded (an escaped newline is 2 bytes, an escaped < is 6).
func jsonLen(s string) int {
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("failed to marshal a string: %v", err)) // strings always marshal
	}
	return len(b) - 2
}

// truncateJSON cuts s on a character boundary so that it takes at most n
// bytes once encoded as a JSON string, ending what it cut with an ellipsis.
func truncateJSON(s string, n int) string {
	if jsonLen(s) <= n {
		return s
	}
	budget := n - len(ellipsis)
	// The longest prefix that fits: escapes only add, so the length grows
	// with the prefix and a binary search over rune boundaries finds it.
	var starts []int
	for i := range s {
		starts = append(starts, i)
	}
	lo, hi := 0, len(starts) // keep s[:starts[k]] for k in [lo, hi)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if jsonLen(s[:starts[mid]]) <= budget {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return s[:starts[lo]] + ellipsis
}

// truncate cuts s to at most n bytes of UTF-8 on a character boundary,
// ending what it cut with an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:max(cut, 0)] + ellipsis
}
