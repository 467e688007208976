package registry

import (
	"context"
	"errors"
	"time"
)

// Kinds of registry errors. A backend's errors match them with errors.Is
// (internal/mlflow's *Error implements Is for its codes and statuses), so
// callers ask what went wrong without knowing the backend's wire.
var (
	// ErrNotFound: the model, version, run or logged model does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a registered model of that name exists (the lock
	// relies on it: creating a name that exists fails).
	ErrAlreadyExists = errors.New("already exists")
	// ErrPermissionDenied: the identity may not do this (403).
	ErrPermissionDenied = errors.New("permission denied")
	// ErrUnauthenticated: the credentials were refused (401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrEndpointNotFound: the server does not serve the call (a wrong URI
	// prefix, or an API an older server lacks). It is not ErrNotFound.
	ErrEndpointNotFound = errors.New("endpoint not found")
	// ErrRefused: the server answered and refused the request, and asking
	// again gets the same answer (a 4xx other than 408 and 429): it did
	// nothing.
	ErrRefused = errors.New("refused")
	// ErrNotExecuted: the server cannot have acted on the request (any 4xx,
	// or a 503 with Retry-After); a create that failed so made nothing.
	ErrNotExecuted = errors.New("not executed")
	// ErrAliasNotFound is returned by GetModelVersionByAlias when the
	// registered model exists but the alias is not set.
	ErrAliasNotFound = errors.New("registered model alias not found")
	// ErrTagLimit is wrapped by the error for a tag, or a number of tags,
	// that the registry cannot hold; it is reported before anything is sent.
	ErrTagLimit = errors.New("outside the registry's tag limits")
)

// IsNotFound reports whether err is (or wraps) ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsAlreadyExists reports whether err is (or wraps) ErrAlreadyExists.
func IsAlreadyExists(err error) bool { return errors.Is(err, ErrAlreadyExists) }

// IsPermissionDenied reports whether err is (or wraps) ErrPermissionDenied.
func IsPermissionDenied(err error) bool { return errors.Is(err, ErrPermissionDenied) }

// IsEndpointNotFound reports whether err is (or wraps) ErrEndpointNotFound.
func IsEndpointNotFound(err error) bool { return errors.Is(err, ErrEndpointNotFound) }

// SleepContext waits for d or until ctx is done: the clock of every wait
// between attempts (the client's retries, the lock, registration polls).
func SleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
