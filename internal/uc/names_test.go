package uc_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mlreg/mlreg-action/internal/uc"
)

func TestValidateName(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, wantErr string
	}{
		{"main.ml.fraud", ""},
		{"Main.ML.Fraud_Model", ""},
		{"fraud", "three levels"},
		{"ml.fraud", "three levels"},
		{"a.b.c.d", "three levels"},
		{".ml.fraud", "catalog part is empty"},
		{"main.ml.", "model part is empty"},
		{"main.ml.fraud model", "space"},
		{"main.ml/x.fraud", "'/'"},
		{"main.ml." + strings.Repeat("m", 256), "longer than 255"},
	}
	for _, tc := range cases {
		err := uc.ValidateName(tc.name)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("ValidateName(%q) = %v, want nil", tc.name, err)
		case tc.wantErr != "" && (!errors.Is(err, uc.ErrInvalidName) || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ValidateName(%q) = %v, want ErrInvalidName mentioning %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestValidateTag(t *testing.T) {
	t.Parallel()
	cases := []struct {
		key, value, wantErr string
	}{
		{"mlreg_promotion_alias_champion", `{"verdict":"pass"}`, ""},
		{strings.Repeat("k", 255), strings.Repeat("é", 1000), ""},
		{"", "v", "empty"},
		{strings.Repeat("k", 256), "v", "256 characters"},
		{"mlreg.history", "v", "holds one of"},
		{"a,b", "v", "holds one of"},
		{"a-b", "v", "holds one of"},
		{"a=b", "v", "holds one of"},
		{"a/b", "v", "holds one of"},
		{"a:b", "v", "holds one of"},
		{" k", "v", "leading or trailing spaces"},
		{"k", strings.Repeat("x", 1001), "1001 characters"},
		{"k", "v ", "leading or trailing spaces"},
	}
	for _, tc := range cases {
		err := uc.ValidateTag(tc.key, tc.value)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("ValidateTag(%.20q) = %v, want nil", tc.key, err)
		case tc.wantErr != "" && (!errors.Is(err, uc.ErrTagLimit) || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ValidateTag(%.20q, %.20q) = %v, want ErrTagLimit mentioning %q", tc.key, tc.value, err, tc.wantErr)
		}
	}
}

func TestTagKey(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"mlreg.promotion.alias.champion": "mlreg_promotion_alias_champion",
		"mlreg.history.alias.champion":   "mlreg_history_alias_champion",
		"mlreg.lock.owner":               "mlreg_lock_owner",
		"mlreg_promotion_alias_champion": "mlreg_promotion_alias_champion",
		"mlreg.promotion.alias.latest_2": "mlreg_promotion_alias_latest_2",
	}
	for in, want := range cases {
		if got := uc.TagKey(in); got != want {
			t.Errorf("TagKey(%q) = %q, want %q", in, got, want)
		}
	}
	// Keys that differ only in a character UC refuses stay distinct, and
	// every result is a valid key, unchanged by a second pass.
	keys := []string{
		"mlreg.promotion.alias.prod-eu", "mlreg.promotion.alias.prod_eu", "mlreg.promotion.alias.prod:eu",
		"mlreg.promotion.alias.a b", "mlreg.slack." + strings.Repeat("x", 300), "mlreg.slack." + strings.Repeat("x", 301),
	}
	seen := map[string]string{}
	for _, k := range keys {
		got := uc.TagKey(k)
		if err := uc.ValidateTag(got, "v"); err != nil {
			t.Errorf("TagKey(%.40q) = %q is not a valid UC key: %v", k, got, err)
		}
		if again := uc.TagKey(got); again != got {
			t.Errorf("TagKey is not idempotent on %q: %q", got, again)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("TagKey(%.40q) and TagKey(%.40q) are both %q", k, other, got)
		}
		seen[got] = k
		if utf8.RuneCountInString(got) > uc.MaxTagKeyChars {
			t.Errorf("TagKey(%.40q) is %d characters", k, utf8.RuneCountInString(got))
		}
	}
	if got := uc.TagKey("mlreg.promotion.alias.prod-eu"); !strings.HasPrefix(got, "mlreg_promotion_alias_prod_eu_") || len(got) != len("mlreg_promotion_alias_prod_eu_")+8 {
		t.Errorf("TagKey(prod-eu) = %q, want the underscore form plus an 8-hex suffix", got)
	}
}

func TestLockName(t *testing.T) {
	t.Parallel()
	if got := uc.LockName("main.ml.fraud"); got != "main.ml.mlreg_lock_fraud" {
		t.Errorf("LockName = %q", got)
	}
	long := "main.ml." + strings.Repeat("m", 250)
	got := uc.LockName(long)
	if err := uc.ValidateName(got); err != nil {
		t.Errorf("LockName(long) = %q: %v", got, err)
	}
	if got == uc.LockName(long+"x") {
		t.Error("two long names share a lock")
	}
	// The takeover claim of a lock lives in the lock's schema, whatever the model's length.
	if got := uc.TakeoverName(long, "0123456789abcdef"); got != "main.ml.mlreg_takeover_0123456789abcdef" || uc.ValidateName(got) != nil {
		t.Errorf("TakeoverName = %q (%v)", got, uc.ValidateName(got))
	}
}
