package action_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

// basicAuth adds the admin's credentials to fixture requests.
type basicAuth struct{ user, pass string }

func (b basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.user, b.pass)
	return http.DefaultTransport.RoundTrip(r)
}

func TestAuthorizationWithBasicAuth(t *testing.T) {
	t.Parallel()
	mlflowtest.RequireServer(t, srv)
	s := startServer(t, mlflowtest.Options{
		ExtraArgs: []string{"--app-name", "basic-auth"},
		// MLflow 3.17 ships no default admin password: the server takes it from here.
		Env: []string{"MLFLOW_FLASK_SERVER_SECRET_KEY=test-secret-key-0123456789", "MLFLOW_AUTH_ADMIN_PASSWORD=Admin-Test-Pa55-9f3"},
	})
	admin := s.Fixtures()
	admin.HTTP = &http.Client{Transport: basicAuth{"admin", "Admin-Test-Pa55-9f3"}}
	ctx := t.Context()
	const user, pass = "reader", "Reader-Pa55word-x7"
	if err := admin.Do(ctx, http.MethodPost, "users/create", nil, map[string]string{"username": user, "password": pass}, nil); err != nil {
		t.Fatal(err)
	}
	model := mlflowtest.UniqueName(t, "auth")
	exp, err := admin.CreateExperiment(ctx, model)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateRegisteredModel(ctx, model); err != nil {
		t.Fatal(err)
	}
	run, err := admin.CreateRun(ctx, exp, mlflowtest.RunSpec{Metrics: map[string]float64{"val_auc": 0.95}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateRunVersion(ctx, model, run, nil); err != nil {
		t.Fatal(err)
	}
	// The server's default_permission is READ (basic_auth.ini), so the new user
	// holds exactly READ on the model: no grant is needed.
	in := func(password string) map[string]string {
		return map[string]string{"tracking-uri": s.URL, "model-name": model, "target-alias": "champion", "policy": "none",
			"mlflow-username": user, "mlflow-password": password}
	}

	// validate only reads: READ is enough.
	res := runAction(t, map[string]string{"tracking-uri": s.URL, "model-name": model, "target-alias": "champion",
		"policy": "none", "command": "validate", "mlflow-username": user, "mlflow-password": pass}, nil)
	if res.code != 0 {
		t.Fatalf("validate with READ: exit %d\n%s", res.code, res.stdout)
	}

	res = runAction(t, in(pass), nil)
	if res.code != 3 {
		t.Fatalf("promote with READ: exit %d, want 3\n%s", res.code, res.stdout)
	}
	if !strings.Contains(res.stdout, "EDIT permission on registered model") || !strings.Contains(res.stdout, "PERMISSION_DENIED") {
		t.Errorf("the error does not name the missing permission:\n%s", res.stdout)
	}
	if got := aliasOf(t, admin, model, "champion"); got != "" {
		t.Errorf("@champion = %q after a refused promotion", got)
	}
	if _, err := admin.ModelTags(ctx, "mlreg-lock."+model); err == nil {
		t.Errorf("the refused promotion left its lock behind")
	}

	res = runAction(t, in("wrong-password-5150"), nil)
	if res.code != 3 || !strings.Contains(res.stdout, "UNAUTHENTICATED") || !strings.Contains(res.stdout, "mlflow-password") {
		t.Errorf("wrong password: exit %d, want 3 with a message about the credentials:\n%s", res.code, res.stdout)
	}

	// The password appears only in the mask command that hides it.
	for _, r := range []result{res, runAction(t, in(pass), nil)} {
		all := r.stdout + r.stderr + r.summary + strings.Join(mapValues(r.outputs), "\n")
		for _, secret := range []string{pass, "wrong-password-5150"} {
			if n := strings.Count(all, secret); n > strings.Count(all, "::add-mask::"+secret) {
				t.Errorf("a password was printed outside its mask command:\n%s", all)
			}
		}
	}
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
