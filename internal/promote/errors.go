package promote

import (
	"errors"
	"fmt"
)

// Sentinel errors that the caller maps to exit statuses.
var (
	// ErrInvalid marks invalid input or configuration (exit 2).
	ErrInvalid = errors.New("invalid input")
	// ErrPolicyFailed marks a candidate that does not meet the policy (exit 1).
	ErrPolicyFailed = errors.New("policy not met")
	// ErrConflict marks a target that moved since the plan, or a lost race (exit 4).
	ErrConflict = errors.New("conflict")
	// ErrNotReady marks a version that is not READY (a registry state, exit 3).
	ErrNotReady = errors.New("model version not ready")
)

// PartialError reports an apply that moved targets but could not finish the
// audit record. The registry state is described in Moved; rerunning the same
// command completes the record.
type PartialError struct {
	Moved []string // e.g. "@champion: v3 → v5"
	Step  string   // what failed, e.g. "write history tag mlreg.history.alias.champion"
	Err   error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("promotion applied (%v) but failed to %s: %v; the registry holds the new version, "+
		"rerun the same command to complete the audit record", e.Moved, e.Step, e.Err)
}

func (e *PartialError) Unwrap() error { return e.Err }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
