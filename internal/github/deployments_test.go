package github_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/github"
	"github.com/mlreg/mlreg-action/internal/testing/githubfake"
)

const (
	runURL     = "https://github.com/acme/models/actions/runs/77"
	versionURL = "https://mlflow.example.com/#/models/fraud-model/versions/15"
)

func promotion(env string, production bool, state string) github.Deployment {
	return github.Deployment{
		Ref: mergeSHA, Environment: env, Production: production,
		Payload:    map[string]any{"tool": "mlreg-action", "model": "fraud-model", "version": "15"},
		InProgress: "Promoting fraud-model v15", Final: "fraud-model v15 " + state,
		State: state, LogURL: runURL, EnvironmentURL: versionURL,
		Previous: "12", Replaced: "Replaced: fraud-model v15 " + state,
	}
}

// states lists each deployment as "id environment [states]", oldest first.
func states(f *githubfake.Server) []string {
	var out []string
	for _, d := range f.Deployments() {
		var states []string
		for _, s := range d.Statuses {
			states = append(states, s.State)
		}
		out = append(out, fmt.Sprintf("%d %s %v", d.ID, d.Environment, states))
	}
	return out
}

// A production environment keeps every deployment active (GitHub's
// auto_inactive leaves it alone), so the previous holder's deployment, the
// newest this action made for that version, is marked inactive explicitly.
func TestDeployProductionInactivatesThePreviousHolder(t *testing.T) {
	t.Parallel()
	for _, payload := range []any{
		map[string]any{"tool": "mlreg-action", "model": "fraud-model", "version": "12"},
		`{"tool":"mlreg-action","model":"fraud-model","version":"12"}`, // GitHub may return the payload as a JSON string
	} {
		t.Run(fmt.Sprintf("%T payload", payload), func(t *testing.T) {
			t.Parallel()
			f := githubfake.New(t, githubfake.Options{})
			env := "fraud-model@champion"
			earlier := func(payload any) int64 {
				return f.AddDeployment(githubfake.Deployment{
					Ref: headSHA, SHA: headSHA, Task: "deploy", Environment: env, ProductionEnvironment: true, Payload: payload,
					Statuses: []githubfake.DeploymentStatus{{State: "in_progress"}, {State: "success"}},
				})
			}
			prev := earlier(payload)
			older := earlier(map[string]any{"tool": "mlreg-action", "version": "11"})
			foreign := earlier(map[string]any{"tool": "another-tool", "version": "12"})
			res, err := newClient(t, f, nil).Deploy(t.Context(), promotion(env, true, github.StateSuccess))
			if err != nil {
				t.Fatal(err)
			}
			ds := f.Deployments()
			d := ds[len(ds)-1]
			if diff := cmp.Diff(&github.DeployResult{ID: d.ID, Inactivated: prev}, res); diff != "" {
				t.Errorf("Deploy() (-want +got):\n%s", diff)
			}
			f0, t0 := false, true
			want := githubfake.Deployment{
				ID: d.ID, Ref: mergeSHA, SHA: mergeSHA, Task: "deploy", Environment: env,
				Description: "Promoting fraud-model v15", Payload: map[string]any{"tool": "mlreg-action", "model": "fraud-model", "version": "15"},
				ProductionEnvironment: true, RequiredContexts: []string{}, AutoMerge: &f0,
				Statuses: []githubfake.DeploymentStatus{
					{ID: d.Statuses[0].ID, State: "in_progress", Description: "Promoting fraud-model v15", LogURL: runURL, EnvironmentURL: versionURL, Environment: env},
					{ID: d.Statuses[1].ID, State: "success", Description: "fraud-model v15 success", LogURL: runURL, EnvironmentURL: versionURL, Environment: env, AutoInactive: &t0},
				},
			}
			if diff := cmp.Diff(want, d); diff != "" {
				t.Errorf("deployment (-want +got):\n%s", diff)
			}
			wantStates := []string{
				fmt.Sprintf("%d %s [in_progress success inactive]", prev, env),
				fmt.Sprintf("%d %s [in_progress success]", older, env),
				fmt.Sprintf("%d %s [in_progress success]", foreign, env),
				fmt.Sprintf("%d %s [in_progress success]", d.ID, env),
			}
			if diff := cmp.Diff(wantStates, states(f)); diff != "" {
				t.Errorf("deployments (-want +got):\n%s", diff)
			}
			if got := ds[0].Statuses[2].Description; got != "Replaced: fraud-model v15 success" {
				t.Errorf("inactive status description = %q", got)
			}
		})
	}
}

// A non-production environment is left to GitHub's auto_inactive: no
// explicit inactive status, no list of deployments.
func TestDeployNonProductionLeavesItToGitHub(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t, githubfake.Options{})
	gh := newClient(t, f, nil)
	env := "fraud-model/Staging"
	var ids []int64
	for range 2 {
		res, err := gh.Deploy(t.Context(), promotion(env, false, github.StateSuccess))
		if err != nil {
			t.Fatal(err)
		}
		if res.Inactivated != 0 {
			t.Errorf("Inactivated = %d, want 0", res.Inactivated)
		}
		ids = append(ids, res.ID)
	}
	want := []string{
		fmt.Sprintf("%d %s [in_progress success inactive]", ids[0], env),
		fmt.Sprintf("%d %s [in_progress success]", ids[1], env),
	}
	if diff := cmp.Diff(want, states(f)); diff != "" {
		t.Errorf("deployments (-want +got):\n%s", diff)
	}
	if n := f.Count("repos/list-deployments"); n != 0 {
		t.Errorf("%d list-deployments calls, want none for a non-production environment", n)
	}
}

// A blocked promotion's deployment fails; nothing else changes.
func TestDeployFailureInactivatesNothing(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t, githubfake.Options{})
	env := "fraud-model@champion"
	prev := f.AddDeployment(githubfake.Deployment{
		Ref: headSHA, SHA: headSHA, Task: "deploy", Environment: env, ProductionEnvironment: true,
		Payload:  map[string]any{"tool": "mlreg-action", "version": "12"},
		Statuses: []githubfake.DeploymentStatus{{State: "success"}},
	})
	res, err := newClient(t, f, nil).Deploy(t.Context(), promotion(env, true, github.StateFailure))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{fmt.Sprintf("%d %s [success]", prev, env), fmt.Sprintf("%d %s [in_progress failure]", res.ID, env)}
	if diff := cmp.Diff(want, states(f)); diff != "" {
		t.Errorf("deployments (-want +got):\n%s", diff)
	}
	if d := f.Deployments()[1]; d.Statuses[1].AutoInactive != nil {
		t.Errorf("a failure asked for auto_inactive")
	}
}

// A status that fails still returns the deployment it belongs to, so the
// run can name it.
func TestDeployStatusError(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t, githubfake.Options{})
	f.Fail("repos/create-deployment-status", githubfake.NotAccessible("https://docs.github.com/rest/deployments/statuses"))
	res, err := newClient(t, f, nil).Deploy(t.Context(), promotion("fraud-model@champion", true, github.StateSuccess))
	if res == nil || res.ID == 0 {
		t.Fatalf("Deploy() = %+v, want the created deployment", res)
	}
	want := fmt.Sprintf("failed to set deployment %d to in_progress: 403 Resource not accessible by integration", res.ID)
	if err == nil || err.Error() != want {
		t.Errorf("Deploy() error = %v, want %q", err, want)
	}
	if !github.IsNotAccessible(err) {
		t.Errorf("IsNotAccessible(%v) = false", err)
	}
}
