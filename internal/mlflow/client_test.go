package mlflow

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewValidation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	cases := []struct {
		name    string
		opts    Options
		wantErr string
		wantURL string
	}{
		{name: "trailing slashes stripped", opts: Options{TrackingURI: "http://mlflow:5000//"}, wantURL: "http://mlflow:5000"},
		{name: "prefix kept", opts: Options{TrackingURI: "https://example.com/ml/flow/"}, wantURL: "https://example.com/ml/flow"},
		{name: "user info dropped from BaseURL", opts: Options{TrackingURI: "https://u:s3cret@example.com"}, wantURL: "https://example.com"},
		{name: "empty", opts: Options{}, wantErr: "scheme must be http or https"},
		{name: "databricks is the caller's job", opts: Options{TrackingURI: "databricks"}, wantErr: "scheme must be http or https"},
		{name: "file store", opts: Options{TrackingURI: "file:///tmp/mlruns"}, wantErr: "scheme must be http or https"},
		{name: "no host", opts: Options{TrackingURI: "http://"}, wantErr: "missing host"},
		{name: "query", opts: Options{TrackingURI: "http://h/?x=1"}, wantErr: "must not have a query"},
		{
			name:    "insecure and CA together",
			opts:    Options{TrackingURI: "https://h", InsecureTLS: true, CACertPath: notPEM},
			wantErr: "insecure TLS and a CA certificate path cannot be used together",
		},
		{
			name:    "CA file missing",
			opts:    Options{TrackingURI: "https://h", CACertPath: missing},
			wantErr: fmt.Sprintf("failed to load CA certificate %q: open", missing),
		},
		{
			name:    "CA file not PEM",
			opts:    Options{TrackingURI: "https://h", CACertPath: notPEM},
			wantErr: fmt.Sprintf("failed to load CA certificate %q: no PEM certificate found", notPEM),
		},
		{
			name:    "client cert missing",
			opts:    Options{TrackingURI: "https://h", ClientCertPath: missing},
			wantErr: fmt.Sprintf("failed to load client certificate %q", missing),
		},
		{
			name:    "client cert without key",
			opts:    Options{TrackingURI: "https://h", ClientCertPath: notPEM},
			wantErr: fmt.Sprintf("failed to load client certificate %q", notPEM),
		},
		{
			name: "TLS options need an *http.Transport",
			opts: Options{
				TrackingURI: "https://h", InsecureTLS: true,
				HTTPClient: &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("x") })},
			},
			wantErr: "TLS options need an *http.Transport",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New() error = %v, want it to contain %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error %q leaks the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(): %v", err)
			}
			if got := c.BaseURL(); got != tc.wantURL {
				t.Errorf("BaseURL() = %q, want %q", got, tc.wantURL)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestAuthHeader(t *testing.T) {
	t.Parallel()
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	cases := []struct {
		name     string
		userInfo string
		opts     Options
		want     string
	}{
		{name: "none", want: ""},
		{name: "bearer", opts: Options{Token: "tok"}, want: "Bearer tok"},
		{name: "basic", opts: Options{Username: "alice", Password: "pw"}, want: basic("alice", "pw")},
		{name: "basic wins over token", opts: Options{Username: "alice", Password: "pw", Token: "tok"}, want: basic("alice", "pw")},
		{name: "username alone falls back to token", opts: Options{Username: "alice", Token: "tok"}, want: "Bearer tok"},
		{name: "user info in URI", userInfo: "bob:s3cret@", want: basic("bob", "s3cret")},
		{name: "explicit credentials win over user info", userInfo: "bob:s3cret@", opts: Options{Username: "alice", Password: "pw"}, want: basic("alice", "pw")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var (
				mu  sync.Mutex
				got []string
			)
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got = append(got, r.Header.Get("Authorization"))
				mu.Unlock()
				writeJSON(w, http.StatusOK, `{}`)
			})
			uri := strings.Replace(srv.URL, "http://", "http://"+tc.userInfo, 1)
			c, _ := newTestClient(t, uri, func(o *Options) {
				o.Token, o.Username, o.Password = tc.opts.Token, tc.opts.Username, tc.opts.Password
			})
			if err := c.SetAlias(t.Context(), "m", "a", "1"); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("Authorization = %q, want [%q]", got, tc.want)
			}
		})
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	t.Parallel()
	const token, password = "tok-Zq81", "pw-Xy93"
	secrets := []string{token, password, base64.StdEncoding.EncodeToString([]byte("alice:" + password))}
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="mlflow"`)
		http.Error(w, "You are not authenticated.", http.StatusUnauthorized)
	})
	cases := []struct {
		name string
		opts Options
	}{
		{name: "401 with bearer", opts: Options{TrackingURI: srv.URL, Token: token}},
		{name: "401 with basic", opts: Options{TrackingURI: srv.URL, Username: "alice", Password: password}},
		{name: "dial error with user info", opts: Options{TrackingURI: "http://alice:" + password + "@" + closedAddr(t), MaxRetries: -1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			err = c.SetAlias(t.Context(), "m", "a", "1")
			if err == nil {
				t.Fatal("want an error")
			}
			shown := []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprint(tc.opts), fmt.Sprint(c), c.BaseURL()}
			var logged bytes.Buffer
			slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "opts", tc.opts)
			shown = append(shown, logged.String())
			for _, s := range shown {
				for _, secret := range secrets {
					if strings.Contains(s, secret) {
						t.Errorf("%q contains a secret", s)
					}
				}
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		userAgent     string
		workspace     string
		wantUA        string
		wantWorkspace []string
	}{
		{name: "defaults", wantUA: "mlreg-action"},
		{name: "custom user agent and workspace", userAgent: "mlreg-action/1.2.3", workspace: "team-a", wantUA: "mlreg-action/1.2.3", wantWorkspace: []string{"team-a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			type seen struct {
				ua        string
				workspace []string
				accept    string
			}
			var (
				mu  sync.Mutex
				got []seen
			)
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got = append(got, seen{r.UserAgent(), r.Header.Values("X-Mlflow-Workspace"), r.Header.Get("Accept")})
				mu.Unlock()
				writeJSON(w, http.StatusOK, `{"model_version": {"name": "m", "version": "1"}}`)
			})
			c, _ := newTestClient(t, srv.URL, func(o *Options) { o.UserAgent, o.Workspace = tc.userAgent, tc.workspace })
			ctx := t.Context()
			if _, err := c.GetModelVersion(ctx, "m", "1"); err != nil {
				t.Fatal(err)
			}
			if err := c.DeleteAlias(ctx, "m", "a"); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 2 {
				t.Fatalf("server saw %d requests, want 2", len(got))
			}
			for _, s := range got {
				if s.ua != tc.wantUA {
					t.Errorf("User-Agent = %q, want %q", s.ua, tc.wantUA)
				}
				if fmt.Sprint(s.workspace) != fmt.Sprint(tc.wantWorkspace) {
					t.Errorf("X-MLFLOW-WORKSPACE = %q, want %q", s.workspace, tc.wantWorkspace)
				}
				if s.accept != "application/json" {
					t.Errorf("Accept = %q, want application/json", s.accept)
				}
			}
		})
	}
}

// writePEM writes blocks to a new file in dir.
func writePEM(t *testing.T, dir, name string, blocks ...*pem.Block) string {
	t.Helper()
	var buf bytes.Buffer
	for _, b := range blocks {
		if err := pem.Encode(&buf, b); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// clientCertPEM writes a self-signed client certificate and its key into one PEM file.
func clientCertPEM(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mlreg-test-client"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, "client.pem",
		&pem.Block{Type: "CERTIFICATE", Bytes: der},
		&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

func TestTLS(t *testing.T) {
	t.Parallel()
	ok := func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, `{"model_version": {"name": "m", "version": "1"}}`)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(ok))
	t.Cleanup(srv.Close)

	var (
		mu        sync.Mutex
		clientCNs []string
	)
	mtls := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		for _, c := range r.TLS.PeerCertificates {
			clientCNs = append(clientCNs, c.Subject.CommonName)
		}
		mu.Unlock()
		ok(w, r)
	}))
	mtls.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS12}
	mtls.StartTLS()
	t.Cleanup(mtls.Close)

	dir := t.TempDir()
	caPath := writePEM(t, dir, "ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	mtlsCA := writePEM(t, dir, "mtls-ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: mtls.Certificate().Raw})
	clientPath := clientCertPEM(t, dir)

	cases := []struct {
		name         string
		opts         Options
		wantErr      bool
		wantRequests int64
	}{
		{name: "CA file", opts: Options{TrackingURI: srv.URL, CACertPath: caPath}, wantRequests: 1},
		{name: "insecure", opts: Options{TrackingURI: srv.URL, InsecureTLS: true}, wantRequests: 1},
		{name: "unknown CA fails without retry", opts: Options{TrackingURI: srv.URL}, wantErr: true, wantRequests: 1},
		{
			name:         "insecure on a caller's client leaves it alone",
			opts:         Options{TrackingURI: srv.URL, InsecureTLS: true, HTTPClient: &http.Client{Transport: &http.Transport{}}},
			wantRequests: 1,
		},
		{name: "client certificate", opts: Options{TrackingURI: mtls.URL, CACertPath: mtlsCA, ClientCertPath: clientPath}, wantRequests: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &sleeper{}
			tc.opts.Sleep = s.sleep
			c, err := New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.GetModelVersion(t.Context(), "m", "1")
			if (err != nil) != tc.wantErr {
				t.Fatalf("GetModelVersion() error = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				var verr *tls.CertificateVerificationError
				if !errors.As(err, &verr) {
					t.Errorf("error = %v, want a certificate verification error", err)
				}
			}
			if got := c.Requests(); got != tc.wantRequests {
				t.Errorf("Requests() = %d, want %d", got, tc.wantRequests)
			}
			if hc := tc.opts.HTTPClient; hc != nil {
				// Clone itself fills in HTTP/2 defaults, but must not carry our settings back.
				if tr := hc.Transport.(*http.Transport); tr.TLSClientConfig != nil && tr.TLSClientConfig.InsecureSkipVerify {
					t.Error("New made the caller's transport skip verification")
				}
			}
		})
	}
	// Subtests run in parallel after this function returns, so check the
	// client certificate in a cleanup that runs after them.
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if len(clientCNs) != 1 || clientCNs[0] != "mlreg-test-client" {
			t.Errorf("mTLS server saw client certificates %q, want [mlreg-test-client]", clientCNs)
		}
	})
}
