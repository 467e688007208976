package mlflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mlreg/mlreg-action/internal/registry"
)

// MLflow error codes (the error_code field of an error body) this package
// produces or interprets.
const (
	CodeBadRequest            = "BAD_REQUEST"
	CodeInvalidParameterValue = "INVALID_PARAMETER_VALUE"
	CodeUnauthenticated       = "UNAUTHENTICATED"
	CodePermissionDenied      = "PERMISSION_DENIED"
	CodeResourceDoesNotExist  = "RESOURCE_DOES_NOT_EXIST"
	CodeNotFound              = "NOT_FOUND"
	CodeEndpointNotFound      = "ENDPOINT_NOT_FOUND"
	CodeResourceAlreadyExists = "RESOURCE_ALREADY_EXISTS"
	CodeAlreadyExists         = "ALREADY_EXISTS"
	CodeResourceConflict      = "RESOURCE_CONFLICT"
	CodeResourceExhausted     = "RESOURCE_EXHAUSTED"
	CodeInternalError         = "INTERNAL_ERROR"
)

// ErrAliasNotFound is returned by GetModelVersionByAlias when the registered
// model exists but the alias is not set. MLflow answers that case with
// 400 INVALID_PARAMETER_VALUE, not 404.
var ErrAliasNotFound = registry.ErrAliasNotFound

const (
	// maxMessageLen caps the message taken from a non-JSON error body.
	maxMessageLen = 300
	// maxServerMessageLen caps the message of an MLflow JSON error: longer
	// than maxMessageLen, since MLflow's own messages quote what they
	// refuse (a source URI, a filter) and add a hint after it.
	maxServerMessageLen = 1000
)

// Error is a non-2xx answer from the MLflow server. It never holds request
// headers, so it never holds credentials.
type Error struct {
	Method     string // HTTP method, e.g. "POST"
	Path       string // URL path without the query, e.g. "/api/2.0/mlflow/registered-models/alias"
	StatusCode int    // HTTP status code
	// Code is MLflow's error_code when the body was MLflow JSON, otherwise a
	// code derived from StatusCode (see errorCodeForStatus).
	Code string
	// Message is MLflow's message, or the trimmed, single-line start of a
	// non-JSON body, or the status text when the body was empty.
	Message string
	// RetryAfter is the server's Retry-After, 0 when absent.
	RetryAfter time.Duration
}

// Error renders as `POST /api/2.0/mlflow/registered-models/alias: 403 PERMISSION_DENIED: Permission denied`.
func (e *Error) Error() string {
	s := fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.StatusCode, e.Code)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is matches e against the registry's error kinds (registry.ErrNotFound and
// the others), so that callers ask what went wrong without knowing the wire.
func (e *Error) Is(target error) bool {
	switch target { //nolint:errorlint // the kinds are sentinels, compared as such
	case registry.ErrNotFound:
		return IsNotFound(e)
	case registry.ErrAlreadyExists:
		return IsAlreadyExists(e)
	case registry.ErrPermissionDenied:
		return IsPermissionDenied(e)
	case registry.ErrUnauthenticated:
		return IsUnauthenticated(e)
	case registry.ErrEndpointNotFound:
		return IsEndpointNotFound(e)
	case registry.ErrRefused:
		return e.StatusCode >= 400 && e.StatusCode < 500 &&
			e.StatusCode != http.StatusRequestTimeout && e.StatusCode != http.StatusTooManyRequests
	case registry.ErrNotExecuted:
		return e.StatusCode < 500 || (e.StatusCode == http.StatusServiceUnavailable && e.RetryAfter > 0)
	}
	return false
}

// RedirectError is a 3xx answer, which is refused: MLflow's REST API never
// redirects, and following one could send the credentials to another port,
// host or scheme (https to http puts them on the wire in clear text), or take
// the verdict from another server. It is not retried.
type RedirectError struct {
	Method     string
	Path       string
	StatusCode int
	// Location is where the server pointed, resolved against the request,
	// with its user info, query values and fragment hidden (RedactURL);
	// "" when the answer named none.
	Location string
	// Upgrade is the tracking URI with https for http, when that is all the
	// redirect changes: the likely fix.
	Upgrade string
}

func (e *RedirectError) Error() string {
	to := "without a Location"
	if e.Location != "" {
		to = fmt.Sprintf("to %q", e.Location)
	}
	s := fmt.Sprintf("%s %s: %d %s %s refused: MLflow's REST API never redirects, so the tracking URI "+
		"should be the MLflow server's own URL; redirects are not followed, so that the credentials go nowhere else",
		e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode), to)
	if e.Upgrade != "" {
		s += fmt.Sprintf(" (the server moves to https: did you mean %s?)", e.Upgrade)
	}
	return s
}

// IsNotFound reports whether err is (or wraps) an MLflow answer that the
// requested resource does not exist: error code RESOURCE_DOES_NOT_EXIST or
// NOT_FOUND, or a 404 carrying another MLflow code. A 404 for an unknown
// endpoint (ENDPOINT_NOT_FOUND, which is also what a non-JSON 404 from a proxy
// or a wrong URL prefix maps to) is not "not found": see IsEndpointNotFound.
func IsNotFound(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case CodeResourceDoesNotExist, CodeNotFound:
		return true
	case CodeEndpointNotFound:
		return false
	}
	return e.StatusCode == http.StatusNotFound
}

// IsEndpointNotFound reports whether err is (or wraps) a 404 for the endpoint
// itself: a wrong tracking URI or prefix, or an API the server does not serve
// (for example stages on a registry that removed them).
func IsEndpointNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == CodeEndpointNotFound
}

// IsAlreadyExists reports whether err is (or wraps) an MLflow
// RESOURCE_ALREADY_EXISTS answer (HTTP 400 in MLflow, not 409).
func IsAlreadyExists(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Code == CodeResourceAlreadyExists || e.Code == CodeAlreadyExists)
}

// isAliasNotFound reports whether err is MLflow's answer for an unset alias:
// 400 INVALID_PARAMETER_VALUE "Registered model alias A not found." A 404 is
// accepted too when its message names the alias, in case a server reports it
// the REST way.
func isAliasNotFound(err error, alias string) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	msg := strings.ToLower(e.Message)
	switch {
	case e.StatusCode == http.StatusBadRequest && e.Code == CodeInvalidParameterValue:
		return strings.Contains(msg, "alias") && strings.Contains(msg, "not found")
	case e.StatusCode == http.StatusNotFound && e.Code == CodeResourceDoesNotExist:
		return strings.Contains(msg, "alias "+strings.ToLower(alias)+" not found")
	}
	return false
}

// newError builds an *Error from a non-2xx response whose body (redacted)
// was read; cut tells that it is the start of a longer one. now is the clock
// that reads a Retry-After date.
func newError(method, path string, status int, header http.Header, body []byte, cut bool, now time.Time) *Error {
	e := &Error{Method: method, Path: path, StatusCode: status}
	if d, ok := parseRetryAfter(header.Get("Retry-After"), now); ok {
		e.RetryAfter = d
	}
	if code, msg, partial, ok := errorJSON(body, cut); ok {
		msg = strings.TrimSpace(msg)
		if partial && !strings.HasSuffix(msg, "…") {
			msg += "…" // the start of a longer message, cut below if it is long
		}
		e.Code, e.Message = code, truncate(msg, maxServerMessageLen)
	} else {
		e.Message = textMessage(body, header.Get("Content-Type"))
	}
	if e.Code == "" {
		e.Code = errorCodeForStatus(status)
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// errorJSON reads MLflow's {"error_code": ..., "message": ...} from body.
// Of a body that was cut (the start of a longer one) it reads the fields
// before the cut and the start of a message the cut falls in (partial).
// ok is false when body is no such object.
func errorJSON(body []byte, cut bool) (code, msg string, partial, ok bool) {
	var wire struct {
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
	}
	if !cut {
		if json.Unmarshal(body, &wire) != nil {
			return "", "", false, false
		}
		return wire.ErrorCode, wire.Message, false, wire.ErrorCode != "" || wire.Message != ""
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", "", false, false
	}
	for dec.More() {
		t, err := dec.Token()
		key, isKey := t.(string)
		if err != nil || !isKey {
			break
		}
		start := dec.InputOffset()
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			if key == "message" {
				msg, partial = partialString(body[start:])
			}
			break
		}
		switch key {
		case "error_code":
			_ = json.Unmarshal(v, &wire.ErrorCode)
		case "message":
			_ = json.Unmarshal(v, &wire.Message)
		}
	}
	if partial {
		wire.Message = msg
	}
	return wire.ErrorCode, wire.Message, partial, wire.ErrorCode != "" || wire.Message != ""
}

// partialString decodes the start of a JSON string value that raw, the rest
// of an object after a key, holds up to its end: enough of it for
// maxServerMessageLen runes. An escape cut short at the end is dropped.
func partialString(raw []byte) (string, bool) {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	raw, ok := bytes.CutPrefix(raw, []byte(":"))
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	// Each rune takes at most 6 bytes (\uXXXX, or 4 of UTF-8).
	raw = raw[1:min(len(raw), 1+6*(maxServerMessageLen+1))]
	// A cut escape is at most 11 bytes: \uD83D\uDE0.
	for trim := 0; trim <= min(len(raw), 11); trim++ {
		quoted := make([]byte, 0, len(raw)+2)
		quoted = append(append(append(quoted, '"'), raw[:len(raw)-trim]...), '"')
		var s string
		if json.Unmarshal(quoted, &s) == nil {
			return s, true
		}
	}
	return "", false
}

// errorCodeForStatus synthesizes an MLflow-style code for a body that carried none.
func errorCodeForStatus(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return CodeUnauthenticated
	case status == http.StatusForbidden:
		return CodePermissionDenied
	case status == http.StatusNotFound:
		return CodeEndpointNotFound
	case status == http.StatusConflict:
		return CodeResourceConflict
	case status == http.StatusTooManyRequests:
		return CodeResourceExhausted
	case status >= 500:
		return CodeInternalError
	default:
		return CodeBadRequest
	}
}

// textMessage turns a non-JSON body into one short line: HTML tags are
// dropped, whitespace is collapsed, and the result is capped at maxMessageLen.
func textMessage(body []byte, contentType string) string {
	s := string(body)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.Contains(contentType, "html") || strings.HasPrefix(strings.TrimSpace(s), "<") {
		s = stripTags(s)
	}
	return truncate(strings.Join(strings.Fields(s), " "), maxMessageLen)
}

// stripTags removes <...> markup; it is meant for short error pages, not for
// arbitrary HTML.
func stripTags(s string) string {
	var b strings.Builder
	inTag := false
	for _, r := range s {
		switch {
		case r == '<':
			inTag = true
		case r == '>' && inTag:
			inTag = false
			b.WriteByte(' ')
		case !inTag:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// truncate keeps n runes of s, marking a cut with an ellipsis after them:
// registry.Truncate to n+1.
func truncate(s string, n int) string { return registry.Truncate(s, n+1) }

// IsPermissionDenied reports whether err is (or wraps) a 403 or PERMISSION_DENIED answer.
func IsPermissionDenied(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Code == CodePermissionDenied || e.StatusCode == http.StatusForbidden)
}

// IsUnauthenticated reports whether err is (or wraps) a 401 or UNAUTHENTICATED answer.
func IsUnauthenticated(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Code == CodeUnauthenticated || e.StatusCode == http.StatusUnauthorized)
}
