package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	t.Parallel()
	s := summarize([]float64{5, 1, 4, 2, 3})
	if s.Min != 1 || s.P25 != 2 || s.Median != 3 || s.P75 != 4 || s.Max != 5 {
		t.Errorf("summarize = %+v", s)
	}
	if got := summarize([]float64{1, 2}).Median; got != 1.5 {
		t.Errorf("median of 1, 2 = %v, want 1.5", got)
	}
	if got := summarize(nil).medianIQR(); got != "–" {
		t.Errorf("empty medianIQR = %q", got)
	}
	if got := summarize([]float64{10, 10, 10}).count(); got != "10" {
		t.Errorf("count = %q, want 10", got)
	}
	if got := summarize([]float64{10, 12}).count(); got != "10–12" {
		t.Errorf("count = %q, want 10–12", got)
	}
}

func TestThousands(t *testing.T) {
	t.Parallel()
	for in, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 100000: "100,000", 1234567: "1,234,567"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitSession(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, id, rest string }{
		{"/s/12/api/2.0/mlflow/runs/get", "12", "/api/2.0/mlflow/runs/get"},
		{"/api/2.0/mlflow/runs/get", "", "/api/2.0/mlflow/runs/get"},
		{"/s/3", "3", "/"},
	} {
		if id, rest := splitSession(tc.in); id != tc.id || rest != tc.rest {
			t.Errorf("splitSession(%q) = %q, %q; want %q, %q", tc.in, id, rest, tc.id, tc.rest)
		}
	}
}

// TestProxyCounts checks that the proxy forwards requests without the session prefix, with their bodies
// intact, and attributes each to its session.
func TestProxyCounts(t *testing.T) {
	t.Parallel()
	var gotPaths []string
	var gotBody string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPaths = append(gotPaths, r.URL.Path)
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			gotBody = string(b)
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer upstream.Close()
	p, err := newCountingProxy(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	id1, uri1 := p.NewSession()
	id2, uri2 := p.NewSession()
	get := func(u string) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get(uri1 + "/api/2.0/mlflow/model-versions/get?name=m&version=2")
	get(uri2 + "/api/2.0/mlflow/registered-models/alias?name=m&alias=champion")
	body := `{"name":"m","version":"2","key":"mlreg.promotion.alias.champion","value":"{}"}`
	resp, err := http.Post(uri1+"/api/2.0/mlflow/model-versions/set-tag", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	r1, r2 := p.Take(id1), p.Take(id2)
	if len(r1) != 2 || len(r2) != 1 {
		t.Fatalf("session 1 has %d requests, session 2 has %d; want 2 and 1", len(r1), len(r2))
	}
	if got := r1[0].Endpoint(); got != "GET model-versions/get" || r1[0].Detail != "version=2" {
		t.Errorf("first request = %q %q", got, r1[0].Detail)
	}
	if r1[1].Detail != "version=2 key=mlreg.promotion.alias.champion" || r1[1].Bytes != int64(len(`{"ok":true}`)) {
		t.Errorf("set-tag record = %+v", r1[1])
	}
	if r2[0].Detail != "alias=champion" || r2[0].Status != http.StatusOK {
		t.Errorf("alias record = %+v", r2[0])
	}
	if gotBody != body {
		t.Errorf("upstream body = %q, want %q", gotBody, body)
	}
	for _, path := range gotPaths {
		if strings.HasPrefix(path, sessionPrefix) {
			t.Errorf("upstream saw the session prefix: %s", path)
		}
	}
	if p.Stray() != 0 {
		t.Errorf("stray = %d", p.Stray())
	}
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	if _, err := parseFlags([]string{"-sizes", "10,5", "-bin", "bench_test.go", "-python", "bench_test.go"}); err == nil {
		t.Error("descending sizes: want an error")
	}
	if _, err := parseFlags([]string{"-backends", "mysql", "-bin", "bench_test.go", "-python", "bench_test.go"}); err == nil {
		t.Error("unknown backend: want an error")
	}
	cfg, err := parseFlags([]string{"-sizes", "10,30", "-backends", "sqlite", "-bin", "bench_test.go", "-python", "bench_test.go"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Sizes) != 2 || cfg.Backends[0] != "sqlite" || !strings.HasSuffix(cfg.Bin, "bench_test.go") {
		t.Errorf("cfg = %+v", cfg)
	}
}

func TestFleetGroupOf(t *testing.T) {
	t.Parallel()
	fx := &fleetFixture{runModel: map[string]string{"r1": "bench-fleet-001"}}
	for _, tc := range []struct {
		rec  reqRecord
		want string
	}{
		{reqRecord{Method: "GET", Path: "/api/2.0/mlflow/runs/get", RunID: "r1", Query: "run_id=r1"}, "bench-fleet-001"},
		{reqRecord{Method: "GET", Path: "/api/2.0/mlflow/registered-models/get", Query: "name=bench-fleet-002"}, "bench-fleet-002"},
		{reqRecord{Method: "POST", Path: "/api/2.0/mlflow/registered-models/alias", Body: []byte(`{"name":"bench-fleet-003","alias":"champion"}`)}, "bench-fleet-003"},
		{reqRecord{Method: "POST", Path: "/api/2.0/mlflow/registered-models/create", Body: []byte(`{"name":"mlreg-lock.bench-fleet-004"}`)}, "bench-fleet-004"},
		{reqRecord{Method: "DELETE", Path: "/api/2.0/mlflow/registered-models/delete", Body: []byte(`{"name":"mlreg-lock.bench-fleet-004"}`)}, "bench-fleet-004"},
	} {
		if got := fx.groupOf(tc.rec); got != tc.want {
			t.Errorf("groupOf(%s %s) = %q, want %q", tc.rec.Method, tc.rec.Path, got, tc.want)
		}
	}
}

func TestParseFleetFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-fleet-entries", "41"},
		{"-fleet-entries", "40", "-fleet-changes", "21"},
		{"-fleet-parallelism", "0"},
		{"-fleet-pairs", "0"},
	} {
		if _, err := parseFlags(append(args, "-skip-promote")); err == nil {
			t.Errorf("parseFlags(%v): want an error", args)
		}
	}
	cfg, err := parseFlags([]string{"-skip-promote", "-fleet-entries", "40", "-fleet-changes", "4", "-fleet-parallelism", "1,8"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.FleetEntries != 40 || cfg.FleetChanges != 4 || len(cfg.FleetParallelism) != 2 || cfg.FleetParallelism[1] != 8 {
		t.Errorf("cfg = %+v", cfg)
	}
}

func TestFleetObserve(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	rec := func(start, dur time.Duration) reqRecord { return reqRecord{Start: t0.Add(start), Dur: dur} }
	var s fleetSample
	// Plan: two overlapping requests, then a gap of 5 ms; apply: one request after a gap of 10 ms.
	s.observe([]reqRecord{rec(0, 10*ms), rec(5*ms, 10*ms), rec(20*ms, 5*ms)}, []reqRecord{rec(35*ms, 5*ms)})
	if s.MaxInFlight != 2 || s.IdleMS != 15 || s.PlanServerMS != 25 || s.ApplyServerMS != 5 {
		t.Errorf("observe = in flight %d, idle %v ms, server %v + %v ms; want 2, 15, 25 + 5",
			s.MaxInFlight, s.IdleMS, s.PlanServerMS, s.ApplyServerMS)
	}
}
