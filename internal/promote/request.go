package promote

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/mlreg/mlreg-action/internal/checks"
)

// VersionSpec selects the candidate version: a version number, the version
// holding an alias, or (the zero value) the latest version, the highest
// version number.
type VersionSpec struct {
	Number string // "15"
	Alias  string // without "@"
}

// String renders the selector as the version input spells it: "15",
// "@challenger" or "latest".
func (v VersionSpec) String() string {
	switch {
	case v.Alias != "":
		return "@" + v.Alias
	case v.Number != "":
		return v.Number
	}
	return "latest"
}

// Version selects version number n (already checked with ParseVersionNumber).
func Version(n string) VersionSpec { return VersionSpec{Number: n} }

var digits = regexp.MustCompile(`^[0-9]+$`)

// ParseVersionNumber checks a version number as MLflow numbers versions:
// decimal digits, from 1.
func ParseVersionNumber(s string) (string, error) {
	switch {
	case !digits.MatchString(s):
		return "", fmt.Errorf("want a version number, got %q", s)
	case strings.Trim(s, "0") == "":
		return "", fmt.Errorf("version numbers start at 1, got %q", s)
	}
	return s, nil
}

// ParseVersion reads the version input: a number, latest (or empty) or
// @alias. "@latest" is MLflow's own spelling of the latest version.
func ParseVersion(s string) (VersionSpec, error) {
	switch {
	case s == "" || s == "latest":
		return VersionSpec{}, nil
	case strings.HasPrefix(s, "@"):
		a := s[1:]
		if strings.EqualFold(a, "latest") {
			return VersionSpec{Alias: a}, nil
		}
		if err := checks.CheckAlias(a); err != nil {
			return VersionSpec{}, err
		}
		return VersionSpec{Alias: a}, nil
	case digits.MatchString(s):
		n, err := ParseVersionNumber(s)
		return VersionSpec{Number: n}, err
	}
	return VersionSpec{}, fmt.Errorf("want a version number, latest or @alias, got %q", s)
}

// Expectation is a compare-and-set guard on the holder of each target:
// apply only if the target is held by Version ("" = unheld). The zero
// value guards nothing beyond the plan itself.
type Expectation struct {
	Set     bool
	Version string
}

// Expect guards on holder ("" = unheld).
func Expect(holder string) Expectation { return Expectation{Set: true, Version: holder} }

// String renders the guard as the expected-current-version input spells
// it: a version number, none, or "" when unset.
func (e Expectation) String() string {
	switch {
	case !e.Set:
		return ""
	case e.Version == "":
		return "none"
	}
	return e.Version
}

// ParseExpected reads the expected-current-version input: a version
// number, none (the target is unheld), or empty (no guard).
func ParseExpected(s string) (Expectation, error) {
	switch {
	case s == "":
		return Expectation{}, nil
	case s == "none":
		return Expect(""), nil
	case !digits.MatchString(s):
		return Expectation{}, fmt.Errorf("want a version number or none, got %q", s)
	case strings.Trim(s, "0") == "":
		return Expectation{}, fmt.Errorf("version numbers start at 1 (none means unheld), got %q", s)
	}
	return Expect(s), nil
}

// PreviousVersion is the version that held the plan's first target before
// the candidate: what Apply found there when it ran (o), else what the plan
// saw. It is "" when the target was unheld or the candidate held it
// already. Outputs, deployments and status lines all use it.
func PreviousVersion(p *Plan, o *Outcome) string {
	if p == nil || len(p.Targets) == 0 {
		return ""
	}
	t := p.Targets[0]
	prev := t.Current
	if o != nil {
		if v, ok := o.Previous[t.Label()]; ok {
			prev = v
		}
	}
	if prev == p.Candidate.Version {
		return ""
	}
	return prev
}

// CheckRegisterSource checks where a registration takes its model from:
// run-id with artifact-path (runs:/<run>/<path>), or source, not both.
// RegisterRequest.Validate and the action's inputs both use it.
func CheckRegisterSource(runID, artifactPath, source string) error {
	var errs []error
	switch {
	case source != "" && (runID != "" && !strings.HasPrefix(source, "runs:/")):
		errs = append(errs, errors.New("set either input source or inputs run-id and artifact-path, not both"))
	case source == "" && runID == "":
		errs = append(errs, errors.New("register needs input run-id (with artifact-path) or input source"))
	case source == "" && strings.TrimSpace(artifactPath) == "":
		errs = append(errs, errors.New("input artifact-path is required with run-id (e.g. model)"))
	}
	if strings.Contains(source+"/"+artifactPath, "..") {
		errs = append(errs, errors.New("input source/artifact-path may not contain '..'"))
	}
	if rest, ok := strings.CutPrefix(source, "runs:/"); ok {
		run, p, _ := strings.Cut(rest, "/")
		switch {
		case run == "" || strings.Trim(p, "/") == "":
			errs = append(errs, fmt.Errorf("input source: %q is not runs:/<run_id>/<artifact path>", source))
		case runID != "" && runID != run:
			errs = append(errs, fmt.Errorf("input run-id %q differs from the run of input source %q", runID, source))
		}
	}
	return errors.Join(errs...)
}
