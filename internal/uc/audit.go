package uc

import (
	"cmp"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/mlreg/mlreg-action/internal/registry"
)

// The audit record on Unity Catalog, whose tag values hold at most 1,000
// characters (MaxTagValueChars). Every bound here is counted in bytes of
// UTF-8 (of the JSON, escapes included), never fewer than characters.
//
//   - The promotion tag on the promoted version holds the full Record, cut
//     to fit by FitRecord.
//   - The history tag on the registered model holds compact entries,
//     {"v","p","at","by","a"} (version, previous version, time, actor,
//     action), newest first; the oldest are dropped until the value fits
//     (EncodeCompactHistory). An entry is 55 to 110 bytes, so the tag holds
//     the last 10 to 15 moves. promote.TargetHistory.Rollback needs only v, p
//     and a; promote's Service.History adds the details (run URL, commit,
//     digests, verdict, approvers) of each entry, marked Compact, from its
//     version's promotion tag.
const (
	maxRecordBy       = 100 // actor
	maxRecordRunURL   = 300 // a GitHub run URL is under 250
	maxRecordManifest = 120 // the desired-state file's path in the repository
	maxRecordCommit   = 64  // a SHA-256 commit is 64 hex digits
	maxRecordApprover = 64  // a GitHub login is at most 39; an app's is name[bot]
	maxCompactBy      = 40  // the actor in a compact history entry
)

// FitRecord returns rec cut so that its JSON holds at most n bytes, the
// same way every time. Lengths are those of the JSON encoding (a newline
// takes 2 bytes, a < 6), and a cut value ends in "…" on a character
// boundary. First the actor is cut to 100 bytes, the run URL to 300, the
// commit to 64 and each approver to 64; then, while the JSON is too long,
// approvers are dropped from the end of the sorted list and counted in
// approvers_omitted; then the longest of run URL, actor and commit is
// halved. Versions, action, time, digests and verdict are never cut
// (together at most 340 bytes), so with the caps the record takes at most
// about 810 bytes before approvers, leaving room for five or more.
func FitRecord(rec registry.Record, n int) registry.Record {
	rec.By = truncateJSON(rec.By, maxRecordBy)
	rec.RunURL = truncateJSON(rec.RunURL, maxRecordRunURL)
	rec.Commit = truncateJSON(rec.Commit, maxRecordCommit)
	rec.Manifest = truncateJSON(rec.Manifest, maxRecordManifest)
	if len(rec.Approvers) > 0 {
		approvers := make([]string, len(rec.Approvers))
		for i, a := range rec.Approvers {
			approvers[i] = truncateJSON(a, maxRecordApprover)
		}
		rec.Approvers = approvers
	}
	for len(rec.JSON()) > n && len(rec.Approvers) > 0 {
		rec.Approvers = rec.Approvers[:len(rec.Approvers)-1]
		rec.ApproversOmitted++
	}
	for len(rec.JSON()) > n {
		f := &rec.RunURL
		for _, g := range []*string{&rec.By, &rec.Commit, &rec.Manifest} {
			if jsonLen(*g) > jsonLen(*f) {
				f = g
			}
		}
		if jsonLen(*f) <= len(ellipsis) {
			break // nothing left to cut; the registry refuses it and says why
		}
		*f = truncateJSON(*f, jsonLen(*f)/2)
	}
	return rec
}

// compactEntry is one entry of the history tag on Unity Catalog.
type compactEntry struct {
	Version  string `json:"v"`
	Previous string `json:"p,omitempty"` // absent: the target was unheld
	At       string `json:"at"`
	By       string `json:"by,omitempty"`
	Action   string `json:"a,omitempty"` // absent: promote
}

// EncodeCompactHistory renders h (newest first) as the history tag of
// Unity Catalog: compact entries, the actor cut to 40 bytes, dropping the
// oldest entries until the JSON holds at most n bytes (the newest entry is
// always kept).
func EncodeCompactHistory(h []registry.Record, n int) string {
	entries := make([]compactEntry, len(h))
	for i, r := range h {
		e := compactEntry{Version: r.Version, Previous: r.PreviousVersion, At: r.At, By: truncateJSON(r.By, maxCompactBy)}
		if r.Action != "" && r.Action != actionPromote {
			e.Action = r.Action
		}
		entries[i] = e
	}
	return registry.EncodeBounded(entries, n)
}

// ParseCompactHistory decodes a history tag written by EncodeCompactHistory
// into records (newest first) holding version, previous version, time, actor
// and action, each marked Compact. An empty value is an empty history.
func ParseCompactHistory(v string) ([]registry.Record, error) {
	if v == "" {
		return nil, nil
	}
	var entries []compactEntry
	if err := json.Unmarshal([]byte(v), &entries); err != nil {
		return nil, fmt.Errorf("failed to parse history tag: %w", err)
	}
	h := make([]registry.Record, len(entries))
	for i, e := range entries {
		h[i] = registry.Record{Version: e.Version, PreviousVersion: e.Previous, At: e.At, By: e.By,
			Action: cmp.Or(e.Action, actionPromote), Compact: true}
	}
	return h, nil
}

// actionPromote is promote.ActionPromote, the action a compact entry leaves out.
const actionPromote = "promote"

// ellipsis marks a value cut by truncate or truncateJSON.
const ellipsis = "…"

// jsonLen is the length of s encoded as a JSON string by encoding/json,
// quotes excluded (an escaped newline is 2 bytes, an escaped < is 6).
func jsonLen(s string) int {
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("failed to marshal a string: %v", err)) // strings always marshal
	}
	return len(b) - 2
}

// truncateJSON cuts s on a character boundary so that it takes at most n
// bytes once encoded as a JSON string, ending what it cut with an ellipsis.
func truncateJSON(s string, n int) string {
	if jsonLen(s) <= n {
		return s
	}
	budget := n - len(ellipsis)
	// The longest prefix that fits: escapes only add, so the length grows
	// with the prefix and a binary search over rune boundaries finds it.
	var starts []int
	for i := range s {
		starts = append(starts, i)
	}
	lo, hi := 0, len(starts) // keep s[:starts[k]] for k in [lo, hi)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if jsonLen(s[:starts[mid]]) <= budget {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return s[:starts[lo]] + ellipsis
}

// truncateBytes cuts s to at most n bytes of UTF-8 on a character
// boundary, ending what it cut with an ellipsis.
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:max(cut, 0)] + ellipsis
}
