package mlflow

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// TestMaxIdleConnsPerHost: with MaxIdleConnsPerHost at least the number of
// requests in flight, a second wave of 8 requests at once reuses the first
// wave's connections; with Go's default of 2 idle connections it opens new
// ones.
func TestMaxIdleConnsPerHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		idle    int
		newConn func(n int64) bool
	}{
		{idle: 0, newConn: func(n int64) bool { return n > 8 }},   // the second wave opens most again
		{idle: 24, newConn: func(n int64) bool { return n == 8 }}, // the second wave reuses all 8
	} {
		var conns atomic.Int64
		var arrived sync.WaitGroup
		release := make(chan struct{})
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			arrived.Done()
			<-release
			_, _ = w.Write([]byte(`{"registered_model": {"name": "m"}}`))
		}))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		srv.Start()
		c, _ := newTestClient(t, srv.URL, func(o *Options) { o.MaxIdleConnsPerHost = tc.idle })
		for range 2 {
			// 8 at once: each handler waits until all 8 have arrived.
			arrived.Add(8)
			release = make(chan struct{})
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					if _, err := c.GetRegisteredModel(t.Context(), "m"); err != nil {
						t.Error(err)
					}
				})
			}
			arrived.Wait()
			close(release)
			wg.Wait()
		}
		srv.Close()
		if n := conns.Load(); !tc.newConn(n) {
			t.Errorf("MaxIdleConnsPerHost %d: %d connections for two waves of 8", tc.idle, n)
		}
	}
}
