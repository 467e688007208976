package mlflowtest_test

import (
	"errors"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

// Not parallel: it takes the package's shared server down, and Go runs every
// sequential top-level test before it resumes the parallel ones.
func TestRestartKeepsTheStore(t *testing.T) {
	s := mlflowtest.RequireServer(t, srv)
	f := s.Fixtures()
	ctx := t.Context()
	model := mlflowtest.UniqueName(t, "restart")
	if err := f.CreateRegisteredModel(ctx, model); err != nil {
		t.Fatal(err)
	}
	if err := f.SetModelTag(ctx, model, "before", "restart"); err != nil {
		t.Fatal(err)
	}
	url := s.URL

	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	_, err := (&http.Client{Timeout: 2 * time.Second}).Get(s.URL + "/health")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("GET /health of a killed server: %v, want connection refused", err)
	}

	began := time.Now()
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted in %s", time.Since(began).Round(10*time.Millisecond))
	if s.URL != url {
		t.Errorf("URL changed from %s to %s", url, s.URL)
	}
	tags, err := f.ModelTags(ctx, model)
	if err != nil {
		t.Fatal(err)
	}
	if tags["before"] != "restart" {
		t.Errorf("model tags after the restart = %v, want the tag set before (the store must survive)", tags)
	}
}
