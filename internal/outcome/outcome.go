// Package outcome is the one vocabulary of what a command did, or would do,
// with a target: a single promotion's report and each entry of a
// desired-state file say the same thing with the same Outcome.
//
// An Outcome has two spellings. Its value, the code, is what machines read:
// the changes output of a manifest run (would-change, blocked, promoted,
// failed, conflict: README's Outputs table) and the outcome of each entry in
// the report file. Label is what people read, in every report, and the
// outcome of the report file itself ("would promote", "blocked by policy").
package outcome

// Outcome is what a command did with a target.
type Outcome string

// Outcomes, by their code.
const (
	Promoted    Outcome = "promoted"     // the version now holds the target
	RolledBack  Outcome = "rolled-back"  // rollback moved the target back to the version
	WouldChange Outcome = "would-change" // a passing plan not applied: validate, a dry run, an apply that refused the plan
	InPlace     Outcome = "unchanged"    // the version holds the target already: nothing to do
	Blocked     Outcome = "blocked"      // the plan fails the policy
	Conflict    Outcome = "conflict"     // the target moved since the plan, or a concurrent promotion won
	Failed      Outcome = "failed"       // a registry error (or any other) stopped it
	Registered  Outcome = "registered"   // register: a new version
	Reused      Outcome = "reused"       // register: the version this workflow run registered before
	Recorded    Outcome = "recorded"     // history: the holder is the last recorded one
	Drift       Outcome = "drift"        // history, manifests: a target was moved outside mlreg-action
)

var labels = map[Outcome]string{
	Promoted:    "promoted",
	RolledBack:  "rolled back",
	WouldChange: "would promote",
	InPlace:     "already in place",
	Blocked:     "blocked by policy",
	Conflict:    "conflict",
	Failed:      "error",
	Registered:  "registered",
	Reused:      "already registered",
	Recorded:    "recorded",
	Drift:       "drift",
}

// Label is the outcome as reports write it: "would promote", "already in
// place", "blocked by policy"; "" for the zero Outcome.
func (o Outcome) Label() string {
	if l, ok := labels[o]; ok {
		return l
	}
	return string(o)
}
