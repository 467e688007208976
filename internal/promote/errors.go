package promote

import (
	"errors"
	"fmt"
	"net"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/registry"
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

// invalid marks err as invalid input (status 2).
func invalid(err error) error { return fmt.Errorf("%w: %w", ErrInvalid, err) }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// moveError says what a failed move of the first target left. A refusal (a
// 4xx answer that retrying does not change) moved nothing. Any other failure
// (a reset, a truncated answer, a timeout, retries exhausted) may follow a
// request the server executed: the target may already point to the
// candidate. A rerun finds out, and completes the audit record from the
// promotion tag written before the move, or moves the target.
func moveError(t checks.Target, version string, err error) error {
	if errors.Is(err, ErrConflict) {
		return err // the move ran and left another stage; the error says which
	}
	if refused(err) {
		return fmt.Errorf("%w; nothing was moved", err)
	}
	return fmt.Errorf("%w; %s may or may not have moved to v%s (a request was sent and no answer came back): "+
		"rerun the same command, it completes the promotion either way", err, t.Label(), version)
}

// refused reports whether err is a refusal: a 4xx answer that retrying does
// not change (not 408 or 429), which says the server did nothing.
func refused(err error) bool { return errors.Is(err, registry.ErrRefused) }

// createMayHaveRun reports whether a failed CreateModelVersion may have
// registered a version. The client repeats a create only after failures that
// show the server did not act, so the last failure decides: a 4xx answer, a
// 503 with Retry-After or a failed dial did not create anything; anything
// else (a reset, a lost or truncated answer, a timeout, a 5xx) may have.
func createMayHaveRun(err error) bool {
	var opErr *net.OpError
	return !errors.Is(err, registry.ErrNotExecuted) && !(errors.As(err, &opErr) && opErr.Op == "dial")
}
