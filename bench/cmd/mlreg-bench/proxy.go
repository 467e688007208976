package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// reqRecord is one HTTP request a measured process sent, as the counting proxy saw it.
type reqRecord struct {
	Method string `json:"method"`
	// Path is the request path with the session prefix stripped, e.g. /api/2.0/mlflow/runs/get.
	Path string `json:"path"`
	// Detail holds the parameters that tell requests to one endpoint apart (version, alias, tag key, page).
	Detail string        `json:"detail,omitempty"`
	Status int           `json:"status"`
	Dur    time.Duration `json:"duration_ns"` // request in to response fully written, upstream included
	Bytes  int64         `json:"response_bytes"`
	// RunID is the run_id query parameter, for telling candidate and champion runs apart.
	RunID string `json:"run_id,omitempty"`
	// Start, Query and Body let the fleet scenario replay the request.
	Start time.Time `json:"-"`
	Query string    `json:"-"`
	Body  []byte    `json:"-"`
}

// Endpoint is the method and the path below /api/2.0/mlflow, e.g. "GET runs/get".
func (r reqRecord) Endpoint() string {
	p := strings.TrimPrefix(r.Path, "/api/2.0/mlflow/")
	return r.Method + " " + p
}

const sessionPrefix = "/s/"

// countingProxy is a reverse proxy on loopback in front of one MLflow server. Each measured process gets its
// own tracking URI, <proxy>/s/<id>, so every request it sends is attributed to it; the prefix is stripped
// before the request goes upstream.
type countingProxy struct {
	URL string

	srv      *http.Server
	ln       net.Listener
	upstream *url.URL
	rp       *httputil.ReverseProxy

	mu       sync.Mutex
	next     int
	sessions map[string][]reqRecord
	stray    []reqRecord // requests without a session prefix
}

func newCountingProxy(upstream string) (*countingProxy, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("failed to parse upstream URL: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("failed to listen for the proxy: %w", err)
	}
	p := &countingProxy{
		URL:      "http://" + ln.Addr().String(),
		ln:       ln,
		upstream: u,
		sessions: map[string][]reqRecord{},
	}
	transport := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(p.upstream)
			_, rest := splitSession(pr.In.URL.Path)
			pr.Out.URL.Path, pr.Out.URL.RawPath = rest, ""
			pr.Out.Header.Del("X-Forwarded-For")
		},
		Transport: transport,
		ErrorLog:  nil,
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Close stops the proxy.
func (p *countingProxy) Close() error {
	if err := p.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("failed to close proxy: %w", err)
	}
	return nil
}

// NewSession returns a session id and the tracking URI that attributes requests to it.
func (p *countingProxy) NewSession() (string, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next++
	id := strconv.Itoa(p.next)
	p.sessions[id] = nil
	return id, p.URL + sessionPrefix + id
}

// Take returns and forgets the requests of session id.
func (p *countingProxy) Take(id string) []reqRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	recs := p.sessions[id]
	delete(p.sessions, id)
	return recs
}

// Stray returns the number of requests that carried no session prefix.
func (p *countingProxy) Stray() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.stray)
}

// splitSession turns /s/<id>/api/... into ("<id>", "/api/..."); a path without the prefix is ("", path).
func splitSession(path string) (string, string) {
	rest, ok := strings.CutPrefix(path, sessionPrefix)
	if !ok {
		return "", path
	}
	id, tail, _ := strings.Cut(rest, "/")
	return id, "/" + tail
}

func (p *countingProxy) serve(w http.ResponseWriter, r *http.Request) {
	began := time.Now()
	id, path := splitSession(r.URL.Path)
	rec := reqRecord{Method: r.Method, Path: path, RunID: r.URL.Query().Get("run_id"), Start: began, Query: r.URL.RawQuery}
	if r.Method != http.MethodGet && r.Body != nil {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		if err == nil {
			rec.Body = body
		}
	}
	rec.Detail = detailOf(r, rec.Body)
	cw := &countingWriter{ResponseWriter: w, status: http.StatusOK}
	p.rp.ServeHTTP(cw, r)
	rec.Status, rec.Bytes, rec.Dur = cw.status, cw.n, time.Since(began)

	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.sessions[id]; ok && id != "" {
		p.sessions[id] = append(p.sessions[id], rec)
	} else {
		p.stray = append(p.stray, rec)
	}
}

// detailOf extracts the fields that distinguish calls to one endpoint: from the query of a GET, from the JSON
// body of anything else.
func detailOf(r *http.Request, body []byte) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		add("version", q.Get("version"))
		add("alias", q.Get("alias"))
		add("metric_key", q.Get("metric_key"))
		if q.Get("page_token") != "" {
			add("page_token", "…")
		}
		return strings.Join(parts, " ")
	}
	if body == nil {
		return ""
	}
	var fields struct {
		Version string `json:"version"`
		Alias   string `json:"alias"`
		Key     string `json:"key"`
	}
	if json.Unmarshal(body, &fields) != nil {
		return ""
	}
	add("version", fields.Version)
	add("alias", fields.Alias)
	add("key", fields.Key)
	return strings.Join(parts, " ")
}

type countingWriter struct {
	http.ResponseWriter
	status      int
	n           int64
	wroteHeader bool
}

func (c *countingWriter) WriteHeader(code int) {
	if !c.wroteHeader {
		c.status, c.wroteHeader = code, true
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	c.wroteHeader = true
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
