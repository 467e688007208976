package mlflow

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// memTransport answers every request with status and body from memory, so
// that what a measurement counts is the client's own allocations.
type memTransport struct {
	status  int
	body    []byte
	chunked bool // no Content-Length, as behind a proxy that compresses
}

func (m memTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h := http.Header{"Content-Type": {"application/json"}}
	n := int64(-1)
	if !m.chunked {
		n = int64(len(m.body))
		h.Set("Content-Length", strconv.Itoa(len(m.body)))
	}
	return &http.Response{StatusCode: m.status, Status: http.StatusText(m.status), Header: h,
		Body: io.NopCloser(bytes.NewReader(m.body)), ContentLength: n, Request: req}, nil
}

// bigVersionBody is a get-version answer whose description makes the body
// size bytes long.
func bigVersionBody(size int) []byte {
	head := `{"model_version": {"name": "m", "version": "1", "status": "READY", "description": "`
	tail := `"}}`
	return []byte(head + strings.Repeat("d", size-len(head)-len(tail)) + tail)
}

func memClient(tb testing.TB, tr memTransport) *Client {
	tb.Helper()
	c, err := New(Options{TrackingURI: "http://mlflow.test", HTTPClient: &http.Client{Transport: tr}, MaxRetries: -1})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// BenchmarkLargeAnswer reads a 200 answer just under the 64 MiB limit.
func BenchmarkLargeAnswer(b *testing.B) {
	body := bigVersionBody(maxResponseSize - 1)
	for _, chunked := range []bool{false, true} {
		b.Run(map[bool]string{false: "content-length", true: "chunked"}[chunked], func(b *testing.B) {
			c := memClient(b, memTransport{status: http.StatusOK, body: body, chunked: chunked})
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				mv, err := c.GetModelVersion(b.Context(), "m", "1")
				if err != nil || len(mv.Description) < maxResponseSize-200 {
					b.Fatalf("%v", err)
				}
			}
			reportPeakHeap(b, body, func() { _, _ = c.GetModelVersion(b.Context(), "m", "1") })
		})
	}
}

// reportPeakHeap runs fn once and reports the most heap in use above what was
// in use before (after a collection), sampled every 200µs, in multiples of
// the body's size.
func reportPeakHeap(b *testing.B, body []byte, fn func()) {
	b.Helper()
	b.StopTimer()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	peak := base
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var s runtime.MemStats
		for {
			runtime.ReadMemStats(&s)
			peak = max(peak, s.HeapInuse)
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	})
	fn()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(peak-base)/float64(len(body)), "peak-heap/body")
}

// bigErrorBody is a 400 answer whose message makes the body size bytes long.
func bigErrorBody(size int) []byte {
	head := `{"error_code": "INVALID_PARAMETER_VALUE", "message": "`
	return []byte(head + strings.Repeat("m", size-len(head)-2) + `"}`)
}

// BenchmarkLargeErrorMessage reads a 400 answer with a 60 MiB message.
func BenchmarkLargeErrorMessage(b *testing.B) {
	body := bigErrorBody(60 << 20)
	c := memClient(b, memTransport{status: http.StatusBadRequest, body: body})
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := c.GetModelVersion(b.Context(), "m", "1"); err == nil {
			b.Fatal("no error")
		}
	}
	reportPeakHeap(b, body, func() { _, _ = c.GetModelVersion(b.Context(), "m", "1") })
}

// TestLargeAnswersMemory bounds what a large answer costs, in bytes allocated
// by one call (runtime.MemStats, not time): a 200 answer at the 64 MiB limit
// costs its raw bytes and what they decode to, about twice its size (it cost
// 3.5 times when read with io.ReadAll); a 400 answer with a 60 MiB message
// costs a small fraction of it, since only its start is read (it cost 5
// times). The counter is the process's, so the test runs alone: it is not
// parallel, and the parallel tests wait until the sequential ones are done.
//
//nolint:paralleltest // It measures the process's allocations: nothing else may run.
func TestLargeAnswersMemory(t *testing.T) {
	answer := bigVersionBody(maxResponseSize - 1)
	cases := []struct {
		name  string
		tr    memTransport
		bound float64 // bytes allocated ÷ body size
	}{
		{"200 with Content-Length", memTransport{status: http.StatusOK, body: answer}, 2.2},
		{"200 without Content-Length", memTransport{status: http.StatusOK, body: answer, chunked: true}, 3.2},
		{"400 with a 60 MiB message", memTransport{status: http.StatusBadRequest, body: bigErrorBody(60 << 20)}, 0.02},
	}
	for _, tc := range cases {
		c := memClient(t, tc.tr)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		mv, err := c.GetModelVersion(t.Context(), "m", "1")
		runtime.ReadMemStats(&after)
		if tc.tr.status == http.StatusOK && (err != nil || len(mv.Description) < maxResponseSize-200) {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(tc.tr.body)); got > tc.bound {
			t.Errorf("%s: the call allocated %.3f times the body's size, want at most %.3f", tc.name, got, tc.bound)
		} else {
			t.Logf("%s: %.3f times the body's size", tc.name, got)
		}
	}
}
