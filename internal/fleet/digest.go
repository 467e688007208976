package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/mlreg/mlreg-action/internal/checks"
)

// digestFormat names the layout hashed below; a change of layout changes it.
const digestFormat = "mlreg-manifest-plan/1"

// entryView is what an entry's digest covers: the entry, the holder seen,
// and for a change the verdict and every check's evidence from the registry.
//
// It leaves out what differs between a validate on the pull request and the
// promote after the merge of the same registry state: the time (a run age's
// value, which grows; its pass or fail stays in), the approval checks (the
// reviews come after the validate; promote checks them when it applies), the
// actor, run, commit and command, and any error's text (an error entry
// applies nothing). The verdict is taken without the approval checks.
type entryView struct {
	Model   string      `json:"model"`
	Kind    string      `json:"kind"`
	Target  string      `json:"target"`
	Desired string      `json:"desired"`
	Holder  string      `json:"holder"`
	Status  string      `json:"status"`
	Verdict string      `json:"verdict,omitempty"`
	Rules   []string    `json:"rules,omitempty"`
	Checks  []checkView `json:"checks,omitempty"`
	Error   string      `json:"error,omitempty"` // invalid or registry
}

type checkView struct {
	Rule     string `json:"rule"`
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Value    string `json:"value"`
	Bound    string `json:"bound"`
	Champion string `json:"champion,omitempty"`
	Delta    string `json:"delta,omitempty"`
	Status   string `json:"status"`
}

func entryDigest(e *Entry) string {
	v := entryView{
		Model: e.Model, Kind: e.Kind, Target: e.Label(), Desired: e.Desired, Holder: e.Holder, Status: e.Status,
	}
	switch e.Status {
	case StatusChange:
		v.Verdict = checks.VerdictPass
		if e.Plan.PolicyDigest == "" {
			v.Verdict = checks.VerdictSkipped
		}
		v.Rules = e.Plan.Rules
		for _, c := range e.Plan.Checks {
			if c.Kind == checks.KindApproval {
				continue
			}
			if c.Status == checks.StatusFail {
				v.Verdict = checks.VerdictFail
			}
			cv := checkView{Rule: c.Rule, Kind: c.Kind, Name: c.Name, Value: c.Value, Bound: c.Bound,
				Champion: c.Champion, Delta: c.Delta, Status: c.Status}
			if c.Kind == checks.KindRunAge {
				cv.Value = ""
			}
			v.Checks = append(v.Checks, cv)
		}
	case StatusError:
		v.Error = "registry"
		if isInvalid(e.Err) {
			v.Error = "invalid"
		}
	}
	return hashJSON(v)
}

// planView is what the plan digest covers: the policy and every entry's
// digest, in manifest order.
type planView struct {
	Format       string   `json:"format"`
	PolicyDigest string   `json:"policy_digest"`
	Entries      []string `json:"entries"`
}

// digest computes the plan digest, with the entry digests of subst (by
// entry index) in place of the entries' own.
func (fp *FleetPlan) digest(subst map[int]string) string {
	v := planView{Format: digestFormat, PolicyDigest: fp.PolicyDigest, Entries: make([]string, len(fp.Entries))}
	for i, e := range fp.Entries {
		v.Entries[i] = e.Digest
		if d, ok := subst[i]; ok {
			v.Entries[i] = d
		}
	}
	return hashJSON(v)
}

// hashJSON is sha256 over v's JSON. encoding/json writes struct fields in
// declaration order, so equal values give equal digests.
func hashJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// The views hold only strings; this cannot happen.
		panic(fmt.Sprintf("failed to marshal plan digest input: %v", err))
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
