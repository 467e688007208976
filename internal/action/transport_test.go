package action_test

import (
	"encoding/pem"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

// The MLflow client's transport, end to end against the real MLflow server:
// redirects are refused, a huge error message is capped, a TLS handshake
// that cannot succeed fails at once, and a URI that does not parse never
// shows its password.

// recordingProxy forwards to the real MLflow server and records the
// Authorization header of every request it gets: a working second server,
// which a followed redirect would reach.
type recordingProxy struct {
	*httptest.Server
	mu   sync.Mutex
	auth []string
}

func newRecordingProxy(t *testing.T) *recordingProxy {
	t.Helper()
	p := &recordingProxy{}
	rp := httputil.NewSingleHostReverseProxy(mustParse(t, mlflowtest.RequireServer(t, srv).URL))
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.auth = append(p.auth, r.Header.Get("Authorization"))
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *recordingProxy) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.auth...)
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// caFile writes the certificate of a TLS test server to a PEM file, for
// MLFLOW_TRACKING_SERVER_CERT_PATH.
func caFile(t *testing.T, s *httptest.Server) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRedirectsRefused: a tracking URI that answers with a redirect (307 to
// another port of the same host, https to http, to another host) is refused
// with status 3 and an error that names the Location, bearer or basic: the
// redirect's target, a working MLflow server, never gets a request, so no
// credential reaches it (over http in clear text) and no verdict comes from
// it; the registry is unchanged.
func TestRedirectsRefused(t *testing.T) {
	t.Parallel()
	t.Run("control: the second server serves MLflow", func(t *testing.T) {
		t.Parallel()
		model, _ := newModel(t, auc(0.91), auc(0.95))
		res := runAction(t, promoteInputs(model, "command", "validate", "version", "2", "tracking-uri", newRecordingProxy(t).URL), policyFiles())
		if res.code != 0 || res.outputs["verdict"] != "pass" {
			t.Fatalf("exit %d, outputs %v\n%s", res.code, res.outputs, res.stdout)
		}
	})
	kinds := []struct {
		name string
		tls  bool
		host string // the redirect's host name, "" for the tracking URI's
	}{
		{name: "another port"},
		{name: "https to http", tls: true},
		{name: "another host", host: "localhost"},
	}
	auths := map[string]map[string]string{
		"bearer": {"mlflow-token": "redirect-secret-bearer-token-2468"},
		"basic":  {"mlflow-username": "ci-bot", "mlflow-password": "redirect-secret-password-1357"},
	}
	for _, kind := range kinds {
		for auth, creds := range auths {
			t.Run(kind.name+" "+auth, func(t *testing.T) {
				t.Parallel()
				model, f := newModel(t, auc(0.91), auc(0.95))
				if err := f.SetAlias(t.Context(), model, "champion", "1"); err != nil {
					t.Fatal(err)
				}
				second := newRecordingProxy(t)
				target := mustParse(t, second.URL)
				if kind.host != "" {
					target.Host = kind.host + ":" + target.Port()
				}
				redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, target.String()+r.URL.RequestURI(), http.StatusTemporaryRedirect)
				})
				inputs := merge(promoteInputs(model, "version", "2"), creds)
				var front *httptest.Server
				if kind.tls {
					front = httptest.NewTLSServer(redirect)
					inputs["MLFLOW_TRACKING_SERVER_CERT_PATH"] = caFile(t, front)
				} else {
					front = httptest.NewServer(redirect)
				}
				t.Cleanup(front.Close)
				inputs["tracking-uri"] = front.URL

				res := runSafe(t, inputs, policyFiles())
				checkAnnotation(t, badCase{code: 3, says: []string{"registry error", "nothing was changed",
					`307 Temporary Redirect to "` + target.String() + `/api/2.0/mlflow/`, "refused: MLflow's REST API never redirects"}}, res)
				if got := second.got(); len(got) != 0 {
					t.Errorf("the redirect's target got %d requests, Authorization %q; want none", len(got), got)
				}
				if got := aliasOf(t, f, model, "champion"); got != "1" {
					t.Errorf("@champion = %q, want 1 (unchanged)", got)
				}
				for _, secret := range creds {
					noSecrets(t, res, secret)
				}
			})
		}
	}
}

// TestHugeErrorMessageCapped: a 400 whose JSON message is 60 MiB makes a
// short annotation and a small report, with the error code and the start
// of the message.
func TestHugeErrorMessageCapped(t *testing.T) {
	t.Parallel()
	fr := newFakeRegistry(t, getVersionPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error_code": "INVALID_PARAMETER_VALUE", "message": "Bad version: `)
		chunk := []byte(strings.Repeat("0123456789abcdef", 4096))
		for range 60 << 20 / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return // the client read what it needed and hung up
			}
		}
		fmt.Fprint(w, `"}`)
	})
	res := runSafe(t, map[string]string{"tracking-uri": fr.srv.URL, "model-name": fakeModel, "version": "3",
		"target-alias": "champion", "policy": "none", "timeout": "60s"}, nil)
	checkAnnotation(t, badCase{code: 3, says: []string{"registry error", "nothing was changed",
		"400 INVALID_PARAMETER_VALUE: Bad version: 0123456789abcdef", "…"}}, res)
	if a := errorAnnotation(t, res.stdout); len(a.msg) > 4<<10 {
		t.Errorf("the annotation is %d bytes, want at most 4 KiB", len(a.msg))
	}
	if report := reportFile(t, res); len(report) > 16<<10 {
		t.Errorf("the report is %d bytes, want at most 16 KiB", len(report))
	}
	if len(res.stdout)+len(res.summary) > 64<<10 {
		t.Errorf("the log and summary are %d bytes, want at most 64 KiB", len(res.stdout)+len(res.summary))
	}
}

// countingProxy is a reverse proxy to the real MLflow server, over TLS or
// not, that counts the connections it accepts: one attempt is one
// connection when the TLS handshake fails.
func countingProxy(t *testing.T, tls bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	p := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(mustParse(t, mlflowtest.RequireServer(t, srv).URL)))
	p.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	if tls {
		p.StartTLS()
	} else {
		p.Start()
	}
	t.Cleanup(p.Close)
	return p, &conns
}

// TestTLSHandshakeFailsAtOnce: https:// against MLflow's plain HTTP, and an
// untrusted certificate, fail after one attempt (one connection, no retry
// line) with status 3 and a hint at the fix; with the certificate trusted
// the same server serves the run. The command is history, whose first
// request is its only one when it fails (a plan reads two things at once).
func TestTLSHandshakeFailsAtOnce(t *testing.T) {
	t.Parallel()
	model, _ := newModel(t, auc(0.95))
	plain, plainConns := countingProxy(t, false)
	secure, secureConns := countingProxy(t, true)
	cases := []struct {
		name   string
		inputs map[string]string
		conns  *atomic.Int64
		says   string
	}{
		{name: "https to plain HTTP", inputs: in("tracking-uri", strings.Replace(plain.URL, "http://", "https://", 1)), conns: plainConns,
			says: "http: server gave HTTP response to HTTPS client (the server speaks plain HTTP: did you mean " + plain.URL + "?)"},
		{name: "untrusted certificate", inputs: in("tracking-uri", secure.URL), conns: secureConns,
			says: "x509: certificate signed by unknown authority (certificate not trusted: set MLFLOW_TRACKING_SERVER_CERT_PATH to the PEM file of the CA that signed it)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Not parallel: each case counts its server's connections.
			inputs := merge(promoteInputs(model, "command", "history", "timeout", "30s"), tc.inputs)
			res := runSafe(t, inputs, nil)
			checkAnnotation(t, badCase{code: 3, says: []string{"registry error", tc.says}}, res)
			if n := tc.conns.Load(); n != 1 {
				t.Errorf("%d connections, want 1 (one attempt)", n)
			}
			if strings.Contains(res.stdout, "retry: ") {
				t.Errorf("the run retried:\n%s", res.stdout)
			}
		})
	}
	t.Run("control: the certificate trusted", func(t *testing.T) {
		inputs := merge(promoteInputs(model, "command", "history"),
			in("tracking-uri", secure.URL, "MLFLOW_TRACKING_SERVER_CERT_PATH", caFile(t, secure)))
		if res := runSafe(t, inputs, nil); res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stdout)
		}
	})
}

// TestURISecretsNeverShow: a tracking URI, DATABRICKS_HOST, registry-uri or
// Slack webhook URL with a password that does not parse, or is refused, is
// shown redacted, in a workflow and on a terminal: the password is nowhere
// in the log, the outputs, the summary or a file the run wrote.
func TestURISecretsNeverShow(t *testing.T) {
	t.Parallel()
	const pw = "Uri-Secret-Passw0rd-8642"
	model, _ := newModel(t, auc(0.95))
	cases := []struct {
		name   string
		inputs map[string]string
		code   int
		says   string
	}{
		{name: "tracking-uri with a bad port", inputs: in("tracking-uri", "http://ci:"+pw+"@127.0.0.1:badport"), code: 2,
			says: `failed to parse tracking URI "http://***@127.0.0.1:badport": invalid port ":badport" after host`},
		{name: "MLFLOW_TRACKING_URI with a bad port", inputs: in("tracking-uri", "", "MLFLOW_TRACKING_URI", "http://ci:"+pw+"@127.0.0.1:badport"), code: 2,
			says: `failed to parse tracking URI "http://***@127.0.0.1:badport": invalid port ":badport" after host`},
		{name: "tracking-uri with a / in the password", inputs: in("tracking-uri", "http://ci:"+pw+"/x@127.0.0.1:5000"), code: 2,
			says: `failed to parse tracking URI "http://***@127.0.0.1:5000": the user info (user:password@) does not parse`},
		{name: "tracking-uri without a scheme", inputs: in("tracking-uri", "ci:"+pw+"@127.0.0.1:5000"), code: 2,
			says: `input tracking-uri: want an http(s) URL of an MLflow server, got "***@127.0.0.1:5000"`},
		{name: "tracking-uri with a query", inputs: in("tracking-uri", "http://127.0.0.1:5000/?token="+pw), code: 2,
			says: `invalid tracking URI "http://127.0.0.1:5000/?token=***": must not have a query or fragment`},
		{name: "tracking-uri databricks profile", inputs: in("tracking-uri", "databricks://ci:"+pw+"@profile"), code: 2,
			says: `input tracking-uri: "databricks://***@profile" names a Databricks CLI profile`},
		{name: "registry-uri elsewhere", inputs: in("registry-uri", "https://ci:"+pw+"@registry.example.test:badport"), code: 2,
			says: `got "https://***@registry.example.test:badport"`},
		{name: "DATABRICKS_HOST with a bad port", code: 2,
			inputs: in("registry-uri", "databricks-uc", "model-name", "main.default.fraud", "DATABRICKS_TOKEN", "dapi-not-a-real-token-0000",
				"DATABRICKS_HOST", "https://ci:"+pw+"@dbc.example.test:badport"),
			says: `(input registry-uri): failed to parse tracking URI "https://***@dbc.example.test:badport": invalid port ":badport" after host`},
		{name: "slack-webhook-url with a bad port", inputs: in("command", "validate", "policy", "none",
			"slack-webhook-url", "https://ci:"+pw+"@hooks.slack.test:badport/services/T0/B0/x"), code: 0,
			says: `failed to post to the Slack webhook`},
	}
	for _, tc := range cases {
		for _, terminal := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s terminal=%v", tc.name, terminal), func(t *testing.T) {
				t.Parallel()
				inputs := merge(promoteInputs(model, "version", "1"), tc.inputs)
				if terminal {
					inputs["GITHUB_ACTIONS"] = ""
				}
				res := runSafe(t, inputs, policyFiles())
				if all := res.stdout + res.stderr; res.code != tc.code || !strings.Contains(all, tc.says) {
					t.Errorf("exit %d (want %d), want it to say %s:\n%.3000s", res.code, tc.code, tc.says, all)
				}
				shownNowhere(t, res, pw)
			})
		}
	}
}

// shownNowhere checks that s is in no line of the log (but an ::add-mask::
// command, which the runner does not print), no output, the summary and no
// file of the workspace.
func shownNowhere(t *testing.T, res result, s string) {
	t.Helper()
	for _, line := range strings.Split(res.stdout+"\n"+res.stderr, "\n") {
		if strings.Contains(line, s) && !strings.HasPrefix(line, "::add-mask::") {
			t.Errorf("shown in the log: %q", line)
		}
	}
	if strings.Contains(fmt.Sprint(res.outputs)+res.summary, s) {
		t.Errorf("shown in the outputs or the summary: %v\n%s", res.outputs, res.summary)
	}
	err := filepath.WalkDir(res.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), s) {
			t.Errorf("shown in %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
