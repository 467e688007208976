package registry_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/registry"
	"github.com/mlreg/mlreg-action/internal/uc"
)

// The inputs are checked against each registry's rules with the same
// words: blank, refused by the rules, a stage where there are none.
func TestCheckInputs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		rules registry.Rules
		model string
		tgt   checks.Target
		want  []string // "" = no error; one entry per check (model, target)
	}{
		{"MLflow takes a two-level name and a stage", mlflow.Rules{}, "ml.fraud", checks.StageTarget("Production"), []string{"", ""}},
		{"blank", mlflow.Rules{}, " ", checks.AliasTarget("champion"), []string{"input model-name is required", ""}},
		{"MLflow refuses a slash", mlflow.Rules{}, "a/b", checks.AliasTarget("champion"), []string{`input model-name: model name "a/b" may not contain '/' or ':'`, ""}},
		{"UC refuses two levels and stages", uc.Rules{}, "ml.fraud", checks.StageTarget("Production"),
			[]string{`input model-name: model name "ml.fraud": not a Unity Catalog model name`,
				`input target-stage: Unity Catalog has no model stages (got "Production"); use target-alias`}},
		{"UC takes three levels and an alias", uc.Rules{}, "main.ml.fraud", checks.AliasTarget("champion"), []string{"", ""}},
	}
	for _, tc := range cases {
		for i, err := range []error{registry.CheckModelName(tc.rules, tc.model), registry.CheckTarget(tc.rules, tc.tgt)} {
			switch want := tc.want[i]; {
			case want == "" && err != nil:
				t.Errorf("%s: check %d: %v, want none", tc.name, i, err)
			case want != "" && (err == nil || !strings.HasPrefix(err.Error(), want)):
				t.Errorf("%s: check %d: %v, want %q", tc.name, i, err, want)
			}
		}
	}
}

// A history of full records keeps the newest within the bound, and reads back.
func TestEncodeBoundedAndParseRecords(t *testing.T) {
	t.Parallel()
	h := []registry.Record{{Version: "3", PreviousVersion: "2"}, {Version: "2", PreviousVersion: "1"}, {Version: "1"}}
	one := registry.EncodeBounded(h[:1], 1<<20)
	enc := registry.EncodeBounded(h, len(one)+1)
	back, err := registry.ParseRecords(enc)
	if err != nil || len(back) != 1 || back[0].Version != "3" {
		t.Errorf("bounded history = %s (%+v, %v), want only the newest entry", enc, back, err)
	}
	if enc := registry.EncodeBounded(h[:1], 1); enc != one {
		t.Errorf("the newest entry is dropped at a tiny bound: %s", enc)
	}
	if h, err := registry.ParseRecords(""); err != nil || h != nil {
		t.Errorf("empty history = %v, %v", h, err)
	}
	if _, err := registry.ParseRecords("[{"); err == nil {
		t.Error("a broken history parsed")
	}
}

// TestTruncate: at most n runes, the ellipsis included.
func TestTruncate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": "", "abc": "abc", "abcd": "ab…", "ééé": "ééé", "éééé": "éé…", "a\xffb": "a\xffb",
		"a\xffbc": "a\xff…"} {
		if got := registry.Truncate(in, 3); got != want {
			t.Errorf("Truncate(%q, 3) = %q, want %q", in, got, want)
		}
	}
	if got := registry.Truncate("abc", 0); got != "" {
		t.Errorf("Truncate(%q, 0) = %q, want none", "abc", got)
	}
	if got := registry.Truncate("abc", 1); got != "…" {
		t.Errorf("Truncate(%q, 1) = %q, want the ellipsis", "abc", got)
	}
}

// The error kinds are matched through the backend's errors.
func TestErrorKinds(t *testing.T) {
	t.Parallel()
	notFound := &mlflow.Error{StatusCode: 404, Code: mlflow.CodeResourceDoesNotExist}
	wrapped := errors.Join(errors.New("context"), notFound)
	if !registry.IsNotFound(wrapped) || registry.IsAlreadyExists(wrapped) || registry.IsPermissionDenied(wrapped) || registry.IsEndpointNotFound(wrapped) {
		t.Errorf("a wrapped 404 RESOURCE_DOES_NOT_EXIST matches the wrong kinds")
	}
	if !errors.Is(notFound, registry.ErrRefused) || !errors.Is(notFound, registry.ErrNotExecuted) {
		t.Error("a 404 is a refusal that did nothing")
	}
	unavailable := &mlflow.Error{StatusCode: 503, Code: mlflow.CodeInternalError}
	if errors.Is(unavailable, registry.ErrRefused) || errors.Is(unavailable, registry.ErrNotExecuted) {
		t.Error("a 503 without Retry-After may have been acted on")
	}
	if !errors.Is(&mlflow.Error{StatusCode: 503, RetryAfter: time.Second}, registry.ErrNotExecuted) {
		t.Error("a 503 with Retry-After did nothing")
	}
}

func TestSleepContext(t *testing.T) {
	t.Parallel()
	if err := registry.SleepContext(t.Context(), 0); err != nil {
		t.Errorf("a zero sleep: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := registry.SleepContext(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled sleep: %v, want context.Canceled", err)
	}
}
