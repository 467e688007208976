package uc

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/registry"
)

var champ = checks.AliasTarget("champion")

type Record = registry.Record

// TestRulesTagKeys keeps the keys of every tag mlreg writes, as each
// registry stores them.
func TestRulesTagKeys(t *testing.T) {
	t.Parallel()
	prodEU := checks.AliasTarget("prod-eu")
	stage := checks.StageTarget("Production")
	keys := func(r registry.Rules) []string {
		return []string{promote.PromotionKey(r, champ), promote.HistoryKey(r, champ), promote.ReplacedKey(r, champ),
			promote.PromotionKey(r, stage), promote.HistoryKey(r, prodEU),
			r.TagKey(promote.TagLockOwner), r.TagKey(promote.TagLockExpires), r.TagKey(promote.TagLockToken), r.LockName("m")}
	}
	oss := []string{"mlreg.promotion.alias.champion", "mlreg.history.alias.champion", "mlreg.replaced.alias.champion",
		"mlreg.promotion.stage.Production", "mlreg.history.alias.prod-eu",
		"mlreg.lock.owner", "mlreg.lock.expires", "mlreg.lock.token", "mlreg-lock.m"}
	if diff := cmp.Diff(oss, keys(mlflow.Rules{})); diff != "" {
		t.Errorf("OSS keys (-want +got):\n%s", diff)
	}
	got := keys(Rules{})
	want := []string{"mlreg_promotion_alias_champion", "mlreg_history_alias_champion", "mlreg_replaced_alias_champion",
		"mlreg_promotion_stage_Production", TagKey("mlreg.history.alias.prod-eu"),
		"mlreg_lock_owner", "mlreg_lock_expires", "mlreg_lock_token", "mlreg_lock_m"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UC keys (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(got[4], "mlreg_history_alias_prod_eu_") || len(got[4]) != len("mlreg_history_alias_prod_eu_")+8 {
		t.Errorf("UC key of a dash alias = %q, want mlreg_history_alias_prod_eu_<8 hex>", got[4])
	}
	for _, k := range got[:len(got)-1] {
		if err := ValidateTag(k, "v"); err != nil {
			t.Errorf("UC key: %v", err)
		}
	}
	if n := (Rules{}).LockName("main.ml.fraud"); n != "main.ml.mlreg_lock_fraud" {
		t.Errorf("UC lock of main.ml.fraud = %q", n)
	}
	if (mlflow.Rules{}).ValidateTarget(stage) != nil || (Rules{}).ValidateTarget(stage) == nil {
		t.Error("OSS has stages, UC has none")
	}
	if (mlflow.Rules{}).MaxTagsPerObject() != 0 || (Rules{}).MaxTagsPerObject() != 50 {
		t.Error("OSS has no tag limit, UC 50 tags an object")
	}
}

func TestRulesValidate(t *testing.T) {
	t.Parallel()
	type Request = promote.Request
	cases := []struct {
		name  string
		rules registry.Rules
		req   Request
		want  []string // one per error; nil = valid
		is    error
	}{
		{"UC three-level", Rules{}, Request{Model: "main.ml.fraud", Target: checks.Target{Alias: "champion"}}, nil, nil},
		{"UC two-level", Rules{}, Request{Model: "ml.fraud", Target: checks.Target{Alias: "champion"}},
			[]string{`invalid input: input model-name: model name "ml.fraud": not a Unity Catalog model name: Unity Catalog names a model catalog.schema.model (three levels separated by dots)`},
			ErrInvalidName},
		{"UC empty", Rules{}, Request{Target: checks.Target{Alias: "champion"}},
			[]string{"invalid input: input model-name is required"}, promote.ErrInvalid},
		{"UC stage", Rules{}, Request{Model: "main.ml.fraud", Target: checks.Target{Stage: "Production"}},
			[]string{`invalid input: input target-stage: Unity Catalog has no model stages (got "Production"); use target-alias`}, promote.ErrInvalid},
		{"UC every problem", Rules{}, Request{Model: "fraud", Target: checks.Target{Alias: "champion", Stage: "Production"}},
			[]string{"input model-name", "input target-stage: Unity Catalog has no model stages"}, promote.ErrInvalid},
		{"OSS two-level is fine", mlflow.Rules{}, Request{Model: "ml.fraud", Target: checks.Target{Stage: "Production"}}, nil, nil},
	}
	for _, tc := range cases {
		err := tc.req.Validate(tc.rules)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, tc.is) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.is)
			continue
		}
		errs := unjoinErr(err)
		if len(errs) != len(tc.want) {
			t.Errorf("%s: %d errors %q, want %d", tc.name, len(errs), errs, len(tc.want))
			continue
		}
		for i, w := range tc.want {
			if !strings.Contains(errs[i].Error(), w) {
				t.Errorf("%s: error %d = %q, want it to say %q", tc.name, i, errs[i], w)
			}
		}
	}
}

func unjoinErr(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// largest is a record whose fields that are never cut are as long as they
// get: ten-digit versions, the longer action and verdict, both digests.
func largest() Record {
	return Record{Version: "9999999999", PreviousVersion: "9999999998", Action: promote.ActionRollback,
		At: "2026-12-31T23:59:59Z", PolicyDigest: "sha256:" + strings.Repeat("f", 64),
		PlanDigest: "sha256:" + strings.Repeat("e", 64), Verdict: checks.VerdictSkipped}
}

func TestFitRecord(t *testing.T) {
	t.Parallel()
	logins := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("reviewer-%02d-with-a-long-login", i))
		}
		return out
	}
	typical := largest()
	typical.By, typical.RunURL, typical.Commit = "octocat", "https://github.com/acme/fraud/actions/runs/1234567890/attempts/1", strings.Repeat("a", 40)
	typical.Approvers = logins(3)
	if got := FitRecord(typical, 1000); !cmp.Equal(got, typical) {
		t.Errorf("a typical record was changed: %+v", got)
	}

	hostile := largest()
	hostile.By = "o'brien \"root\"\n<script>" + strings.Repeat("🚀", 500)
	hostile.RunURL = "https://github.com/acme/fraud/actions/runs/1?" + strings.Repeat("&<>\"\n✓", 400)
	hostile.Commit = strings.Repeat("deadbeef", 50)
	hostile.Approvers = logins(60)
	capped := largest()
	capped.By, capped.RunURL, capped.Commit = strings.Repeat("<", 1000), strings.Repeat("\n", 1000), strings.Repeat("\u2028", 1000)

	for name, rec := range map[string]Record{"hostile": hostile, "capped": capped} {
		got := FitRecord(rec, 1000)
		js := got.JSON()
		t.Logf("%s: %d bytes, %d approvers kept, %d omitted", name, len(js), len(got.Approvers), got.ApproversOmitted)
		if len(js) > 1000 || !utf8.ValidString(js) {
			t.Errorf("%s: %d bytes (valid UTF-8: %v), want at most 1000", name, len(js), utf8.ValidString(js))
		}
		var back Record
		if err := json.Unmarshal([]byte(js), &back); err != nil || !cmp.Equal(back, got) {
			t.Errorf("%s: the record does not read back: %v", name, err)
		}
		if again := FitRecord(rec, 1000); !cmp.Equal(again, got) {
			t.Errorf("%s: not deterministic", name)
		}
		for _, f := range []struct{ name, full, cut string }{{"by", rec.By, got.By}, {"run_url", rec.RunURL, got.RunURL}, {"commit", rec.Commit, got.Commit}} {
			if !strings.HasSuffix(f.cut, "…") || !strings.HasPrefix(f.full, strings.TrimSuffix(f.cut, "…")) {
				t.Errorf("%s: %s = %q, want a prefix of the value ending in …", name, f.name, f.cut)
			}
		}
		if len(got.Approvers)+got.ApproversOmitted != len(rec.Approvers) || !slices.Equal(got.Approvers, rec.Approvers[:len(got.Approvers)]) {
			t.Errorf("%s: approvers %v + %d omitted, want a prefix of %v and the count of the rest", name, got.Approvers, got.ApproversOmitted, rec.Approvers)
		}
		if got.Version != rec.Version || got.PreviousVersion != rec.PreviousVersion || got.PlanDigest != rec.PlanDigest ||
			got.PolicyDigest != rec.PolicyDigest || got.At != rec.At || got.Verdict != rec.Verdict || got.Action != rec.Action {
			t.Errorf("%s: a field that is never cut changed: %+v", name, got)
		}
	}
	if got := FitRecord(hostile, 1000); len(got.Approvers) < 4 {
		t.Errorf("with every other field at its cap, %d approvers are kept, want at least 4", len(got.Approvers))
	}
	if n := len(largest().JSON()); n > 340 {
		t.Errorf("the fields never cut take %d bytes, more than the 340 documented", n)
	}
}

func TestCompactHistory(t *testing.T) {
	t.Parallel()
	var h []Record // newest first
	for i := 100; i >= 1; i-- {
		r := Record{Version: fmt.Sprint(i), PreviousVersion: fmt.Sprint(i - 1), Action: promote.ActionPromote,
			At: fmt.Sprintf("2026-03-01T09:%02d:%02dZ", i/60, i%60), By: fmt.Sprintf("release-bot-%03d", i),
			RunURL: "https://github.com/acme/fraud/actions/runs/1", Verdict: "pass"}
		if i%10 == 0 {
			r.Action = promote.ActionRollback
		}
		h = append(h, r)
	}
	h[len(h)-1].PreviousVersion = ""
	enc := EncodeCompactHistory(h, 1000)
	if len(enc) > 1000 {
		t.Fatalf("history is %d bytes", len(enc))
	}
	back, err := ParseCompactHistory(enc)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("100 entries keep the newest %d in %d bytes (%.0f bytes an entry); the first: %s", len(back), len(enc),
		float64(len(enc))/float64(len(back)), enc[:strings.Index(enc, "},")+1])
	if len(back) < 12 {
		t.Errorf("kept %d entries, want at least 12", len(back))
	}
	for i, r := range back {
		want := Record{Version: h[i].Version, PreviousVersion: h[i].PreviousVersion, Action: h[i].Action, At: h[i].At, By: h[i].By, Compact: true}
		if !cmp.Equal(r, want) {
			t.Errorf("entry %d = %+v, want %+v", i, r, want)
		}
	}
	th := promote.TargetHistory{Target: champ, Current: back[0].Version, Recorded: back[0].Version, Entries: back}
	if to, err := th.Rollback("m", promote.RerunOf{}); err != nil || to.Version != "99" {
		t.Errorf("Rollback = %+v, %v; want v99", to, err)
	}
	if !strings.HasPrefix(enc, `[{"v":"100","p":"99","at":"2026-03-01T09:01:40Z","by":"release-bot-100","a":"rollback"},{"v":"99","p":"98",`) {
		t.Errorf("layout = %.120s", enc)
	}

	// A hostile actor is cut to 40 bytes of JSON; the entry always fits.
	hostile := []Record{{Version: "1", At: "2026-03-01T09:00:00Z", By: strings.Repeat("<\n\"🚀", 300)}}
	enc = EncodeCompactHistory(hostile, 1000)
	back, err = ParseCompactHistory(enc)
	if err != nil || len(back) != 1 || !strings.HasSuffix(back[0].By, "…") || jsonLen(back[0].By) > maxCompactBy || back[0].PreviousVersion != "" {
		t.Errorf("hostile entry = %q (%+v, %v)", enc, back, err)
	}
	if h, err := ParseCompactHistory(""); err != nil || h != nil {
		t.Errorf("empty history = %v, %v", h, err)
	}
	if _, err := ParseCompactHistory(`{"v": "7\"]}`); err == nil {
		t.Error("a broken history parsed")
	}
}

func TestTruncateJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdefghij", 10, "abcdefghij"},
		{"abcdefghijk", 10, "abcdefg…"},
		{"ab cdefghijk", 6, "ab …"},
		{"<<<<", 12, "<…"},             // < takes 6 bytes
		{"\n\n\n\n\n\n", 9, "\n\n\n…"}, // \n takes 2
		{"ééééé", 8, "éé…"},            // never inside a character
		{"🚀🚀🚀", 10, "🚀…"},
		{"🚀🚀🚀", 2, "…"},
	}
	for _, tc := range cases {
		got := truncateJSON(tc.in, tc.n)
		if got != tc.want {
			t.Errorf("truncateJSON(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
		if tc.n >= len(ellipsis) && jsonLen(got) > tc.n {
			t.Errorf("truncateJSON(%q, %d) takes %d bytes", tc.in, tc.n, jsonLen(got))
		}
	}
	if got := truncateBytes(strings.Repeat("é", 600), 1000); len(got) > 1000 || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("truncateBytes = %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
}
