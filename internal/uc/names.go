package uc

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mlreg/mlreg-action/internal/registry"
)

// Unity Catalog's limits on the tags of a securable object (a registered
// model, a model version), from Databricks' "Apply tags to Unity Catalog
// securable objects", section Constraints
// (https://docs.databricks.com/aws/en/database-objects/tags,
// https://learn.microsoft.com/azure/databricks/database-objects/tags):
//
//   - "You can assign a maximum of 50 tags to a single securable object."
//   - "The maximum length of a tag key is 255 characters."
//   - "The maximum length of a tag value is 1000 characters."
//   - "The following characters are not allowed in tag keys: . , - = / :"
//   - leading and trailing spaces are not allowed in tag keys or values
//     (the same section, in its current revision).
//
// MLflow says the same of dots: "Unity Catalog tags cannot contain dots"
// (mlflow/prompt/constants.py, which therefore names its own UC tags
// _mlflow_prompt_type and the like). The pinned MLflow client itself checks
// none of these; the workspace does.
const (
	MaxTagsPerObject = 50
	MaxTagKeyChars   = 255
	MaxTagValueChars = 1000
	// TagKeyForbidden are the characters a UC tag key may not hold.
	TagKeyForbidden = ".,-=/:"
)

// ErrInvalidName is wrapped by the error for a model name that is not
// three-level. It is invalid input: nothing is sent.
var ErrInvalidName = errors.New("not a Unity Catalog model name")

// ErrTagLimit is wrapped by the error for a tag that breaks UC's limits. It
// is reported before anything is sent.
var ErrTagLimit = registry.ErrTagLimit

// ValidateName checks that name is three-level, catalog.schema.model, as
// UC requires of every registered model.
func ValidateName(name string) error {
	parts := strings.Split(name, ".")
	if len(parts) != 3 {
		return fmt.Errorf("model name %q: %w: Unity Catalog names a model catalog.schema.model (three levels separated by dots)", name, ErrInvalidName)
	}
	for i, p := range parts {
		level := [...]string{"catalog", "schema", "model"}[i]
		switch {
		case p == "":
			return fmt.Errorf("model name %q: %w: the %s part is empty (want catalog.schema.model)", name, ErrInvalidName, level)
		case utf8.RuneCountInString(p) > 255:
			return fmt.Errorf("model name %q: %w: the %s part is longer than 255 characters", name, ErrInvalidName, level)
		case strings.IndexFunc(p, func(r rune) bool { return r == '/' || unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
			return fmt.Errorf("model name %q: %w: the %s part holds a space, a control character or '/'", name, ErrInvalidName, level)
		}
	}
	return nil
}

// ValidateTag checks one tag against UC's limits (see MaxTagKeyChars).
func ValidateTag(key, value string) error {
	switch {
	case key == "":
		return fmt.Errorf("tag key is empty: %w", ErrTagLimit)
	case utf8.RuneCountInString(key) > MaxTagKeyChars:
		return fmt.Errorf("tag key %q is %d characters long, %w (at most %d)", key, utf8.RuneCountInString(key), ErrTagLimit, MaxTagKeyChars)
	case strings.ContainsAny(key, TagKeyForbidden):
		return fmt.Errorf("tag key %q holds one of %s, %w (use TagKey for a UC-safe form)", key, spaced(TagKeyForbidden), ErrTagLimit)
	case strings.TrimFunc(key, unicode.IsSpace) != key:
		return fmt.Errorf("tag key %q has leading or trailing spaces, %w", key, ErrTagLimit)
	case utf8.RuneCountInString(value) > MaxTagValueChars:
		return fmt.Errorf("the value of tag %q is %d characters long, %w (at most %d)", key, utf8.RuneCountInString(value), ErrTagLimit, MaxTagValueChars)
	case strings.TrimFunc(value, unicode.IsSpace) != value:
		return fmt.Errorf("the value of tag %q has leading or trailing spaces, %w", key, ErrTagLimit)
	}
	return nil
}

func spaced(chars string) string { return strings.Join(strings.Split(chars, ""), " ") }

// TagKey returns the UC-safe form of a tag key: each dot becomes an
// underscore, so mlreg.promotion.alias.champion is stored as
// mlreg_promotion_alias_champion. Any other character UC refuses in a key
// (, - = / : and spaces) also becomes an underscore, and then, so that two
// keys that differ only there stay two tags, the key gets a suffix of 8 hex
// digits of its sha256 (mlreg.promotion.alias.prod-eu becomes
// mlreg_promotion_alias_prod_eu_<8 hex>). A key longer than MaxTagKeyChars
// is cut and gets the same suffix. TagKey of a UC-safe key is that key, so
// applying it twice is harmless. mlreg's own keys differ in more than their
// dots (alias names hold no dots), so they keep distinct UC forms.
func TagKey(key string) string {
	var b strings.Builder
	lossy := false
	for _, r := range key {
		switch {
		case r == '.':
			b.WriteByte('_')
		case strings.ContainsRune(TagKeyForbidden, r) || unicode.IsSpace(r) || unicode.IsControl(r):
			b.WriteByte('_')
			lossy = true
		default:
			b.WriteRune(r)
		}
	}
	out := b.String()
	if !lossy && utf8.RuneCountInString(out) <= MaxTagKeyChars {
		return out
	}
	sum := sha256.Sum256([]byte(key))
	suffix := "_" + hex.EncodeToString(sum[:4])
	if keep := MaxTagKeyChars - len(suffix); utf8.RuneCountInString(out) > keep {
		out = string([]rune(out)[:keep])
	}
	return out + suffix
}

// LockPrefix starts the model part of a lock's name (see LockName).
const LockPrefix = "mlreg_lock_"

// LockName is the registered model that serializes promotions of model on
// UC: catalog.schema.mlreg_lock_<model>, in the model's own schema. The
// OSS lock name (mlreg-lock.<model>) is not a UC name; this one is, and UC
// refuses to create a model whose name exists, which is what the lock needs.
// Creating it needs the CREATE MODEL privilege on the schema. model must be
// three-level (see ValidateName).
func LockName(model string) string {
	parts := strings.SplitN(model, ".", 3)
	if len(parts) != 3 {
		return LockPrefix + model
	}
	name := LockPrefix + parts[2]
	if utf8.RuneCountInString(name) > 255 {
		sum := sha256.Sum256([]byte(parts[2]))
		name = string([]rune(name)[:200]) + "_" + hex.EncodeToString(sum[:4])
	}
	return parts[0] + "." + parts[1] + "." + name
}

// TakeoverPrefix starts the model part of a takeover claim's name (see TakeoverName).
const TakeoverPrefix = "mlreg_takeover_"

// TakeoverName is the registered model that a run creates, in model's
// schema as the lock is, before it deletes the expired lock (or claim)
// whose id is id: catalog.schema.mlreg_takeover_<id>. id is hexadecimal
// (promote derives it from the lock's token), so the name is a UC name.
func TakeoverName(model, id string) string {
	parts := strings.SplitN(model, ".", 3)
	if len(parts) != 3 {
		return TakeoverPrefix + id
	}
	return parts[0] + "." + parts[1] + "." + TakeoverPrefix + id
}
