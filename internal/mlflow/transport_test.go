package mlflow

import (
	"cmp"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// hits records the requests a server got, with their Authorization header.
type hits struct {
	mu   sync.Mutex
	auth []string
}

func (h *hits) handler(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.auth = append(h.auth, r.Header.Get("Authorization"))
	h.mu.Unlock()
	writeJSON(w, http.StatusOK, `{"model_version": {"name": "m", "version": "1"}}`)
}

func (h *hits) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.auth...)
}

// TestRedirectsRefused: MLflow's REST API never redirects, so no 3xx is
// followed, for any call (the registry's, and Call's for Unity Catalog):
// the second server sees nothing, the credentials (bearer or basic) stay
// where they were sent, the error names the status and the Location, and it
// is not retried.
func TestRedirectsRefused(t *testing.T) {
	t.Parallel()
	second := &hits{}
	target := newServer(t, second.handler)
	calls := map[string]func(context.Context, *Client) error{
		"GET":  callGet,
		"POST": callSetAlias,
		"UC (Call)": func(ctx context.Context, c *Client) error {
			return c.Call(ctx, http.MethodGet, "/unity-catalog/model-versions/get", nil, nil, nil)
		},
	}
	auths := map[string]func(*Options){
		"bearer": func(o *Options) { o.Token = "redirect-secret-token-123" },
		"basic":  func(o *Options) { o.Username, o.Password = "ci", "redirect-secret-password-456" },
	}
	for _, status := range []int{300, 301, 302, 303, 307, 308} {
		for name, call := range calls {
			for auth, mod := range auths {
				t.Run(fmt.Sprintf("%d %s %s", status, name, auth), func(t *testing.T) {
					t.Parallel()
					front := newServer(t, func(w http.ResponseWriter, r *http.Request) {
						http.Redirect(w, r, target.URL+r.URL.RequestURI(), status)
					})
					c, s := newTestClient(t, front.URL, mod)
					err := call(t.Context(), c)
					var redirect *RedirectError
					if !errors.As(err, &redirect) {
						t.Fatalf("error = %v, want a *RedirectError", err)
					}
					want := fmt.Sprintf("%d %s to %q refused", status, http.StatusText(status), target.URL+"/api/2.0/mlflow/")
					if msg := err.Error(); !strings.Contains(msg, want[:len(want)-len(`" refused`)]) ||
						!strings.Contains(msg, "refused: MLflow's REST API never redirects") {
						t.Errorf("error = %v, want it to say %s", err, want)
					}
					if c.Requests() != 1 || len(s.got()) != 0 {
						t.Errorf("%d requests, %d pauses, want 1 and none (not retried)", c.Requests(), len(s.got()))
					}
				})
			}
		}
	}
	t.Cleanup(func() {
		if got := second.got(); len(got) != 0 {
			t.Errorf("the redirect's target got %d requests (Authorization %q), want none", len(got), got)
		}
	})
}

// TestRedirectLocationShown: the Location in the error is absolute (a
// relative one is resolved), and hides user info, query values, the
// fragment and the client's own credentials; a missing one is said so; a
// move to https of the same URL suggests the https tracking URI.
func TestRedirectLocationShown(t *testing.T) {
	t.Parallel()
	const token = "location-secret-token-789"
	cases := []struct {
		name, location string
		want           []string
		hides          []string
	}{
		{name: "secrets", location: "http://u:hunter2-pw@other.test:1/x?token=tok-in-query&a=&b#frag-secret",
			want: []string{`to "http://***@other.test:1/x?token=***&a=&b#***"`}, hides: []string{"hunter2-pw", "tok-in-query", "frag-secret"}},
		{name: "own token", location: "http://other.test/x/" + token, want: []string{`to "http://other.test/x/***"`}, hides: []string{token}},
		{name: "relative", location: "/login", want: []string{`to "http://127.0.0.1:`, `/login"`}},
		{name: "none", location: "", want: []string{"302 Found without a Location refused"}},
		{name: "bidi override", location: "http://other.test/\u202eevil", want: []string{`to "http://other.test/%E2%80%AEevil"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			front := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.location != "" {
					w.Header()["Location"] = []string{tc.location}
				}
				w.WriteHeader(http.StatusFound)
			})
			c, _ := newTestClient(t, front.URL, func(o *Options) { o.Token = token })
			err := callGet(t.Context(), c)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error = %v, want it to hold %s", err, w)
				}
			}
			for _, h := range tc.hides {
				if strings.Contains(err.Error(), h) {
					t.Errorf("error = %v, shows %q", err, h)
				}
			}
		})
	}
	t.Run("upgrade to https", func(t *testing.T) {
		t.Parallel()
		var front *httptest.Server
		front = newServer(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, strings.Replace(front.URL, "http://", "https://", 1)+r.URL.RequestURI(), http.StatusMovedPermanently)
		})
		c, _ := newTestClient(t, front.URL+"/mlflow", nil)
		err := callGet(t.Context(), c)
		want := "(the server moves to https: did you mean " + strings.Replace(front.URL, "http://", "https://", 1) + "/mlflow?)"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want it to end %s", err, want)
		}
	})
}

// TestTLSHandshakeFailuresNotRetried: a TLS handshake that fails (https to a
// plain-HTTP server, a server that speaks neither, an untrusted certificate,
// another host's certificate) is no transient failure: one attempt, no
// pause, and a hint at the fix.
func TestTLSHandshakeFailuresNotRetried(t *testing.T) {
	t.Parallel()
	plain := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, `{"model_version": {"name": "m", "version": "1"}}`)
	})
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, `{"model_version": {"name": "m", "version": "1"}}`)
	}))
	t.Cleanup(tlsSrv.Close)
	caPath := writePEM(t, t.TempDir(), "ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw})
	garbage := garbageServer(t)
	_, tlsPort, _ := net.SplitHostPort(strings.TrimPrefix(tlsSrv.URL, "https://"))

	cases := []struct {
		name string
		opts Options
		want string
	}{
		{name: "https to plain HTTP", opts: Options{TrackingURI: strings.Replace(plain.URL, "http://", "https://", 1) + "/mlflow"},
			want: "http: server gave HTTP response to HTTPS client (the server speaks plain HTTP: did you mean " + plain.URL + "/mlflow?)"},
		{name: "not TLS", opts: Options{TrackingURI: "https://" + garbage},
			want: "(the server does not speak TLS: did you mean http://" + garbage + "?)"},
		{name: "untrusted certificate", opts: Options{TrackingURI: tlsSrv.URL},
			want: "x509: certificate signed by unknown authority (certificate not trusted: set MLFLOW_TRACKING_SERVER_CERT_PATH"},
		{name: "another host's certificate", opts: Options{TrackingURI: "https://localhost:" + tlsPort, CACertPath: caPath},
			want: "(the certificate is another host's: the tracking URI must name a host the certificate is for)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &sleeper{}
			tc.opts.Sleep = s.sleep
			var retries []Retry
			tc.opts.OnRetry = func(r Retry) { retries = append(retries, r) }
			c, err := New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			err = callGet(t.Context(), c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to say %s", err, tc.want)
			}
			if c.Requests() != 1 || len(s.got()) != 0 || len(retries) != 0 {
				t.Errorf("%d attempts, %d pauses, %d retries, want 1 attempt and no retry", c.Requests(), len(s.got()), len(retries))
			}
		})
	}
}

// garbageServer accepts connections and answers each with bytes that are
// neither TLS nor HTTP; it returns its host:port.
func garbageServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
			_ = conn.Close()
		}
	}()
	return ln.Addr().String()
}

// TestFirstRetrySaysHowLong: the first retry's line says how long the
// retries may go on and what ends them: the deadline, named, when it comes
// before the last attempt could end. The later lines keep the short form.
func TestFirstRetrySaysHowLong(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	var got []string
	c, _ := newTestClient(t, "http://"+addr, func(o *Options) {
		o.MaxRetries = 2
		o.OnRetry = func(r Retry) { got = append(got, r.String()) }
	})
	// The last attempt could end 4m5s from now: 5s of pause, then 2
	// attempts of 120s.
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	_ = callGet(WithDeadlineName(ctx, "deadline of 3m (input `timeout`)"), c)
	if len(got) != 2 {
		t.Fatalf("retry lines %q, want 2", got)
	}
	first := regexp.MustCompile(`^GET /api/2\.0/mlflow/model-versions/get: connection refused by ` + regexp.QuoteMeta(addr) +
		` \(attempt 1 of 3\); retrying in 0s, and for up to 2m5\ds before the deadline of 3m \(input ` + "`timeout`" + `\)$`)
	if !first.MatchString(got[0]) {
		t.Errorf("first retry line %q, want it to match %s", got[0], first)
	}
	if want := "GET /api/2.0/mlflow/model-versions/get: connection refused by " + addr +
		" (attempt 2 of 3); retrying in 4s"; got[1] != want {
		t.Errorf("second retry line %q, want %q", got[1], want)
	}
}

// TestErrorMessagesCapped: the message of an MLflow JSON error is capped like
// a text body's, however long it is, and only the start of a huge body is
// read: its code and the start of its message are kept, an escape cut
// short is dropped, and no part of a credential is shown.
func TestErrorMessagesCapped(t *testing.T) {
	t.Parallel()
	const token = "capped-secret-token-0123456789"
	escaped, _ := json.Marshal(strings.Repeat("é€", maxErrorBody))
	cases := []struct {
		name  string
		body  string
		ctype string
		code  string
		start string
	}{
		{name: "60 MiB message", body: string(bigErrorBody(60 << 20)), code: "INVALID_PARAMETER_VALUE", start: "mmmm"},
		{name: "5000-rune message", body: `{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "` + strings.Repeat("ü", 5000) + `"}`,
			code: "RESOURCE_DOES_NOT_EXIST", start: "üüüü"},
		{name: "message before the code", body: `{"message": "` + strings.Repeat("x", 1<<20) + `", "error_code": "NOT_SEEN"}`,
			code: CodeBadRequest, start: "xxxx"},
		{name: "escapes cut short", body: `{"error_code": "INVALID_PARAMETER_VALUE", "message": ` +
			strings.ReplaceAll(strings.ReplaceAll(string(escaped), "é", `\u00e9`), "€", `\u20ac`) + `}`,
			code: "INVALID_PARAMETER_VALUE", start: "é€é€"},
		{name: "text cut inside a credential", ctype: "text/plain",
			body: strings.Repeat(" ", maxErrorBody-10) + token + strings.Repeat(" tail", 100), code: CodeBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", cmp.Or(tc.ctype, "application/json"))
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(tc.body))
			})
			c, _ := newTestClient(t, srv.URL, func(o *Options) { o.Token = token })
			err := callGet(t.Context(), c)
			var apiErr *Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("error = %v, want an *Error", err)
			}
			if apiErr.Code != tc.code {
				t.Errorf("code = %q, want %q", apiErr.Code, tc.code)
			}
			if n := utf8.RuneCountInString(apiErr.Message); n > maxServerMessageLen+1 {
				t.Errorf("message of %d runes, want at most %d", n, maxServerMessageLen+1)
			}
			if !strings.HasPrefix(apiErr.Message, tc.start) || strings.ContainsRune(apiErr.Message, utf8.RuneError) {
				t.Errorf("message starts %.40q, want %q and no broken rune", apiErr.Message, tc.start)
			}
			if tc.start != "" && !strings.HasSuffix(apiErr.Message, "…") {
				t.Errorf("message ends %q, want the cut marked", apiErr.Message[max(0, len(apiErr.Message)-20):])
			}
			if strings.Contains(err.Error(), token[:4]) {
				t.Errorf("error shows the start of the token: %.200q", err.Error())
			}
		})
	}
}

// TestTrackingURIErrorsHideSecrets: a tracking URI that does not parse, or is
// refused, is shown redacted, and so is what url.Parse says about it.
func TestTrackingURIErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	cases := []struct {
		uri, want string
	}{
		{"http://ci:Hunter2-pw@127.0.0.1:badport", `failed to parse tracking URI "http://***@127.0.0.1:badport": invalid port ":badport" after host`},
		{"http://ci:Hunter2/pw@127.0.0.1:5000", `failed to parse tracking URI "http://***@127.0.0.1:5000": the user info (user:password@) does not parse; percent-encode its special characters`},
		{"http://ci:Hunter2%zzpw@127.0.0.1:5000", `failed to parse tracking URI "http://***@127.0.0.1:5000": the user info (user:password@) does not parse; percent-encode its special characters`},
		{"http://127.0.0.1:5000/?token=Hunter2-pw", `invalid tracking URI "http://127.0.0.1:5000/?token=***": must not have a query or fragment`},
		{"ftp://ci:Hunter2-pw@127.0.0.1", `invalid tracking URI "ftp://***@127.0.0.1": scheme must be http or https`},
	}
	for _, tc := range cases {
		_, err := New(Options{TrackingURI: tc.uri})
		if err == nil || err.Error() != tc.want {
			t.Errorf("New(%q) = %v, want %s", tc.uri, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "Hunter2") {
			t.Errorf("New(%q) shows the password: %v", tc.uri, err)
		}
	}
	opts := Options{TrackingURI: "http://ci:Hunter2-pw@127.0.0.1:badport"}
	if s := opts.String() + fmt.Sprint(opts.LogValue()); strings.Contains(s, "Hunter2") {
		t.Errorf("Options shows the password: %s", s)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"http://127.0.0.1:5000":                       "http://127.0.0.1:5000",
		"https://mlflow.example.com/prefix":           "https://mlflow.example.com/prefix",
		"http://ci:pw@127.0.0.1:badport":              "http://***@127.0.0.1:badport",
		"http://token@host/x":                         "http://***@host/x",
		"http://a@b:p@ss@host:1/x@y":                  "http://***@host:1/x@y",
		"http://ci:pa/ss@host/x":                      "http://***@host/x",
		"http://ci:pa?ss@host/x":                      "http://***@host/x",
		"http://ci:pa#ss@host/x":                      "http://***@host/x",
		"http://host/models/a@b":                      "http://host/models/a@b",
		"http://[::1]:5000/a@b":                       "http://[::1]:5000/a@b",
		"ci:pw@127.0.0.1:5000":                        "***@127.0.0.1:5000",
		"models:/name@champion":                       "models:/name@champion",
		"postgresql+psycopg2://ci:pw@db/mlflow":       "postgresql+psycopg2://***@db/mlflow",
		"https://h/x?X-Amz-Signature=abc&empty=&flag": "https://h/x?X-Amz-Signature=***&empty=&flag",
		"https://h/x#access_token=abc":                "https://h/x#***",
		"":                                            "",
	}
	for in, want := range cases {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRedactTextCut: text cut inside a credential drops its start too.
func TestRedactTextCut(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, "http://h", func(o *Options) { o.Token = "tok-0123456789" })
	for _, tc := range []struct {
		text string
		cut  bool
		want string
	}{
		{"a tok-0123456789 b", false, "a *** b"},
		{"a tok-0123456789 b tok-01", true, "a *** b "},
		{"a tok-01", false, "a tok-01"}, // whole: it is no credential
	} {
		if got := string(c.redactText([]byte(tc.text), tc.cut)); got != tc.want {
			t.Errorf("redactText(%q, %v) = %q, want %q", tc.text, tc.cut, got, tc.want)
		}
	}
}
