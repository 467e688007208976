// Package promote resolves a candidate model version and the current holder of
// each target, evaluates the policy, and applies the plan with compare-and-set
// and an audit record kept in the registry itself. It also registers versions
// (register.go) and reads a target's recorded history (history.go).
//
// A Request holds values parsed where they entered (ParseVersion,
// ParseExpected, checks.Target): Plan does not parse them again. The policy's
// verdict is checks.Evaluate's, taken as it is. PreviousVersion is the one
// rule for the version a promotion replaced.
package promote
