// Package faultproxy is a fault-injecting HTTP reverse proxy for tests. It
// listens on the loopback interface, forwards every request to one upstream
// server (a real MLflow server, a GitHub or Slack fake), records what it saw,
// and breaks the requests its rules match:
//
//	p := faultproxy.New(t, srv.URL)
//	p.Add(faultproxy.Rule{
//		Method: "POST", Path: "/registered-models/alias", // the 1st POST .../registered-models/alias
//		Fault:  faultproxy.ResetMidResponse(),
//	})
//	// point the client at p.URL, run it, then:
//	p.Count("POST", "/registered-models/alias") // how many times it was sent
//
// The faults are what clients meet in production: a burst of 503s, a 429
// with Retry-After, a connection reset in the middle of the answer (after
// the upstream acted on the request), a body shorter than its
// Content-Length, an answer that stalls, and an outage during which every
// connection is refused.
//
// Tests act on events, not on durations, so that a loaded machine cannot
// change what they see: Down(0) and Stall(0) last until the test ends them
// (Up, Clear, or the client giving up), Hold keeps requests waiting until
// Release, WaitFaulted says when a fault has taken effect and WaitIdle when
// the upstream has answered every forwarded request.
package faultproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Kind names a fault.
type Kind string

// Fault kinds.
const (
	// KindStatus answers with a status code without forwarding the request:
	// the upstream never sees it.
	KindStatus Kind = "status"
	// KindReset forwards the request (the upstream acts on it), then writes
	// part of the answer's header and resets the connection (RST).
	KindReset Kind = "reset"
	// KindTruncate forwards the request, then writes the answer's header with
	// its real Content-Length, half of the body, and closes the connection.
	KindTruncate Kind = "truncate"
	// KindStall forwards the request, then holds the answer for Duration (or
	// until the client gives up) before writing it. A Duration of 0 holds it
	// until the client gives up.
	KindStall Kind = "stall"
	// KindDown takes the proxy down for Duration from the matching request:
	// that request's connection is reset without forwarding, every open
	// connection is reset, and new connections are refused (the listening
	// socket is closed) until the outage ends. A Duration of 0 keeps the
	// proxy down until Up or Clear: the test, not a clock, ends the outage.
	KindDown Kind = "down"
	// KindCall runs Func, then forwards the request. Use it to act on the
	// world at an exact point of a client's conversation (e.g. kill the
	// upstream server process).
	KindCall Kind = "call"
)

// Fault is what happens to a matching request. Build one with Status,
// TooManyRequests, ResetMidResponse, Truncate, Stall, Down or Call.
type Fault struct {
	Kind       Kind
	Status     int           // KindStatus
	RetryAfter string        // KindStatus: the Retry-After header, when set
	Body       string        // KindStatus: a JSON body (a server's error), instead of a line naming the fault
	Duration   time.Duration // KindStall, KindDown
	Func       func()        // KindCall
}

// String describes f for logs and test names, e.g. "503", "429 Retry-After: 1", "stall 3s".
func (f Fault) String() string {
	switch f.Kind {
	case KindStatus:
		if f.RetryAfter != "" {
			return fmt.Sprintf("%d Retry-After: %s", f.Status, f.RetryAfter)
		}
		return strconv.Itoa(f.Status)
	case KindStall, KindDown:
		if f.Duration <= 0 {
			return string(f.Kind)
		}
		return fmt.Sprintf("%s %s", f.Kind, f.Duration)
	}
	return string(f.Kind)
}

// Status answers code without forwarding.
func Status(code int) Fault { return Fault{Kind: KindStatus, Status: code} }

// StatusRetryAfter answers code with Retry-After: seconds, without forwarding.
func StatusRetryAfter(code, seconds int) Fault {
	return Fault{Kind: KindStatus, Status: code, RetryAfter: strconv.Itoa(seconds)}
}

// StatusBody answers code with body, a JSON document such as MLflow's
// {"error_code": ..., "message": ...}, without forwarding.
func StatusBody(code int, body string) Fault {
	return Fault{Kind: KindStatus, Status: code, Body: body}
}

// TooManyRequests answers 429 with Retry-After: seconds, without forwarding.
func TooManyRequests(seconds int) Fault { return StatusRetryAfter(http.StatusTooManyRequests, seconds) }

// ResetMidResponse forwards, then resets the connection half-way through the answer's header.
func ResetMidResponse() Fault { return Fault{Kind: KindReset} }

// Truncate forwards, then sends half of the body under the full Content-Length and closes.
func Truncate() Fault { return Fault{Kind: KindTruncate} }

// Stall forwards, then holds the answer for d; d = 0 holds it until the
// client gives up.
func Stall(d time.Duration) Fault { return Fault{Kind: KindStall, Duration: d} }

// Down refuses every connection for d, starting with the matching request;
// d = 0 refuses them until (*Proxy).Up or Clear.
func Down(d time.Duration) Fault { return Fault{Kind: KindDown, Duration: d} }

// Call runs fn, then forwards the request.
func Call(fn func()) Fault { return Fault{Kind: KindCall, Func: fn} }

// Rule says which requests a fault hits. Requests are counted per rule, in
// the order the proxy receives them: the fault hits the matching requests
// number Nth to Nth+Times-1. A retry is a new request, so "the 1st POST
// .../alias, 3 times" is a burst that the first two retries also meet.
type Rule struct {
	// Method is the HTTP method; "" matches any.
	Method string
	// Path matches the end of the request's URL path, e.g.
	// "/registered-models/alias". A final "*" matches one last path segment:
	// "/logged-models/*". "" matches any path.
	Path string
	// Contains, when set, must occur in the request's query string or body
	// (e.g. a tag key).
	Contains string
	// Nth is the first matching request hit (1-based; 0 means 1).
	Nth int
	// Times is how many consecutive matching requests are hit (0 means 1; a
	// negative value means every one from Nth on).
	Times int
	Fault Fault
}

func (r Rule) String() string {
	s := strings.TrimSpace(r.Method + " " + r.Path)
	if r.Contains != "" {
		s += fmt.Sprintf(" containing %q", r.Contains)
	}
	if n := max(r.Nth, 1); n > 1 {
		s += fmt.Sprintf(" (#%d)", n)
	}
	return s + ": " + r.Fault.String()
}

func (r Rule) matches(method, path string, query, body []byte) bool {
	if r.Method != "" && !strings.EqualFold(r.Method, method) {
		return false
	}
	if !PathMatches(r.Path, path) {
		return false
	}
	return r.Contains == "" || bytes.Contains(query, []byte(r.Contains)) || bytes.Contains(body, []byte(r.Contains))
}

// PathMatches reports whether path ends with pattern (see Rule.Path).
func PathMatches(pattern, path string) bool {
	if pattern == "" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		i := strings.LastIndex(path, "/")
		return i >= 0 && path[i+1:] != "" && strings.HasSuffix(path[:i+1], prefix)
	}
	return strings.HasSuffix(path, pattern)
}

// Request is one request the proxy received.
type Request struct {
	Seq    int           // 1-based, in arrival order
	At     time.Duration // since the proxy started
	Method string
	Path   string
	Query  string
	Body   string
	// Fault is the fault injected, "" when the request was forwarded untouched.
	Fault string
	// Upstream is the upstream's status code, 0 when the request was not
	// forwarded or the upstream could not be reached.
	Upstream int
}

func (r Request) String() string {
	s := fmt.Sprintf("#%d %6s %s %s", r.Seq, r.At.Round(time.Millisecond), r.Method, r.Path)
	if r.Fault != "" {
		s += " [" + r.Fault + "]"
	}
	if r.Upstream != 0 {
		s += " → " + strconv.Itoa(r.Upstream)
	}
	return s
}

// Proxy is a running fault-injecting proxy. It is safe for concurrent use.
type Proxy struct {
	// URL is http://127.0.0.1:PORT, the address clients use instead of the upstream's.
	URL string

	t         testing.TB
	upstream  *url.URL
	transport *http.Transport
	srv       *http.Server
	addr      string
	began     time.Time

	mu       sync.Mutex
	rules    []*ruleState
	log      []Request
	ln       net.Listener
	conns    map[net.Conn]struct{}
	down     bool
	upCh     chan struct{} // closed when the current outage ends
	upTimer  *time.Timer
	portHold func()        // frees the port held during an outage (see reserve)
	held     chan struct{} // non-nil while Hold is in effect; closed by Release
	faulted  int           // faults that have taken effect (see WaitFaulted)
	inflight int           // requests being handled (see WaitIdle)
	changed  chan struct{} // closed and replaced when faulted or inflight changes
	closed   bool
	failures []error // problems of the proxy itself, reported at cleanup
}

type ruleState struct {
	Rule
	seen int
}

// New starts a proxy in front of upstream (scheme://host:port; a path is
// ignored: request paths pass through unchanged) and stops it when the test ends.
func New(t testing.TB, upstream string) *Proxy {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil || u.Scheme == "" || u.Host == "" {
		t.Fatalf("faultproxy: failed to parse upstream URL %q: %v", upstream, err)
	}
	ln, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("faultproxy: failed to listen: %v", err)
	}
	p := &Proxy{
		URL:      "http://" + ln.Addr().String(),
		t:        t,
		upstream: &url.URL{Scheme: u.Scheme, Host: u.Host},
		transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     30 * time.Second,
		},
		addr:    ln.Addr().String(),
		began:   time.Now(),
		ln:      ln,
		conns:   map[net.Conn]struct{}{},
		changed: make(chan struct{}),
	}
	p.srv = &http.Server{
		Handler:           http.HandlerFunc(p.serve),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState:         p.track,
	}
	go p.srv.Serve(ln) //nolint:errcheck // Serve returns when the listener closes (Down, Close).
	t.Cleanup(p.close)
	return p
}

// Add installs rules; they apply from the next request on.
func (p *Proxy) Add(rules ...Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range rules {
		p.rules = append(p.rules, &ruleState{Rule: r})
	}
}

// Clear removes every rule, ends an outage and releases held requests: from
// now on every request is forwarded untouched. The log is kept.
func (p *Proxy) Clear() {
	p.mu.Lock()
	p.rules = nil
	p.mu.Unlock()
	p.Release()
	p.up()
}

// Down starts an outage (as a Down(0) fault does) that lasts until Up or
// Clear. It may be called from a Call fault's Func.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.down {
		p.goDown(0)
	}
}

// Up ends an outage: the proxy listens again on the same address.
func (p *Proxy) Up() { p.up() }

// Hold makes requests that arrive from now on wait, before they are
// forwarded, until Release (or until their client gives up): to a client,
// a server that is starting. It may be called from a Call fault's Func; the
// request that ran the Func is not held.
func (p *Proxy) Hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held == nil {
		p.held = make(chan struct{})
	}
}

// Release forwards the held requests and ends Hold.
func (p *Proxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held != nil {
		close(p.held)
		p.held = nil
	}
}

// WaitFaulted waits until n faults have taken effect: a status answered, an
// outage begun, a reset or truncated answer written, a stall begun (the
// upstream has answered and the proxy holds the answer), a Call's Func
// returned. Tests act on that event (end a run's deadline, restart a
// server) instead of guessing how long it takes to come.
func (p *Proxy) WaitFaulted(ctx context.Context, n int) error {
	return p.wait(ctx, func() bool { return p.faulted >= n }, "a fault to take effect")
}

// WaitIdle waits until no request is being handled: every forwarded request
// has had its upstream answer, so the upstream's state is final.
func (p *Proxy) WaitIdle(ctx context.Context) error {
	return p.wait(ctx, func() bool { return p.inflight == 0 }, "the requests in flight")
}

func (p *Proxy) wait(ctx context.Context, done func() bool, what string) error {
	for {
		p.mu.Lock()
		ok, ch := done(), p.changed
		p.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("failed to wait for %s: %w", what, ctx.Err())
		}
	}
}

// notify wakes the waiters. p.mu is held.
func (p *Proxy) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// effect records that a fault took effect.
func (p *Proxy) effect() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faulted++
	p.notify()
}

// Requests returns every request received so far, in arrival order.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.log...)
}

// Count returns how many requests with method ("" = any) and a path matching
// path (as Rule.Path) the proxy received, faulted or not.
func (p *Proxy) Count(method, path string) int {
	n := 0
	for _, r := range p.Requests() {
		if (method == "" || strings.EqualFold(method, r.Method)) && PathMatches(path, r.Path) {
			n++
		}
	}
	return n
}

// Hits returns how many requests a fault was injected into.
func (p *Proxy) Hits() int {
	n := 0
	for _, r := range p.Requests() {
		if r.Fault != "" {
			n++
		}
	}
	return n
}

// Rebase replaces the scheme and host of u (an upstream URL, possibly with a
// path such as a fake's API prefix) with the proxy's.
func (p *Proxy) Rebase(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		p.t.Fatalf("faultproxy: failed to parse URL %q: %v", u, err)
	}
	parsed.Scheme, parsed.Host = "http", p.addr
	return parsed.String()
}

func (p *Proxy) track(c net.Conn, state http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch state {
	case http.StateNew:
		if p.down {
			// Accepted just before the listener closed: refuse it like the rest.
			reset(c)
			return
		}
		p.conns[c] = struct{}{}
	case http.StateHijacked, http.StateClosed:
		delete(p.conns, c)
	}
}

// serve handles one request: record it, find the rule that hits it, act.
func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.inflight++
	p.notify()
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inflight--
		p.notify()
		p.mu.Unlock()
	}()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		hijackReset(w)
		return
	}
	p.mu.Lock()
	rec := Request{
		Seq:    len(p.log) + 1,
		At:     time.Since(p.began),
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  r.URL.RawQuery,
		Body:   string(body),
	}
	var fault *Fault
	if p.down {
		fault = &Fault{Kind: KindDown}
	}
	for _, rs := range p.rules {
		if !rs.matches(r.Method, r.URL.Path, []byte(r.URL.RawQuery), body) {
			continue
		}
		rs.seen++
		first := max(rs.Nth, 1)
		hit := rs.seen >= first && (rs.Times < 0 || rs.seen < first+max(rs.Times, 1))
		if hit && fault == nil {
			f := rs.Fault
			fault = &f
		}
	}
	if fault != nil {
		rec.Fault = fault.String()
		if fault.Kind == KindDown && !p.down {
			p.goDown(fault.Duration)
			p.faulted++
			p.notify()
		}
	}
	idx := len(p.log)
	p.log = append(p.log, rec)
	held := p.held // as it was when the request came: a Call's Hold does not hold its own request
	p.mu.Unlock()

	setUpstream := func(code int) {
		p.mu.Lock()
		p.log[idx].Upstream = code
		p.mu.Unlock()
	}

	if fault != nil {
		switch fault.Kind {
		case KindDown:
			hijackReset(w)
			return
		case KindStatus:
			if fault.RetryAfter != "" {
				w.Header().Set("Retry-After", fault.RetryAfter)
			}
			if fault.Body != "" {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(fault.Status)
				_, _ = io.WriteString(w, fault.Body)
			} else {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.WriteHeader(fault.Status)
				fmt.Fprintf(w, "%d %s (injected by faultproxy)\n", fault.Status, http.StatusText(fault.Status))
			}
			_ = http.NewResponseController(w).Flush()
			p.effect()
			return
		case KindCall:
			fault.Func()
			p.effect()
		}
	}
	if held != nil {
		select {
		case <-held:
		case <-r.Context().Done():
			return
		}
	}

	res, err := p.forward(r, body)
	if err != nil {
		// The upstream is gone (killed, restarting): the client sees what it
		// would see talking to a dead server directly, a broken connection.
		hijackReset(w)
		return
	}
	setUpstream(res.status)

	if fault != nil {
		switch fault.Kind {
		case KindReset:
			hijackWrite(w, partialHeader(res), true)
			p.effect()
			return
		case KindTruncate:
			hijackWrite(w, append(fullHeader(res), res.body[:len(res.body)/2]...), false)
			p.effect()
			return
		case KindStall:
			var until <-chan time.Time // nil: until the client gives up
			if fault.Duration > 0 {
				t := time.NewTimer(fault.Duration)
				defer t.Stop()
				until = t.C
			}
			p.effect()
			select {
			case <-until:
			case <-r.Context().Done():
				return
			}
		}
	}
	for k, vs := range res.header {
		if !hopByHop(k) {
			w.Header()[k] = vs
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(res.body)))
	w.WriteHeader(res.status)
	_, _ = w.Write(res.body)
}

type upstreamResponse struct {
	status int
	header http.Header
	body   []byte
}

func (p *Proxy) forward(r *http.Request, body []byte) (*upstreamResponse, error) {
	target := *p.upstream
	target.Path, target.RawPath, target.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
	// Not the client's context: a client that gives up half-way does not
	// stop a request the upstream is already executing, as on a real network.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := http.NewRequestWithContext(ctx, r.Method, target.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("failed to build upstream request: %w", err)
	}
	for k, vs := range r.Header {
		if !hopByHop(k) {
			out.Header[k] = vs
		}
	}
	res, err := p.transport.RoundTrip(out)
	if err != nil {
		return nil, fmt.Errorf("failed to reach upstream: %w", err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("failed to read upstream answer: %w", err)
	}
	return &upstreamResponse{status: res.StatusCode, header: res.Header, body: data}, nil
}

// goDown starts an outage of d. p.mu is held.
func (p *Proxy) goDown(d time.Duration) {
	p.down = true
	p.upCh = make(chan struct{})
	if p.ln != nil {
		// Hold the port first, so that it is never free (see reserve).
		if release, err := reserve(p.addr); err == nil {
			p.portHold = release
		}
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		reset(c)
		delete(p.conns, c)
	}
	if d > 0 {
		p.upTimer = time.AfterFunc(d, p.up)
	}
}

// up ends an outage: listen again on the same address.
func (p *Proxy) up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.down || p.closed {
		return
	}
	if p.upTimer != nil {
		p.upTimer.Stop()
		p.upTimer = nil
	}
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = listen(p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond) // the port is ours; give the kernel a moment to release it
	}
	if p.portHold != nil {
		p.portHold() // after the listener is open: the port is never free
		p.portHold = nil
	}
	if err != nil {
		p.failures = append(p.failures, fmt.Errorf("failed to listen again on %s after an outage: %w", p.addr, err))
		return
	}
	p.down, p.ln = false, ln
	close(p.upCh)
	go p.srv.Serve(ln) //nolint:errcheck // as in New
}

// WaitUp waits until no outage is under way (see Down).
func (p *Proxy) WaitUp(ctx context.Context) error {
	p.mu.Lock()
	ch := p.upCh
	down := p.down
	p.mu.Unlock()
	if !down {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("failed to wait for the end of the outage: %w", ctx.Err())
	}
}

func (p *Proxy) close() {
	p.Release()
	p.mu.Lock()
	p.closed = true
	if p.upTimer != nil {
		p.upTimer.Stop()
	}
	if p.portHold != nil {
		p.portHold()
		p.portHold = nil
	}
	failures := p.failures
	p.mu.Unlock()
	_ = p.srv.Close()
	p.transport.CloseIdleConnections()
	if err := errors.Join(failures...); err != nil {
		p.t.Errorf("faultproxy: %v", err)
	}
}

func hopByHop(h string) bool {
	switch http.CanonicalHeaderKey(h) {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length":
		return true
	}
	return false
}

func fullHeader(res *upstreamResponse) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", res.status, http.StatusText(res.status))
	for k, vs := range res.header {
		if hopByHop(k) {
			continue
		}
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\nConnection: close\r\n\r\n", len(res.body))
	return b.Bytes()
}

// partialHeader is the status line and the start of the header block, cut
// before the blank line that ends it.
func partialHeader(res *upstreamResponse) []byte {
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Le",
		res.status, http.StatusText(res.status))
}

// hijackWrite takes the connection over, writes data, and closes it: with an
// RST when rst is set, else with a normal FIN.
func hijackWrite(w http.ResponseWriter, data []byte, rst bool) {
	c, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	_ = buf.Flush()
	_, _ = c.Write(data)
	if rst {
		// The peer reads the partial header or, if the RST overtakes it,
		// ECONNRESET: a broken answer either way.
		reset(c)
		return
	}
	_ = c.Close()
}

func hijackReset(w http.ResponseWriter) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	reset(c)
}

// reset closes c with an RST instead of a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
