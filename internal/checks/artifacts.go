package checks

import (
	"gopkg.in/yaml.v3"
)

// KindDigest is the check of a rule's artifacts.digest, as shown in reports.
const KindDigest = "model-digest"

// DigestRequired is the value of artifacts.digest: the model's files are
// hashed (OpenSSF model signing v1.0's digest, see internal/modeldigest).
const DigestRequired = "required"

// Artifacts checks the files of the candidate's model, not only its record
// in the registry. It is shaped for more checks beside Digest (a
// signature: block, next).
type Artifacts struct {
	Digest string // DigestRequired, or "" when not set
	Line   int
}

// NeedsModelDigest reports whether any of rules requires the candidate's
// model digest, so a caller hashes the model's files (and fills
// Subject.ModelDigest) before Evaluate only when a rule asks for it.
func NeedsModelDigest(rules []*Rule) bool {
	for _, r := range rules {
		if r.Artifacts != nil && r.Artifacts.Digest == DigestRequired {
			return true
		}
	}
	return false
}

var artifactsKeys = []string{"digest"}

func (p *parser) artifacts(n *yaml.Node) *Artifacts {
	fields, ok := p.mapping(n, "artifacts", artifactsKeys)
	if !ok {
		return nil
	}
	if len(fields.list) == 0 && !fields.incomplete() {
		p.errorf(n, "artifacts must set digest (write digest: required)")
		return nil
	}
	a := &Artifacts{Line: n.Line}
	if f, ok := fields.get("digest"); ok {
		if f.val.Kind == yaml.ScalarNode && f.val.ShortTag() == "!!bool" {
			p.errorf(f.val, "digest must be required, got %s (write digest: required)", describe(f.val))
		} else if s, ok := p.enum(f.val, "digest", DigestRequired); ok {
			a.Digest = s
		}
	}
	return a
}

// artifacts is the check of r.Artifacts: the candidate's model digest must
// have been computed (a caller that could not hash the files stops with a
// store error before Evaluate; a digest that is missing here fails closed).
func (e *evaluator) artifacts(r *Rule) []Check {
	a := r.Artifacts
	if a.Digest != DigestRequired {
		return nil
	}
	c := Check{Rule: r.Name, Kind: KindDigest, Name: "model files", Bound: "sha256 of every file", Line: a.Line}
	if d := e.in.Candidate.ModelDigest; d != "" {
		c.Value, c.Status = d, StatusPass
	} else {
		c.Value, c.Status, c.Reason = "not hashed", StatusFail, "the model's files were not hashed"
	}
	return []Check{c}
}
