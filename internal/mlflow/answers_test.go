package mlflow

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Answers that no MLflow server sends are registry errors: a body that is
// not UTF-8, a version that is not a version number.
func TestImplausibleAnswers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body string
		call func(c *Client) error
		want string
	}{
		{"invalid UTF-8", "{\"model_version\": {\"version\": \"3\", \"description\": \"caf\xe9\"}}",
			func(c *Client) error { _, err := c.GetModelVersion(t.Context(), "m", "3"); return err },
			`failed to get model version "m" v3: failed to decode response of GET /api/2.0/mlflow/model-versions/get: the body is not valid UTF-8 (byte 54 of 58)`},
		{"version is a word", `{"model_version": {"version": "three"}}`,
			func(c *Client) error { _, err := c.GetModelVersion(t.Context(), "m", "3"); return err },
			`invalid response of GET /api/2.0/mlflow/model-versions/get: model version "three" is not a version number`},
		{"version zero", `{"model_version": {"version": "0"}}`,
			func(c *Client) error { _, err := c.GetModelVersionByAlias(t.Context(), "m", "champion"); return err },
			`model version "0" is not a version number`},
		{"empty version in a search", `{"model_versions": [{"version": "1"}, {"version": ""}]}`,
			func(c *Client) error { _, err := c.LatestVersion(t.Context(), "m"); return err },
			`model version "" is not a version number`},
		{"alias on a version that is not a number", `{"registered_model": {"name": "m", "aliases": [{"alias": "champion", "version": "v2"}]}}`,
			func(c *Client) error { _, err := c.GetRegisteredModel(t.Context(), "m"); return err },
			`alias "champion": model version "v2" is not a version number`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				fmt.Fprint(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			c, err := New(Options{TrackingURI: srv.URL, MaxRetries: -1})
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.call(c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one with %q", err, tc.want)
			}
		})
	}
}

// What the server says never repeats the client's credentials, in any form
// a proxy might echo them: the header, the token, the password, user:password
// or its base64.
func TestServerTextNeverRepeatsCredentials(t *testing.T) {
	t.Parallel()
	const token, user, pass = "tok-0123456789abcdef", "ci", "pa55-word-xyz"
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	for _, tc := range []struct {
		name   string
		opts   Options
		status int
	}{
		{"bearer in an error", Options{Token: token}, http.StatusForbidden},
		{"basic in an error", Options{Username: user, Password: pass, Token: token}, http.StatusUnauthorized},
		{"basic in a body that does not decode", Options{Username: user, Password: pass}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				u, p, _ := r.BasicAuth()
				w.WriteHeader(tc.status)
				fmt.Fprintf(w, `{"error_code": "PERMISSION_DENIED", "message": "denied: %s %s:%s %s %s"`, r.Header.Get("Authorization"), u, p, token, pass)
				if tc.status != http.StatusOK {
					fmt.Fprint(w, "}")
				}
			}))
			t.Cleanup(srv.Close)
			tc.opts.TrackingURI, tc.opts.MaxRetries = srv.URL, -1
			c, err := New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.GetModelVersion(t.Context(), "m", "1")
			if err == nil || !strings.Contains(err.Error(), "denied: ***") {
				t.Fatalf("error = %v, want the server's message, redacted", err)
			}
			secrets := []string{token}
			if tc.opts.Password != "" { // basic wins: the token is not sent
				secrets = []string{pass, basic, user + ":" + pass}
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error repeats %q: %v", s, err)
				}
			}
		})
	}
}
