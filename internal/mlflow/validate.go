package mlflow

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// validator is a response that checks what it decoded: an answer that no
// MLflow server sends is a registry error, not something to act on.
type validator interface {
	validate() error
}

var versionNumber = regexp.MustCompile(`^[1-9][0-9]*$`)

func checkVersion(v string) error {
	if !versionNumber.MatchString(v) {
		return fmt.Errorf("model version %q is not a version number", truncate(v, 40))
	}
	return nil
}

func (r *modelVersionResponse) validate() error {
	if r.ModelVersion == nil {
		return nil // the caller reports the missing field
	}
	return checkVersion(r.ModelVersion.Version)
}

func (r *modelVersionsResponse) validate() error {
	for i := range r.ModelVersions {
		if err := checkVersion(r.ModelVersions[i].Version); err != nil {
			return err
		}
	}
	return nil
}

func (r *registeredModelResponse) validate() error {
	if r.RegisteredModel == nil {
		return nil
	}
	for i := range r.RegisteredModel.LatestVersions {
		if err := checkVersion(r.RegisteredModel.LatestVersions[i].Version); err != nil {
			return err
		}
	}
	for _, a := range r.RegisteredModel.Aliases {
		if err := checkVersion(a.Version); err != nil {
			return fmt.Errorf("alias %q: %w", truncate(a.Alias, 40), err)
		}
	}
	return nil
}

// invalidUTF8 returns the offset of the first byte of body that is not
// UTF-8, or -1. JSON is UTF-8 (RFC 8259), and encoding/json would quietly
// turn such bytes into U+FFFD.
func invalidUTF8(body []byte) int {
	for i := 0; i < len(body); {
		r, size := utf8.DecodeRune(body[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return -1
}

// CheckModelName applies MLflow's rules for a registered model name
// (mlflow/utils/validation.py _validate_model_name, which every registry
// call runs): not blank (in Python's sense of white space), no "/" or ":", and, since a name may be used as a
// path, not "." and not starting with "..".
func CheckModelName(name string) error {
	switch {
	case strings.TrimFunc(name, pyIsSpace) == "":
		return errors.New("model name must not be empty")
	case strings.ContainsAny(name, "/:"):
		return fmt.Errorf("model name %q may not contain '/' or ':'", truncate(name, 80))
	case name == "." || strings.HasPrefix(name, ".."):
		return fmt.Errorf("model name %q is not a valid MLflow name: MLflow may treat names as paths, so \".\" and names starting with \"..\" are refused", truncate(name, 80))
	}
	return nil
}

// pyIsSpace is Python's str.isspace: Go's unicode.IsSpace plus the
// information separators U+001C to U+001F.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}
