package checks

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// artifactsBadCases join badCases, so that the parser's messages, the
// schema's verdict and the fuzz seeds cover them like every other bad policy.
var artifactsBadCases = []badCase{
	{
		name:   "artifacts empty",
		src:    head + "    artifacts: {}\n",
		want:   []wantErr{{6, 16, "artifacts must set digest (write digest: required)"}},
		schema: true,
	},
	{
		name:   "artifacts digest not required",
		src:    head + "    artifacts:\n      digest: optional\n",
		want:   []wantErr{{7, 15, `digest must be one of required, got "optional"`}},
		schema: true,
	},
	{
		name:   "artifacts digest a boolean",
		src:    head + "    artifacts:\n      digest: true\n",
		want:   []wantErr{{7, 15, "digest must be required, got a boolean (true) (write digest: required)"}},
		schema: true,
	},
	{
		name:   "artifacts key typo",
		src:    head + "    artifacts:\n      digset: required\n",
		want:   []wantErr{{7, 7, `unknown key "digset" in artifacts (did you mean "digest"?)`}},
		schema: true,
	},
	{
		name:   "digest outside artifacts",
		src:    head + "    digest: required\n",
		want:   []wantErr{{6, 5, `unknown key "digest" in rule ("digest" belongs under artifacts)`}},
		schema: true,
	},
	{
		name:   "artifacts a string",
		src:    head + "    artifacts: required\n",
		want:   []wantErr{{6, 16, `artifacts must be a mapping, got the string "required"`}},
		schema: true,
	},
	{
		name:   "artifacts in a prompt rule",
		src:    "version: 1\nrules:\n  - name: p\n    applies-to: {alias: production, kind: prompt}\n    artifacts: {digest: required}\n",
		want:   []wantErr{{5, 5, "artifacts cannot be checked in a rule for prompts (applies-to kind: prompt): a prompt version has no model files"}},
		schema: true,
	},
}

func init() { badCases = append(badCases, artifactsBadCases...) }

func TestParseArtifacts(t *testing.T) {
	t.Parallel()
	src := head + "    artifacts:\n      digest: required\n  - name: other\n    applies-to: {stage: Production}\n"
	pol, err := Parse("policy.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&Artifacts{Digest: DigestRequired, Line: 7}, pol.Rules[0].Artifacts); diff != "" {
		t.Errorf("artifacts (-want +got):\n%s", diff)
	}
	if pol.Rules[1].Artifacts != nil {
		t.Errorf("a rule without artifacts has %+v", pol.Rules[1].Artifacts)
	}
	if !NeedsModelDigest(pol.Rules) || NeedsModelDigest(pol.Rules[1:]) {
		t.Error("NeedsModelDigest does not follow the rules")
	}
}

func TestEvaluateModelDigest(t *testing.T) {
	t.Parallel()
	pol, err := Parse("policy.yml", []byte(head+"    artifacts: {digest: required}\n"))
	if err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + "ab12" + "0000000000000000000000000000000000000000000000000000000000"
	for _, tc := range []struct {
		name    string
		digest  string
		verdict string
		want    Check
	}{
		{"hashed", digest, VerdictPass, Check{Rule: "r", Kind: KindDigest, Name: "model files", Value: digest,
			Bound: "sha256 of every file", Status: StatusPass, Line: 6}},
		{"not hashed: fails closed", "", VerdictFail, Check{Rule: "r", Kind: KindDigest, Name: "model files", Value: "not hashed",
			Bound: "sha256 of every file", Status: StatusFail, Reason: "the model's files were not hashed", Line: 6}},
	} {
		for _, mode := range []Mode{ModePromote, ModeRollback} {
			res, err := Evaluate(t.Context(), pol.Rules, Input{Model: "m", Target: AliasTarget("champion"), Mode: mode,
				Candidate: &Subject{Version: "2", ModelDigest: tc.digest}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tc.verdict {
				t.Errorf("%s (mode %d): verdict %s, want %s", tc.name, mode, res.Verdict, tc.verdict)
			}
			if diff := cmp.Diff([]Check{tc.want}, res.Checks); diff != "" {
				t.Errorf("%s (mode %d): checks (-want +got):\n%s", tc.name, mode, diff)
			}
		}
	}
}
