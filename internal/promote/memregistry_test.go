package promote

import (
	"net"
	"strings"
	"syscall"

	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/registry"
	"github.com/mlreg/mlreg-action/internal/testing/memregistry"
)

// memRegistry is the in-memory registry of internal/testing/memregistry
// (MLflow's rules; the parity suite holds it to the real server) with the
// one model the unit tests of promote work on, and helpers that read and
// change that model. Integration tests in internal/action run against a
// real server.
type memRegistry struct {
	*memregistry.Registry
	model string
}

var _ registry.Registrar = (*memRegistry)(nil)

// newMem is model with the versions given, under their numbers; a version
// with a run id gets a FINISHED run of that id.
func newMem(model string, vers ...mlflow.ModelVersion) *memRegistry {
	r := memregistry.New(mlflow.Rules{})
	r.CreateModel(model)
	for _, v := range vers {
		r.PutVersion(model, v)
	}
	return &memRegistry{Registry: r, model: model}
}

// Errors as the client returns them.
var (
	errNotFound = &mlflow.Error{StatusCode: 404, Code: "RESOURCE_DOES_NOT_EXIST", Message: "not found"}
	// errDenied is a refusal: a 4xx answer that retrying does not change.
	errDenied = &mlflow.Error{Method: "POST", StatusCode: 403, Code: mlflow.CodePermissionDenied, Message: "Permission denied"}
	// errUnavailable is what is left after the client's retries of a 503.
	errUnavailable = &mlflow.Error{Method: "POST", StatusCode: 503, Code: mlflow.CodeInternalError, Message: "Service Unavailable"}
	// errReset is a connection reset after the request went out: the server may have executed it.
	errReset = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	// errDial is a request that never left: the server did nothing.
	errDial = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
)

func (m *memRegistry) alias(a string) string    { return m.Alias(m.model, a) }
func (m *memRegistry) setAlias(a, v string)     { m.SetAliasDirect(m.model, a, v) }
func (m *memRegistry) unsetAlias(a string)      { m.DeleteAliasDirect(m.model, a) }
func (m *memRegistry) setStage(v, st string)    { m.SetStage(m.model, v, st) }
func (m *memRegistry) modelTag(k string) string { return m.ModelTag(m.model, k) }
func (m *memRegistry) versionTag(v, k string) string {
	return m.VersionTag(m.model, v, k)
}

// version is a copy of a version of the model (a zero version when it does not exist).
func (m *memRegistry) version(v string) *mlflow.ModelVersion {
	if mv, ok := m.Version(m.model, v); ok {
		return mv
	}
	return &mlflow.ModelVersion{}
}

func (m *memRegistry) versionCount() int { return len(m.Versions(m.model)) }

// present reports whether the model exists.
func (m *memRegistry) present() bool {
	_, ok := m.Model(m.model)
	return ok
}

func (m *memRegistry) fail(method, match string, call int, err error) {
	m.Fail(method, match, call, err)
}
func (m *memRegistry) loseAnswer(method, match string, call int, err error) {
	m.LoseAnswer(method, match, call, err)
}

// before runs hook on the registry right before the call-th call of method.
func (m *memRegistry) before(method, match string, call int, hook func(m *memRegistry)) {
	m.Before(method, match, call, func() { hook(m) })
}

// calls are the calls made so far as "Method detail", a tag of another
// model than m.model (the lock) as "SetRegisteredModelTag <name> <key>".
func (m *memRegistry) calls() []string {
	var out []string
	for _, c := range m.CallLog() {
		if c.Method == "SetRegisteredModelTag" && c.Model != m.model {
			c.Detail = c.Model + " " + c.Detail
		}
		out = append(out, c.String())
	}
	return out
}

// callsOf returns the calls (as calls writes them) that start with prefix.
func (m *memRegistry) callsOf(prefix string) []string {
	var out []string
	for _, c := range m.calls() {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// writes returns the calls (as calls writes them) that change the registry.
func (m *memRegistry) writes() []string {
	var out []string
	for _, c := range m.calls() {
		for _, w := range []string{"Set", "Create", "Delete", "Transition"} {
			if strings.HasPrefix(c, w) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// updateVersion changes a version of the model with fn.
func (m *memRegistry) updateVersion(v string, fn func(mv *mlflow.ModelVersion)) {
	mv := m.version(v)
	fn(mv)
	m.PutVersion(m.model, *mv)
}

// setLogged adds the logged model id.
func (m *memRegistry) setLogged(id string, lm mlflow.LoggedModel) {
	lm.Info.ModelID = id
	m.AddLoggedModel(lm)
}

// updateRun changes a run with fn.
func (m *memRegistry) updateRun(id string, fn func(r *mlflow.Run)) {
	r, _ := m.Run(id)
	r.Info.RunID = id
	fn(&r)
	m.AddRun(r)
}

func tagMap(tags []mlflow.Tag) map[string]string {
	out := map[string]string{}
	for _, t := range tags {
		out[t.Key] = t.Value
	}
	return out
}
