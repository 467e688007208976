package mlflow

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mlreg/mlreg-action/internal/registry"
)

const (
	apiPrefix        = "/api/2.0/mlflow"
	defaultUserAgent = "mlreg-action"
	// maxResponseSize bounds a response body held in memory.
	maxResponseSize = 64 << 20
	// maxErrorBody is how much of a non-2xx body is read: far more than any
	// MLflow error needs (its message is capped at maxServerMessageLen), so
	// that a huge one costs neither memory nor the time to read it.
	maxErrorBody = 64 << 10
	// bodyStart is how much of a body that did not decode is looked at for
	// the start an error quotes.
	bodyStart = 1 << 10
)

var errResponseTooLarge = fmt.Errorf("response body exceeds %d bytes", maxResponseSize)

// Options configures a Client. The zero value of every field but TrackingURI
// is usable.
type Options struct {
	// TrackingURI is http(s)://host[:port][/prefix]; a trailing "/" is
	// stripped. Credentials in the URI's user info are used for basic auth
	// when Username and Password are empty, and are never kept in BaseURL.
	TrackingURI string
	// Token is sent as "Authorization: Bearer <Token>" unless basic auth applies.
	Token string
	// Username and Password, when both are set, are sent as basic auth and
	// win over Token, as in MLflow's own client.
	Username, Password string
	// InsecureTLS disables server certificate verification.
	InsecureTLS bool
	// CACertPath is a PEM bundle of the CAs that may sign the server's
	// certificate (MLFLOW_TRACKING_SERVER_CERT_PATH). It replaces the system
	// pool. It cannot be combined with InsecureTLS.
	CACertPath string
	// ClientCertPath is one PEM file holding a client certificate and its key
	// (MLFLOW_TRACKING_CLIENT_CERT_PATH).
	ClientCertPath string
	// HTTPClient is copied, not modified. Its Transport must be nil or an
	// *http.Transport when TLS options are set (it is cloned then). When nil,
	// a client with a 120s per-attempt timeout is used.
	HTTPClient *http.Client
	// UserAgent is sent on every request; default "mlreg-action".
	UserAgent string

	// The retry schedule is MLflow's (see backoff); each field is the knob
	// of MLflow's client named beside it, with its default.

	// MaxRetries is the number of retries after the first attempt
	// (MLFLOW_HTTP_REQUEST_MAX_RETRIES): 0 means 7, a negative value none.
	MaxRetries int
	// BackoffFactor scales the pauses (MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR):
	// retry n ≥ 2 waits BackoffFactor·2^(n-1), capped at 120s; the first
	// retry does not wait. 0 means 2s, a negative value no pause.
	BackoffFactor time.Duration
	// BackoffJitter is the upper bound of the random pause added to every
	// pause but the first retry's (MLFLOW_HTTP_REQUEST_BACKOFF_JITTER): 0
	// means 1s, a negative value none.
	BackoffJitter time.Duration
	// RequestTimeout bounds one attempt: connecting, sending and reading the
	// answer (MLFLOW_HTTP_REQUEST_TIMEOUT). 0 keeps HTTPClient's Timeout, or
	// 120s without an HTTPClient.
	RequestTimeout time.Duration
	// OnRetry, when set, is told about each retry before its pause (for a
	// log line). It must not block.
	OnRetry func(Retry)
	// Sleep pauses between attempts; it must return early with ctx.Err() when
	// ctx is done. Default: a timer that honours ctx.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a value in [0, 1) for the jitter; default math/rand/v2.
	Rand func() float64
	// Now is the clock that reads a Retry-After date; default time.Now.
	Now func() time.Time
	// Workspace, when non-empty, is sent as the X-MLFLOW-WORKSPACE header.
	Workspace string
	// MaxIdleConnsPerHost, when positive, is how many idle connections to
	// the server are kept for reuse (Go's default is 2): a caller with n
	// requests in flight at once keeps about n, so that the next wave does
	// not open new connections. It needs an *http.Transport (or none).
	MaxIdleConnsPerHost int
}

// String describes o without its secrets.
func (o Options) String() string {
	return fmt.Sprintf("mlflow.Options{TrackingURI: %q, Auth: %s, Workspace: %q}",
		RedactURL(o.TrackingURI), o.authKind(), o.Workspace)
}

// LogValue describes o for slog without its secrets.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("tracking_uri", RedactURL(o.TrackingURI)),
		slog.String("auth", o.authKind()),
		slog.Bool("insecure_tls", o.InsecureTLS),
		slog.String("ca_cert_path", o.CACertPath),
		slog.String("client_cert_path", o.ClientCertPath),
		slog.String("workspace", o.Workspace),
	)
}

func (o Options) authKind() string {
	switch {
	case o.Username != "" && o.Password != "":
		return "basic"
	case o.Token != "":
		return "bearer"
	default:
		return "none"
	}
}

// Client talks to the MLflow REST API. It is safe for concurrent use.
type Client struct {
	base       string // scheme://host[:port][/prefix], no trailing slash, no user info
	basePath   string // the URL path of base, e.g. "" or "/mlflow"
	hc         *http.Client
	attempt    time.Duration // bound of one attempt, 0 for none (hc.Timeout)
	auth       string        // Authorization header value, "" for none
	secrets    []string      // credentials to cut from what the server says (see redact)
	userAgent  string
	workspace  string
	maxRetries int
	factor     time.Duration
	jitter     time.Duration
	onRetry    func(Retry)
	sleep      func(context.Context, time.Duration) error
	rand       func() float64
	now        func() time.Time
	requests   atomic.Int64
}

// New validates opts and builds a Client.
func New(opts Options) (*Client, error) {
	raw := strings.TrimRight(strings.TrimSpace(opts.TrackingURI), "/")
	shown := RedactURL(raw)
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("failed to parse tracking URI %q: %s", shown, parseProblem(shown))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("invalid tracking URI %q: scheme must be http or https", shown)
	case u.Host == "":
		return nil, fmt.Errorf("invalid tracking URI %q: missing host", shown)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("invalid tracking URI %q: must not have a query or fragment", shown)
	}
	user, pass := opts.Username, opts.Password
	if u.User != nil {
		if user == "" && pass == "" {
			user = u.User.Username()
			pass, _ = u.User.Password()
		}
		u.User = nil
	}

	hc, err := newHTTPClient(opts)
	if err != nil {
		return nil, err
	}
	// MLflow's REST API never redirects: a redirect is answered with an
	// error (see roundTrip), never followed, so that neither the
	// credentials nor the request go anywhere but the tracking URI.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c := &Client{
		base:       u.String(),
		basePath:   u.EscapedPath(),
		hc:         hc,
		attempt:    hc.Timeout,
		userAgent:  cmp.Or(opts.UserAgent, defaultUserAgent),
		workspace:  opts.Workspace,
		maxRetries: opts.MaxRetries,
		factor:     opts.BackoffFactor,
		jitter:     opts.BackoffJitter,
		onRetry:    opts.OnRetry,
		sleep:      opts.Sleep,
		rand:       opts.Rand,
		now:        opts.Now,
	}
	switch {
	case user != "" && pass != "":
		c.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	case opts.Token != "":
		c.auth = "Bearer " + opts.Token
	}
	c.secrets = credentials(c.auth, opts.Token, pass)
	if c.maxRetries == 0 {
		c.maxRetries = DefaultMaxRetries
	}
	c.maxRetries = max(c.maxRetries, 0)
	if c.factor == 0 {
		c.factor = DefaultBackoffFactor
	}
	if c.jitter == 0 {
		c.jitter = DefaultBackoffJitter
	}
	if c.sleep == nil {
		c.sleep = registry.SleepContext
	}
	if c.rand == nil {
		c.rand = rand.Float64
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// newHTTPClient copies opts.HTTPClient (or builds a default one) and applies
// the TLS options to a clone of its transport.
func newHTTPClient(opts Options) (*http.Client, error) {
	hc := &http.Client{Timeout: DefaultRequestTimeout}
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		// A pool of its own: whoever else uses http.DefaultTransport (and
		// calls its CloseIdleConnections, as httptest.Server.Close does)
		// cannot break a connection between two attempts.
		hc.Transport = dt.Clone()
	}
	if opts.HTTPClient != nil {
		cp := *opts.HTTPClient
		hc = &cp
	}
	if opts.RequestTimeout > 0 {
		hc.Timeout = opts.RequestTimeout
	}
	if opts.MaxIdleConnsPerHost > 0 {
		tr, ok := hc.Transport.(*http.Transport)
		if hc.Transport == nil {
			tr, ok = http.DefaultTransport.(*http.Transport)
		}
		if ok {
			tr = tr.Clone()
			tr.MaxIdleConnsPerHost = opts.MaxIdleConnsPerHost
			hc.Transport = tr
		}
	}
	if opts.InsecureTLS && opts.CACertPath != "" {
		return nil, errors.New("insecure TLS and a CA certificate path cannot be used together " +
			"(MLFLOW_TRACKING_INSECURE_TLS and MLFLOW_TRACKING_SERVER_CERT_PATH)")
	}
	if !opts.InsecureTLS && opts.CACertPath == "" && opts.ClientCertPath == "" {
		return hc, nil
	}

	var base *http.Transport
	switch t := hc.Transport.(type) {
	case nil:
		dt, ok := http.DefaultTransport.(*http.Transport)
		if !ok {
			return nil, fmt.Errorf("TLS options need an *http.Transport, http.DefaultTransport is %T", http.DefaultTransport)
		}
		base = dt
	case *http.Transport:
		base = t
	default:
		return nil, fmt.Errorf("TLS options need an *http.Transport, the HTTP client has %T", t)
	}
	tr := base.Clone()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if tr.TLSClientConfig != nil {
		cfg = tr.TLSClientConfig.Clone()
	}
	if opts.InsecureTLS {
		cfg.InsecureSkipVerify = true //nolint:gosec // The user asked for it (MLFLOW_TRACKING_INSECURE_TLS).
	}
	if opts.CACertPath != "" {
		pem, err := os.ReadFile(opts.CACertPath)
		if err != nil {
			return nil, fmt.Errorf("failed to load CA certificate %q: %w", opts.CACertPath, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("failed to load CA certificate %q: no PEM certificate found", opts.CACertPath)
		}
		cfg.RootCAs = pool
	}
	if opts.ClientCertPath != "" {
		pem, err := os.ReadFile(opts.ClientCertPath)
		if err != nil {
			return nil, fmt.Errorf("failed to load client certificate %q: %w", opts.ClientCertPath, err)
		}
		cert, err := tls.X509KeyPair(pem, pem)
		if err != nil {
			return nil, fmt.Errorf("failed to load client certificate %q: %w", opts.ClientCertPath, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	tr.TLSClientConfig = cfg
	hc.Transport = tr
	return hc, nil
}

// BaseURL returns the tracking URI without trailing slash or credentials.
func (c *Client) BaseURL() string { return c.base }

// Requests returns how many HTTP requests the client has sent, retries included.
func (c *Client) Requests() int64 { return c.requests.Load() }

// String describes c without its credentials.
func (c *Client) String() string { return "mlflow.Client(" + c.base + ")" }

// call is one API operation.
type call struct {
	method string
	path   string     // below /api/2.0/mlflow, e.g. "/model-versions/get"
	query  url.Values // GET only
	body   any        // JSON body for other methods; nil for none
	out    any        // decoded from a 2xx body when non-nil
	policy retryPolicy
}

// get performs a read with query parameters.
func (c *Client) get(ctx context.Context, path string, query url.Values, out any) error {
	return c.do(ctx, call{method: http.MethodGet, path: path, query: query, out: out, policy: retryRead})
}

// send performs a write whose repetition is harmless.
func (c *Client) send(ctx context.Context, method, path string, body, out any) error {
	return c.do(ctx, call{method: method, path: path, body: body, out: out, policy: retryWrite})
}

// response is a read HTTP response: the whole body of a 2xx answer, the
// first maxErrorBody bytes of any other.
type response struct {
	status int
	header http.Header
	body   []byte
	cut    bool // body is the start of a longer one
}

// do runs cl with retries (see the package documentation).
func (c *Client) do(ctx context.Context, cl call) error {
	path := c.basePath + apiPrefix + cl.path
	target := c.base + apiPrefix + cl.path
	if len(cl.query) > 0 {
		target += "?" + cl.query.Encode()
	}
	var payload []byte
	if cl.body != nil {
		var err error
		if payload, err = json.Marshal(cl.body); err != nil {
			return fmt.Errorf("failed to encode request for %s %s: %w", cl.method, path, err)
		}
	}

	for attempt := 1; ; attempt++ {
		res, sent, err := c.roundTrip(ctx, cl.method, target, path, payload)
		var (
			retry         bool
			hasRetryAfter bool
			wait          time.Duration
		)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return stopped(ctx, attempt, err)
			}
			retry = retryableTransport(cl.policy, err, sent)
		case res.status >= 200 && res.status < 300:
			return c.decode(cl, path, res.body)
		default:
			// Redacted before newError cuts the message short, which could
			// leave the start of a credential that no longer matches.
			now := c.now()
			apiErr := newError(cl.method, path, res.status, res.header, c.redactText(res.body, res.cut), res.cut, now)
			_, hasRetryAfter = parseRetryAfter(res.header.Get("Retry-After"), now)
			retry = retryableStatus(cl.policy, res.status, hasRetryAfter)
			wait = apiErr.RetryAfter
			err = apiErr
		}
		if !retry {
			return err
		}
		if attempt > c.maxRetries {
			return gaveUp(attempt, err)
		}
		if wait <= 0 {
			wait = backoff(c.factor, c.jitter, attempt, c.rand)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
			return &StopError{Attempts: attempt, Deadline: deadlineName(ctx), NextRetry: wait,
				Cause: context.DeadlineExceeded, Err: err}
		}
		if c.onRetry != nil {
			r := Retry{Method: cl.method, Path: path, Attempt: attempt, MaxAttempts: c.maxRetries + 1, Wait: wait, Err: err}
			if attempt == 1 {
				r.Budget, r.Deadline = c.budget(ctx, attempt, wait)
			}
			c.onRetry(r)
		}
		if serr := c.sleep(ctx, wait); serr != nil {
			return stopped(ctx, attempt, err)
		}
	}
}

// gaveUp adds the attempt count to the final error of a retried call.
func gaveUp(attempt int, err error) error {
	if attempt == 1 {
		return err
	}
	return fmt.Errorf("gave up after %s: %w", attempts(attempt), err)
}

// roundTrip sends one request and reads the whole response. sent reports
// whether the request headers were written, i.e. whether the server may have
// seen the request.
func (c *Client) roundTrip(ctx context.Context, method, target, path string, payload []byte) (_ *response, sent bool, _ error) {
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
	})
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, false, fmt.Errorf("failed to build request %s %s: %w", method, path, err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	if c.workspace != "" {
		req.Header.Set("X-MLFLOW-WORKSPACE", c.workspace)
	}

	c.requests.Add(1)
	res, err := c.hc.Do(req)
	if err != nil {
		// *url.Error repeats the whole URL, query included; the path says
		// which call it was.
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		if hint := tlsHint(err, c.base); hint != "" {
			err = fmt.Errorf("%w (%s)", err, hint)
		}
		return nil, wrote.Load(), &requestError{Method: method, Path: path, Err: err}
	}
	defer res.Body.Close()
	out := &response{status: res.StatusCode, header: res.Header}
	switch {
	case res.StatusCode >= 300 && res.StatusCode < 400:
		return nil, true, c.redirectError(method, path, res)
	case res.StatusCode >= 200 && res.StatusCode < 300:
		out.body, err = readBody(res.Body, res.ContentLength)
	default:
		// Only the start: the rest is not read (the connection is closed
		// rather than drained).
		out.body, err = io.ReadAll(io.LimitReader(res.Body, maxErrorBody+1))
		if len(out.body) > maxErrorBody {
			out.body, out.cut = out.body[:maxErrorBody], true
		}
	}
	if err != nil {
		return nil, true, fmt.Errorf("failed to read response of %s %s: %w", method, path, err)
	}
	return out, true, nil
}

// redirectError describes a 3xx answer to a request for path (see
// RedirectError).
func (c *Client) redirectError(method, path string, res *http.Response) error {
	e := &RedirectError{Method: method, Path: path, StatusCode: res.StatusCode}
	raw := res.Header.Get("Location")
	if raw == "" {
		return e
	}
	loc, err := res.Location() // resolved against the request's URL
	if err == nil {
		raw = loc.String()
	}
	e.Location = truncate(RedactURL(c.redact(raw)), maxMessageLen)
	req := res.Request.URL
	if err == nil && req.Scheme == "http" && loc.Scheme == "https" && loc.Hostname() == req.Hostname() &&
		loc.User == nil && loc.EscapedPath() == req.EscapedPath() {
		e.Upgrade = "https://" + loc.Host + c.basePath
	}
	return e
}

// parseProblem says what url.Parse finds wrong with shown, a URL that failed
// to parse and was then redacted, without repeating the URL (url.Parse's
// error does, whole): the problem of the redacted URL, or, when that one
// parses, of the hidden user info.
func parseProblem(shown string) string {
	_, err := url.Parse(shown)
	var urlErr *url.Error
	switch {
	case err == nil:
		return "the user info (user:password@) does not parse; percent-encode its special characters"
	case errors.As(err, &urlErr):
		return urlErr.Err.Error()
	default:
		return err.Error()
	}
}

// readBody reads a 2xx body of at most maxResponseSize bytes into one buffer
// of its size: the announced length (Content-Length), or, when the server
// announced none (a compressing proxy), chunks that grow as they fill,
// joined once at the end. An announced body so costs its size once, another
// about twice (the chunks, then the buffer); io.ReadAll's growing buffer
// allocates about 2.5 times it.
func readBody(r io.Reader, length int64) ([]byte, error) {
	if length > maxResponseSize {
		return nil, errResponseTooLarge
	}
	if length >= 0 {
		buf := make([]byte, length)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err //nolint:wrapcheck // Wrapped once by roundTrip.
		}
		return buf, nil
	}
	var (
		chunks [][]byte
		total  int
		size   = 4 << 10
	)
	for done := false; !done; size = min(2*size, 4<<20) {
		chunk := make([]byte, size)
		n := 0
		for n < len(chunk) && !done {
			m, err := r.Read(chunk[n:])
			n += m
			switch {
			case errors.Is(err, io.EOF):
				done = true
			case err != nil:
				return nil, err //nolint:wrapcheck // Wrapped once by roundTrip.
			}
		}
		chunks, total = append(chunks, chunk[:n]), total+n
		if total > maxResponseSize {
			return nil, errResponseTooLarge
		}
	}
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	return bytes.Join(chunks, nil), nil
}

// decode unmarshals a 2xx body into cl.out.
func (c *Client) decode(cl call, path string, body []byte) error {
	if cl.out == nil {
		return nil
	}
	if i := invalidUTF8(body); i >= 0 {
		return fmt.Errorf("failed to decode response of %s %s: the body is not valid UTF-8 (byte %d of %d)",
			cl.method, path, i, len(body))
	}
	if err := json.Unmarshal(body, cl.out); err != nil {
		start := body[:min(len(body), bodyStart)]
		return fmt.Errorf("failed to decode response of %s %s (body starts %q): %w",
			cl.method, path, truncate(string(c.redactText(start, len(start) < len(body))), 80), err)
	}
	if v, ok := cl.out.(validator); ok {
		if err := v.validate(); err != nil {
			return fmt.Errorf("invalid response of %s %s: %w", cl.method, path, err)
		}
	}
	return nil
}
