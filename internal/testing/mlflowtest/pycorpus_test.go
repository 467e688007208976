package mlflowtest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// The corpus itself is built and used by internal/action's TestCorpus* tests; these tests cover how a build
// that fails or runs out of time is reported, without building it.

func requirePython(t *testing.T) string {
	t.Helper()
	py, err := corpusPython()
	if errors.Is(err, ErrNoMLflow) {
		t.Skip(SkipMessage)
	}
	if err != nil {
		t.Fatal(err)
	}
	return py
}

func TestCorpusBuildFailureShowsPythonStderr(t *testing.T) {
	t.Parallel()
	py := requirePython(t)
	// No tracking URI: the script stops before importing MLflow, with its usage on stderr.
	_, err := buildCorpus(t.Context(), py, t.TempDir(), "", "pyc-test")
	if err == nil {
		t.Fatal("build without a tracking URI succeeded")
	}
	for _, want := range []string{"python exited: exit status 1", "python stderr", "usage: MLFLOW_TRACKING_URI=<server> python corpus.py <prefix>"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestCorpusBuildHonoursDeadline(t *testing.T) {
	t.Parallel()
	py := requirePython(t)
	// Nothing listens on port 9: MLflow's client would retry for minutes. The deadline stops the process
	// (buildCorpus returns after it has exited).
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	_, err := buildCorpus(ctx, py, t.TempDir(), "http://127.0.0.1:9", "pyc-test")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "python stderr") {
		t.Fatalf("err = %v, want the context's deadline and the python stderr", err)
	}
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	t.Parallel()
	b := &tailBuffer{max: 8}
	for _, s := range []string{"abc", "defgh", "ijklmnop", "q"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := b.String(); got != "jklmnopq" {
		t.Errorf("tail = %q, want %q", got, "jklmnopq")
	}
}
