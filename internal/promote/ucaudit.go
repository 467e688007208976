package promote

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/uc"
)

// The audit record on Unity Catalog, whose tag values hold at most 1,000
// characters (uc.MaxTagValueChars). Every bound here is counted in bytes of
// UTF-8 (of the JSON, escapes included), never fewer than characters.
//
//   - The promotion tag on the promoted version holds the full Record, cut
//     to fit by FitRecord.
//   - The history tag on the registered model holds compact entries,
//     {"v","p","at","by","a"} (version, previous version, time, actor,
//     action), newest first; the oldest are dropped until the value fits
//     (EncodeCompactHistory). An entry is 55 to 110 bytes, so the tag holds
//     the last 10 to 15 moves. TargetHistory.Rollback needs only v, p and a;
//     Service.History adds the details (run URL, commit, digests, verdict,
//     approvers) of each entry from its version's promotion tag.
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
func FitRecord(rec Record, n int) Record {
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
func EncodeCompactHistory(h []Record, n int) string {
	entries := make([]compactEntry, len(h))
	for i, r := range h {
		e := compactEntry{Version: r.Version, Previous: r.PreviousVersion, At: r.At, By: truncateJSON(r.By, maxCompactBy)}
		if r.Action != "" && r.Action != ActionPromote {
			e.Action = r.Action
		}
		entries[i] = e
	}
	for {
		b, err := json.Marshal(entries)
		if err != nil {
			panic(fmt.Sprintf("failed to marshal history: %v", err))
		}
		if len(b) <= n || len(entries) <= 1 {
			return string(b)
		}
		entries = entries[:len(entries)-1]
	}
}

// ParseCompactHistory decodes a history tag written by EncodeCompactHistory
// into records (newest first) holding version, previous version, time, actor
// and action. An empty value is an empty history.
func ParseCompactHistory(v string) ([]Record, error) {
	if v == "" {
		return nil, nil
	}
	var entries []compactEntry
	if err := json.Unmarshal([]byte(v), &entries); err != nil {
		return nil, fmt.Errorf("failed to parse history tag: %w", err)
	}
	h := make([]Record, len(entries))
	for i, e := range entries {
		h[i] = Record{Version: e.Version, PreviousVersion: e.Previous, At: e.At, By: e.By,
			Action: cmp.Or(e.Action, ActionPromote)}
	}
	return h, nil
}

// detailHistory replaces each compact entry of a Unity Catalog history with
// the full record on its version's promotion tag, when that record is the
// same move (same time and previous version): a version promoted to the
// target again since keeps only its newest record, so older moves stay
// compact, as do moves of versions deleted since. Each version is read once.
func (s *Service) detailHistory(ctx context.Context, model string, t checks.Target, h []Record) error {
	key := s.Dialect.PromotionTagKey(t)
	read := map[string]*Record{}
	for i, e := range h {
		full, seen := read[e.Version]
		if !seen {
			mv, err := s.Reg.GetModelVersion(ctx, model, e.Version)
			switch {
			case mlflow.IsNotFound(err):
			case err != nil:
				return fmt.Errorf("failed to read v%s of %q for its audit record: %w", e.Version, model, err)
			default:
				if v, ok := mv.Tag(key); ok {
					var rec Record
					if json.Unmarshal([]byte(v), &rec) == nil {
						full = &rec
					}
				}
			}
			read[e.Version] = full
		}
		if full != nil && full.At == e.At && full.PreviousVersion == e.PreviousVersion {
			rec := *full
			rec.Version, rec.Action = e.Version, cmp.Or(rec.Action, e.Action)
			h[i] = rec
		}
	}
	return nil
}

// ErrTagLimit is wrapped by the error of a promotion that would give an
// object more tags than the registry allows; nothing is changed.
var ErrTagLimit = uc.ErrTagLimit

// checkTagRoom makes sure, before anything moves, that the registered model
// and the candidate can take the new tags of this promotion (on Unity
// Catalog, at most uc.MaxTagsPerObject per object): otherwise the alias
// would move and the audit record could not be written.
func (s *Service) checkTagRoom(ctx context.Context, plan *Plan, holders []string) error {
	if !s.Dialect.uc {
		return nil
	}
	rm, err := s.Reg.GetRegisteredModel(ctx, plan.Model)
	if err != nil {
		return err // it names the model
	}
	var modelKeys, versionKeys []string
	for i, t := range plan.Targets {
		if holders[i] == plan.Candidate.Version {
			continue
		}
		modelKeys = append(modelKeys, s.Dialect.HistoryTagKey(t.Target))
		versionKeys = append(versionKeys, s.Dialect.PromotionTagKey(t.Target))
	}
	room := func(what string, tags []mlflow.Tag, keys []string) error {
		n := len(tags)
		for _, k := range keys {
			if !slices.ContainsFunc(tags, func(t mlflow.Tag) bool { return t.Key == k }) {
				n++
			}
		}
		if n > uc.MaxTagsPerObject {
			return fmt.Errorf("%s has %d tags and this promotion adds %s: %w (at most %d tags per object); remove a tag of yours and rerun",
				what, len(tags), strings.Join(keys, ", "), ErrTagLimit, uc.MaxTagsPerObject)
		}
		return nil
	}
	if err := room(fmt.Sprintf("registered model %q", plan.Model), rm.Tags, modelKeys); err != nil {
		return err
	}
	return room(fmt.Sprintf("%q v%s", plan.Model, plan.Candidate.Version), plan.candidate.Tags, versionKeys)
}
