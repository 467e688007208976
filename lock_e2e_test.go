package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/testing/faultproxy"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

// lockRecord is what the registry holds of a lock: its tags, and when the
// server created it (its clock, in milliseconds).
type lockRecord struct {
	expires time.Time
	owner   string
	created time.Time
}

func readLock(t *testing.T, f *mlflowtest.Fixtures, name string) lockRecord {
	t.Helper()
	var out struct {
		RegisteredModel struct {
			CreationTimestamp json.Number `json:"creation_timestamp"`
			Tags              []struct {
				Key, Value string
			} `json:"tags"`
		} `json:"registered_model"`
	}
	if err := f.Do(t.Context(), http.MethodGet, "registered-models/get", url.Values{"name": {name}}, nil, &out); err != nil {
		t.Fatalf("failed to read the lock %s: %v", name, err)
	}
	var rec lockRecord
	ms, err := out.RegisteredModel.CreationTimestamp.Int64()
	if err != nil {
		t.Fatalf("lock %s creation_timestamp %q: %v", name, out.RegisteredModel.CreationTimestamp, err)
	}
	rec.created = time.UnixMilli(ms)
	for _, tag := range out.RegisteredModel.Tags {
		switch tag.Key {
		case promote.TagLockExpires:
			if rec.expires, err = time.Parse(time.RFC3339, tag.Value); err != nil {
				t.Fatalf("lock %s expiry %q: %v", name, tag.Value, err)
			}
		case promote.TagLockOwner:
			rec.owner = tag.Value
		}
	}
	return rec
}

// TestKilledPromotionsLockClears: a promotion is SIGKILLed (a cancelled job
// past its grace period) while it holds the lock; its rerun takes the lock
// over once the dead run's last renewal has expired, 20 seconds after it
// (not 2 minutes), and completes the promotion.
//
// The binary runs through a fault proxy that stalls its compare-and-set
// re-read (the first request under the lock) and holds the answer of its
// first renewal (which the server has carried out): the test kills it once
// both have happened, so the lock it leaves has been renewed once. The
// expiries are the registry's record; wall time is only bounded, generously.
func TestKilledPromotionsLockClears(t *testing.T) {
	t.Parallel()
	s := mlflowtest.RequireServer(t, srv)
	f := s.Fixtures()
	ctx := t.Context()
	model := mlflowtest.UniqueName(t, "killed")
	if err := f.CreateModelWithVersions(ctx, model, 2, map[string]float64{"val_auc": 0.95}); err != nil {
		t.Fatal(err)
	}
	if err := f.SetAlias(ctx, model, "champion", "1"); err != nil {
		t.Fatal(err)
	}
	lock := mlflow.LockName(model)
	p := faultproxy.New(t, srv.URL)
	p.Add(
		faultproxy.Rule{Method: "GET", Path: "/registered-models/alias", Nth: 2, Fault: faultproxy.Stall(0)},
		faultproxy.Rule{Method: "POST", Path: "/registered-models/set-tag", Contains: `"name":"` + lock + `"`, Fault: faultproxy.Stall(0)},
	)
	workspace := func() string {
		ws := filepath.Join(t.TempDir(), "workspace")
		if err := os.MkdirAll(ws, 0o755); err != nil {
			t.Fatal(err)
		}
		return ws
	}
	in := map[string]string{"model-name": model, "version": "2", "target-alias": "champion", "policy": "none",
		"pr-comment": "never", "deployment": "never"}

	dying, log := binaryCmd(ctx, workspace(), mergeInputs(in, map[string]string{"tracking-uri": p.URL}))
	if err := dying.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	running, ended := context.WithCancel(ctx)
	go func() { exited <- dying.Wait(); ended() }()
	// Each wait ends with the event or with the run, never with a clock;
	// the bound only keeps a run that holds the lock without ever renewing
	// it from hanging the test.
	waitFault := func(n int, what string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(running, 2*time.Minute)
		defer cancel()
		if err := p.WaitFaulted(wctx, n); err != nil {
			_ = dying.Process.Kill()
			t.Fatalf("%s: %v (the run: %v)\nrequests:\n%s\nlog:\n%s", what, err, <-exited, requestList(p), log)
		}
	}
	waitFault(1, "the run never got under the lock")
	taken := readLock(t, f, lock)
	// The expiry is written to the second, from the run's clock, just before
	// the server creates the lock.
	const wantTTL = 20 * time.Second
	if ttl := taken.expires.Sub(taken.created); ttl < wantTTL-2*time.Second || ttl > wantTTL {
		t.Errorf("the lock created at %s expires at %s: %s later, want %s",
			taken.created.Format(time.RFC3339Nano), taken.expires.Format(time.RFC3339), ttl, wantTTL)
	}
	waitFault(2, "the run held the lock and never renewed it")
	if err := dying.Process.Kill(); err != nil { // SIGKILL: no deferred release runs
		t.Fatal(err)
	}
	if err := <-exited; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the run was not killed: %v\n%s", err, log)
	}
	killed := time.Now()
	left := readLock(t, f, lock)
	if !left.expires.After(taken.expires) {
		t.Errorf("the renewed lock expires at %s, no later than when it was taken (%s)", left.expires, taken.expires)
	}
	t.Logf("lock taken at %s expiring %s; renewed to expire at %s; killed %s before that",
		taken.created.Format("15:04:05.000"), taken.expires.Format("15:04:05"), left.expires.Format("15:04:05"),
		left.expires.Sub(killed).Round(time.Millisecond))

	// The rerun's own deadline is far below the old 2-minute expiry.
	code, rerunLog, _ := runBinary(t, workspace(), mergeInputs(in, map[string]string{"timeout": "50s"}))
	took := time.Since(killed)
	t.Logf("the rerun finished %s after the kill, %s after the dead run's lock expired", took.Round(time.Millisecond),
		time.Since(left.expires).Round(time.Millisecond))
	if code != 0 {
		t.Fatalf("rerun: exit %d, want 0\n%s", code, rerunLog)
	}
	want := fmt.Sprintf("removed the expired lock of %s (expired %s)", left.owner, left.expires.Format(time.RFC3339))
	if !strings.Contains(rerunLog, want) {
		t.Errorf("the rerun does not say %q:\n%s", want, rerunLog)
	}
	if took > time.Minute {
		t.Errorf("the rerun finished %s after the kill, want well under a minute", took)
	}
	if got, err := f.AliasVersion(ctx, model, "champion"); got != "2" {
		t.Errorf("@champion is v%s after the rerun (%v), want v2", got, err)
	}
	if _, err := f.ModelTags(ctx, lock); !mlflowtest.IsErrorCode(err, "RESOURCE_DOES_NOT_EXIST") {
		t.Errorf("the lock %s is left after the rerun (%v)", lock, err)
	}
}

func mergeInputs(base, more map[string]string) map[string]string {
	out := maps.Clone(base)
	maps.Copy(out, more)
	return out
}

func requestList(p *faultproxy.Proxy) string {
	var b strings.Builder
	for _, r := range p.Requests() {
		b.WriteString(r.String() + "\n")
	}
	return b.String()
}
