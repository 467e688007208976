package registry

import (
	"encoding/json"
	"fmt"
)

// Record is one audit entry: the promotion tag on a version, and an element
// of the history tag on the registered model. Backends store it within
// their limits (Rules.FitRecord, Rules.EncodeHistory).
type Record struct {
	Version         string   `json:"version,omitempty"`
	PreviousVersion string   `json:"previous_version"`
	Action          string   `json:"action,omitempty"` // promote, rollback
	At              string   `json:"at"`
	By              string   `json:"by"`
	RunURL          string   `json:"run_url"`
	Commit          string   `json:"commit"`
	PolicyDigest    string   `json:"policy_digest"`
	PlanDigest      string   `json:"plan_digest"`
	Verdict         string   `json:"verdict"`
	Approvers       []string `json:"approvers,omitempty"`
	// ApproversOmitted counts the approvers left out to fit the record in a
	// registry's tag value (Rules.FitRecord).
	ApproversOmitted int `json:"approvers_omitted,omitempty"`
	// Manifest is the desired-state file of a promotion from a manifest, and
	// ManifestEntry the digest of its entry in the manifest plan.
	Manifest      string `json:"manifest,omitempty"`
	ManifestEntry string `json:"manifest_entry,omitempty"`
	// Compact marks a history entry whose layout keeps only the version,
	// the previous version, the time, the actor and the action: the rest is
	// on the version's promotion tag.
	Compact bool `json:"-"`
}

// JSON renders the record as the tag value.
func (r Record) JSON() string {
	b, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("failed to marshal audit record: %v", err))
	}
	return string(b)
}

// EncodeBounded renders entries (newest first) as a JSON array, dropping
// the oldest until it holds at most bound bytes (the newest is always kept).
func EncodeBounded[T any](entries []T, bound int) string {
	for {
		b, err := json.Marshal(entries)
		if err != nil {
			panic(fmt.Sprintf("failed to marshal history: %v", err))
		}
		if len(b) <= bound || len(entries) <= 1 {
			return string(b)
		}
		entries = entries[:len(entries)-1]
	}
}

// ParseRecords decodes a JSON array of full records. "" is an empty history.
func ParseRecords(v string) ([]Record, error) {
	if v == "" {
		return nil, nil
	}
	var h []Record
	if err := json.Unmarshal([]byte(v), &h); err != nil {
		return nil, fmt.Errorf("failed to parse history tag: %w", err)
	}
	return h, nil
}
