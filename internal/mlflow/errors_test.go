package mlflow

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestErrorDecoding(t *testing.T) {
	t.Parallel()
	longText := strings.Repeat("word\n\t", 200) // 1000 characters over many lines
	cases := []struct {
		name        string
		status      int
		contentType string
		retryAfter  string
		body        string
		want        *Error
	}{
		{
			name: "MLflow JSON", status: 404, contentType: "application/json",
			body: `{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Model Version (name=m, version=9) not found"}`,
			want: &Error{StatusCode: 404, Code: "RESOURCE_DOES_NOT_EXIST", Message: "Model Version (name=m, version=9) not found"},
		},
		{
			name: "MLflow JSON with newer fields", status: 400, contentType: "application/json",
			body: `{"error_code": "RESOURCE_ALREADY_EXISTS", "message": "exists", "sqlstate": "KAM00", "error_class": "X"}`,
			want: &Error{StatusCode: 400, Code: "RESOURCE_ALREADY_EXISTS", Message: "exists"},
		},
		{
			name: "JSON without error_code", status: 500, contentType: "application/json",
			body: `{"message": "boom"}`,
			want: &Error{StatusCode: 500, Code: "INTERNAL_ERROR", Message: "boom"},
		},
		{
			name: "HTML 404 page", status: 404, contentType: "text/html; charset=utf-8",
			body: "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n" +
				"<p>The requested URL was not found on the server.</p>\n",
			want: &Error{StatusCode: 404, Code: "ENDPOINT_NOT_FOUND",
				Message: "404 Not Found Not Found The requested URL was not found on the server."},
		},
		{
			name: "host rejection text", status: 403, contentType: "text/plain",
			body: "Invalid Host header - possible DNS rebinding attack detected\n",
			want: &Error{StatusCode: 403, Code: "PERMISSION_DENIED", Message: "Invalid Host header - possible DNS rebinding attack detected"},
		},
		{
			name: "basic-auth 401 text", status: 401, contentType: "text/html",
			body: "You are not authenticated. Please see https://mlflow.org/docs/latest/auth/index.html",
			want: &Error{StatusCode: 401, Code: "UNAUTHENTICATED",
				Message: "You are not authenticated. Please see https://mlflow.org/docs/latest/auth/index.html"},
		},
		{
			name: "long text is one capped line", status: 400, contentType: "text/plain",
			body: longText,
			want: &Error{StatusCode: 400, Code: "BAD_REQUEST",
				Message: strings.Repeat("word ", 60)[:maxMessageLen] + "…"},
		},
		{
			name: "empty 429 with Retry-After", status: 429, retryAfter: "12",
			want: &Error{StatusCode: 429, Code: "RESOURCE_EXHAUSTED", Message: "Too Many Requests", RetryAfter: 12 * time.Second},
		},
		{
			name: "empty 502", status: 502,
			want: &Error{StatusCode: 502, Code: "INTERNAL_ERROR", Message: "Bad Gateway"},
		},
		{
			name: "empty 409", status: 409,
			want: &Error{StatusCode: 409, Code: "RESOURCE_CONFLICT", Message: "Conflict"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				}
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})
			c, _ := newTestClient(t, srv.URL, func(o *Options) { o.MaxRetries = -1 })
			_, err := c.GetModelVersion(t.Context(), "m", "9")
			var got *Error
			if !errors.As(err, &got) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			want := *tc.want
			want.Method, want.Path = "GET", "/api/2.0/mlflow/model-versions/get"
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("*Error (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(err.Error(), `failed to get model version "m" v9: GET /api/2.0/mlflow/model-versions/get: `) {
				t.Errorf("error text %q lacks the call context", err)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  *Error
		want string
	}{
		{
			err:  &Error{Method: "POST", Path: "/api/2.0/mlflow/registered-models/alias", StatusCode: 403, Code: "PERMISSION_DENIED", Message: "Permission denied"},
			want: "POST /api/2.0/mlflow/registered-models/alias: 403 PERMISSION_DENIED: Permission denied",
		},
		{
			err:  &Error{Method: "GET", Path: "/x", StatusCode: 404, Code: "ENDPOINT_NOT_FOUND"},
			want: "GET /x: 404 ENDPOINT_NOT_FOUND",
		},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestErrorPredicates(t *testing.T) {
	t.Parallel()
	wrap := func(e *Error) error { return fmt.Errorf("failed to do x: %w", e) }
	cases := []struct {
		name                              string
		err                               error
		notFound, alreadyExists, endpoint bool
	}{
		{name: "resource does not exist", err: wrap(&Error{StatusCode: 404, Code: CodeResourceDoesNotExist}), notFound: true},
		{name: "NOT_FOUND code", err: wrap(&Error{StatusCode: 404, Code: CodeNotFound}), notFound: true},
		{name: "404 with another MLflow code", err: wrap(&Error{StatusCode: 404, Code: "FEATURE_DISABLED"}), notFound: true},
		{name: "endpoint not found", err: wrap(&Error{StatusCode: 404, Code: CodeEndpointNotFound}), endpoint: true},
		{name: "already exists (400)", err: wrap(&Error{StatusCode: 400, Code: CodeResourceAlreadyExists}), alreadyExists: true},
		{name: "ALREADY_EXISTS (409)", err: wrap(&Error{StatusCode: 409, Code: CodeAlreadyExists}), alreadyExists: true},
		{name: "invalid parameter", err: wrap(&Error{StatusCode: 400, Code: CodeInvalidParameterValue})},
		{name: "not an *Error", err: errors.New("RESOURCE_DOES_NOT_EXIST 404")},
		{name: "nil", err: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := IsNotFound(tc.err); got != tc.notFound {
				t.Errorf("IsNotFound() = %v, want %v", got, tc.notFound)
			}
			if got := IsAlreadyExists(tc.err); got != tc.alreadyExists {
				t.Errorf("IsAlreadyExists() = %v, want %v", got, tc.alreadyExists)
			}
			if got := IsEndpointNotFound(tc.err); got != tc.endpoint {
				t.Errorf("IsEndpointNotFound() = %v, want %v", got, tc.endpoint)
			}
		})
	}
}
