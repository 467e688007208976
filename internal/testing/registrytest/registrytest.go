// Package registrytest is the parity suite of registry.Backend: the same
// cases, run against every backend (the in-memory registry of
// internal/testing/memregistry under MLflow's and Unity Catalog's rules,
// the real MLflow server, and Unity Catalog's fake behind uc.Registry), so
// that the in-memory registry the unit tests run on can never drift from
// the registries it stands in for.
//
// Each case asks what a promotion relies on, in the registry's own terms:
// which error kind a missing model, version or alias is; that an alias
// moves; that tags are upserts under the rules' keys; that the lock's name
// can be created once; that a history and an audit record written as the
// rules lay them out read back; and, where the rules allow stages, how
// stages move.
package registrytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// Harness is one backend under test and how to make its fixtures.
type Harness struct {
	Backend registry.Backend
	// NewModel creates a registered model with versions 1 to n (READY, in
	// stage None, without aliases) and returns its name, unique to t.
	NewModel func(t *testing.T, n int) string
	// Absent is a model name the backend takes that names no model.
	Absent string
	// NoTracking is set when the backend has no tracking server to read
	// runs from (the UC fake alone).
	NoTracking bool
}

// Run runs every case against the backend newHarness makes; each case
// gets its own harness (they run in parallel).
func Run(t *testing.T, newHarness func(t *testing.T) *Harness) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newHarness(t))
		})
	}
}

var cases = []struct {
	name string
	run  func(t *testing.T, h *Harness)
}{
	{"MissingModel", missingModel},
	{"Versions", versions},
	{"AliasMoves", aliasMoves},
	{"TagsAreUpserts", tagsAreUpserts},
	{"LockIsCreatedOnce", lockIsCreatedOnce},
	{"HistoryAndRecordReadBack", historyAndRecordReadBack},
	{"TagLimit", tagLimit},
	{"Stages", stages},
	{"MissingRun", missingRun},
}

func ctxOf(t *testing.T) context.Context { return t.Context() }

// missingModel: every read of a model that does not exist is not found,
// and an alias of it is not an unset alias.
func missingModel(t *testing.T, h *Harness) {
	ctx, b, name := ctxOf(t), h.Backend, h.Absent
	_, err := b.GetRegisteredModel(ctx, name)
	wantKind(t, "GetRegisteredModel", err, registry.ErrNotFound)
	_, err = b.GetModelVersion(ctx, name, "1")
	wantKind(t, "GetModelVersion", err, registry.ErrNotFound)
	_, err = b.LatestVersion(ctx, name)
	wantKind(t, "LatestVersion", err, registry.ErrNotFound)
	_, err = b.GetModelVersionByAlias(ctx, name, "champion")
	wantKind(t, "GetModelVersionByAlias", err, registry.ErrNotFound)
	if errors.Is(err, registry.ErrAliasNotFound) {
		t.Errorf("GetModelVersionByAlias of a missing model = %v, want not found, not an unset alias", err)
	}
	err = b.SetAlias(ctx, name, "champion", "1")
	wantKind(t, "SetAlias", err, registry.ErrNotFound)
	err = b.DeleteRegisteredModel(ctx, name)
	wantKind(t, "DeleteRegisteredModel", err, registry.ErrNotFound)
}

// versions: a version reads back by number, a missing one is not found, and
// the latest is the highest number, without aliases.
func versions(t *testing.T, h *Harness) {
	ctx, b := ctxOf(t), h.Backend
	name := h.NewModel(t, 3)
	mv, err := b.GetModelVersion(ctx, name, "2")
	if err != nil || mv.Version != "2" || mv.Name != name || mv.Status != registry.StatusReady {
		t.Errorf("GetModelVersion(2) = %+v, %v; want v2 of %s, READY", mv, err, name)
	}
	_, err = b.GetModelVersion(ctx, name, "9")
	wantKind(t, "GetModelVersion(9)", err, registry.ErrNotFound)
	if err := b.SetAlias(ctx, name, "champion", "3"); err != nil {
		t.Fatal(err)
	}
	latest, err := b.LatestVersion(ctx, name)
	if err != nil || latest.Version != "3" || len(latest.Aliases) != 0 {
		t.Errorf("LatestVersion = %+v, %v; want v3 without aliases", latest, err)
	}
	rm, err := b.GetRegisteredModel(ctx, name)
	if err != nil || rm.Name != name {
		t.Fatalf("GetRegisteredModel = %+v, %v", rm, err)
	}
}

// aliasMoves: setting an alias points it at one version, setting it again
// moves it, an unset alias is exactly registry.ErrAliasNotFound, and an
// alias cannot point at a version that does not exist.
func aliasMoves(t *testing.T, h *Harness) {
	ctx, b := ctxOf(t), h.Backend
	name := h.NewModel(t, 2)
	if _, err := b.GetModelVersionByAlias(ctx, name, "champion"); err != registry.ErrAliasNotFound { //nolint:errorlint // the contract is the bare sentinel
		t.Errorf("unset alias: err = %v, want exactly registry.ErrAliasNotFound", err)
	}
	for _, v := range []string{"1", "2"} {
		if err := b.SetAlias(ctx, name, "champion", v); err != nil {
			t.Fatalf("SetAlias(champion=%s): %v", v, err)
		}
		mv, err := b.GetModelVersionByAlias(ctx, name, "champion")
		if err != nil || mv.Version != v || !slices.Contains(mv.Aliases, "champion") {
			t.Errorf("@champion after setting it to v%s = %+v, %v", v, mv, err)
		}
		rm, err := b.GetRegisteredModel(ctx, name)
		if err != nil || rm.AliasVersion("champion") != v || len(rm.Aliases) != 1 {
			t.Errorf("registered model aliases after setting @champion to v%s = %+v, %v", v, rm, err)
		}
	}
	old, err := b.GetModelVersion(ctx, name, "1")
	if err != nil || slices.Contains(old.Aliases, "champion") {
		t.Errorf("v1 after the move = %+v, %v; want it without @champion", old, err)
	}
	if err := b.SetAlias(ctx, name, "champion", "9"); err == nil {
		t.Error("SetAlias to a missing version succeeded")
	}
	if rm, _ := b.GetRegisteredModel(ctx, name); rm == nil || rm.AliasVersion("champion") != "2" {
		t.Errorf("a refused move changed the alias: %+v", rm)
	}
}

// tagsAreUpserts: a tag under the rules' key is set, then replaced, on a
// version and on a model; a tag on a missing version is not found.
func tagsAreUpserts(t *testing.T, h *Harness) {
	ctx, b := ctxOf(t), h.Backend
	name := h.NewModel(t, 1)
	champ := checks.AliasTarget("champion")
	vkey, mkey := promote.PromotionKey(b, champ), promote.HistoryKey(b, champ)
	for _, v := range []string{"first", "second"} {
		if err := b.SetModelVersionTag(ctx, name, "1", vkey, v); err != nil {
			t.Fatalf("SetModelVersionTag(%s): %v", vkey, err)
		}
		if err := b.SetRegisteredModelTag(ctx, name, mkey, v); err != nil {
			t.Fatalf("SetRegisteredModelTag(%s): %v", mkey, err)
		}
	}
	mv, err := b.GetModelVersion(ctx, name, "1")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := mv.Tag(vkey); !ok || got != "second" || count(mv.Tags, vkey) != 1 {
		t.Errorf("version tag %s = %q (%d times), want one, second", vkey, got, count(mv.Tags, vkey))
	}
	rm, err := b.GetRegisteredModel(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := rm.Tag(mkey); !ok || got != "second" || count(rm.Tags, mkey) != 1 {
		t.Errorf("model tag %s = %q (%d times), want one, second", mkey, got, count(rm.Tags, mkey))
	}
	err = b.SetModelVersionTag(ctx, name, "9", vkey, "x")
	wantKind(t, "SetModelVersionTag on a missing version", err, registry.ErrNotFound)
}

// lockIsCreatedOnce: the lock's name, with its tags, is created once; a
// second create is already-exists; it reads back, deletes, and is gone.
func lockIsCreatedOnce(t *testing.T, h *Harness) {
	ctx, b := ctxOf(t), h.Backend
	name := h.NewModel(t, 1)
	lock := b.LockName(name)
	owner := b.TagKey(promote.TagLockOwner)
	tags := []registry.Tag{{Key: owner, Value: b.TagValue("https://github.com/acme/models/actions/runs/1")}}
	if _, err := b.CreateRegisteredModel(ctx, lock, "held", tags); err != nil {
		t.Fatalf("create the lock %s: %v", lock, err)
	}
	_, err := b.CreateRegisteredModel(ctx, lock, "held", tags)
	wantKind(t, "second create of the lock", err, registry.ErrAlreadyExists)
	rm, err := b.GetRegisteredModel(ctx, lock)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := rm.Tag(owner); v != tags[0].Value {
		t.Errorf("lock owner tag = %q, want %q", v, tags[0].Value)
	}
	if err := b.DeleteRegisteredModel(ctx, lock); err != nil {
		t.Fatal(err)
	}
	_, err = b.GetRegisteredModel(ctx, lock)
	wantKind(t, "the lock after delete", err, registry.ErrNotFound)
	if _, err := b.CreateRegisteredModel(ctx, lock, "held", tags); err != nil {
		t.Errorf("create the lock after its delete: %v", err)
	}
	_ = b.DeleteRegisteredModel(ctx, lock)
}

// historyAndRecordReadBack: a history and an audit record, with hostile
// and oversized values, written as the rules lay them out, are accepted by
// the registry and read back as the rules parse them.
func historyAndRecordReadBack(t *testing.T, h *Harness) {
	ctx, b := ctxOf(t), h.Backend
	name := h.NewModel(t, 2)
	champ := checks.AliasTarget("champion")
	hostile := "o'brien \"root\"\n<script>@channel" + strings.Repeat("🚀", 400)
	var hist []registry.Record
	for i := 40; i >= 1; i-- {
		hist = append(hist, registry.Record{Version: fmt.Sprint(i), PreviousVersion: fmt.Sprint(i - 1), Action: promote.ActionPromote,
			At: fmt.Sprintf("2026-03-01T09:%02d:00Z", i), By: hostile, RunURL: "https://github.com/acme/models/actions/runs/1",
			PolicyDigest: "sha256:" + strings.Repeat("a", 64), PlanDigest: "sha256:" + strings.Repeat("b", 64), Verdict: "pass"})
	}
	enc := b.EncodeHistory(hist)
	if err := b.SetRegisteredModelTag(ctx, name, promote.HistoryKey(b, champ), enc); err != nil {
		t.Fatalf("write the history (%d bytes): %v", len(enc), err)
	}
	rm, err := b.GetRegisteredModel(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	back, err := promote.RecordedHistory(b, rm, champ)
	if err != nil || len(back) == 0 || back[0].Version != "40" || back[0].PreviousVersion != "39" || back[len(back)-1].Version != fmt.Sprint(41-len(back)) {
		t.Errorf("history read back = %d entries, newest %+v, %v; want the newest first, none missing between", len(back), first(back), err)
	}
	rec := hist[0]
	rec.Approvers = []string{strings.Repeat("reviewer", 20), "octocat"}
	fitted := b.FitRecord(rec)
	if err := b.SetModelVersionTag(ctx, name, "2", promote.PromotionKey(b, champ), fitted.JSON()); err != nil {
		t.Fatalf("write the audit record (%d bytes): %v", len(fitted.JSON()), err)
	}
	mv, err := b.GetModelVersion(ctx, name, "2")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := mv.Tag(promote.PromotionKey(b, champ)); v != fitted.JSON() {
		t.Errorf("audit record read back = %.80q, want %.80q", v, fitted.JSON())
	}
}

// tagLimit: on a registry that limits the tags of an object, a version
// full of tags refuses one more, and still takes an update of one it has.
func tagLimit(t *testing.T, h *Harness) {
	ctx, b := ctxOf(t), h.Backend
	limit := b.MaxTagsPerObject()
	if limit <= 0 {
		t.Skip("the rules set no tag limit")
	}
	name := h.NewModel(t, 1)
	for i := range limit {
		if err := b.SetModelVersionTag(ctx, name, "1", fmt.Sprintf("k%02d", i), "v"); err != nil {
			t.Fatalf("tag %d of %d: %v", i+1, limit, err)
		}
	}
	if err := b.SetModelVersionTag(ctx, name, "1", "one_more", "v"); err == nil {
		t.Errorf("tag %d of %d accepted", limit+1, limit)
	}
	if err := b.SetModelVersionTag(ctx, name, "1", "k00", "w"); err != nil {
		t.Errorf("an update at the limit: %v", err)
	}
}

// stages: where the rules allow stages, a transition moves a version,
// archive_existing archives the other holders, and both get-latest-versions
// and latest_versions name the highest version per stage; where they do
// not, the stage calls fail and change nothing.
func stages(t *testing.T, h *Harness) {
	ctx, b := ctxOf(t), h.Backend
	name := h.NewModel(t, 2)
	prod := registry.StageProduction
	if b.ValidateTarget(checks.StageTarget(prod)) != nil {
		if _, err := b.TransitionStage(ctx, name, "1", prod, false); err == nil {
			t.Error("TransitionStage succeeded on a registry without stages")
		}
		if _, err := b.GetLatestVersions(ctx, name, []string{prod}); err == nil {
			t.Error("GetLatestVersions succeeded on a registry without stages")
		}
		return
	}
	mv, err := b.TransitionStage(ctx, name, "1", prod, false)
	if err != nil || mv.CurrentStage != prod {
		t.Fatalf("TransitionStage(1) = %+v, %v", mv, err)
	}
	mvs, err := b.GetLatestVersions(ctx, name, []string{prod})
	if err != nil || len(mvs) != 1 || mvs[0].Version != "1" {
		t.Errorf("GetLatestVersions(Production) = %+v, %v; want v1", mvs, err)
	}
	if _, err := b.TransitionStage(ctx, name, "2", prod, true); err != nil {
		t.Fatal(err)
	}
	old, err := b.GetModelVersion(ctx, name, "1")
	if err != nil || old.CurrentStage != registry.StageArchived {
		t.Errorf("v1 after archive_existing = %+v, %v; want Archived", old, err)
	}
	rm, err := b.GetRegisteredModel(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	var inProd []string
	for _, lv := range rm.LatestVersions {
		if lv.CurrentStage == prod {
			inProd = append(inProd, lv.Version)
		}
	}
	if !slices.Equal(inProd, []string{"2"}) {
		t.Errorf("latest_versions in Production = %v, want [2]", inProd)
	}
	_, err = b.TransitionStage(ctx, name, "9", prod, false)
	wantKind(t, "TransitionStage of a missing version", err, registry.ErrNotFound)
}

// missingRun: a run and a logged model that do not exist are not found.
func missingRun(t *testing.T, h *Harness) {
	if h.NoTracking {
		t.Skip("no tracking server")
	}
	ctx, b := ctxOf(t), h.Backend
	_, err := b.GetRun(ctx, strings.Repeat("0", 32))
	wantKind(t, "GetRun", err, registry.ErrNotFound)
	_, err = b.GetLoggedModel(ctx, "m-"+strings.Repeat("0", 32))
	wantKind(t, "GetLoggedModel", err, registry.ErrNotFound)
}

func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: err = %v, want %v", what, err, kind)
	}
}

func count(tags []registry.Tag, key string) int {
	n := 0
	for _, tg := range tags {
		if tg.Key == key {
			n++
		}
	}
	return n
}

func first(h []registry.Record) registry.Record {
	if len(h) == 0 {
		return registry.Record{}
	}
	return h[0]
}
