package github

import (
	"context"
	"encoding/json"
	"fmt"

	gogithub "github.com/google/go-github/v60/github"
)

// Deployment states this action sets.
const (
	StateInProgress = "in_progress"
	StateSuccess    = "success"
	StateFailure    = "failure"
	StateError      = "error"
	StateInactive   = "inactive"
)

// Deployment describes one GitHub deployment of a promotion.
type Deployment struct {
	Ref         string // the commit
	Environment string
	Production  bool
	Payload     map[string]any
	// Descriptions of the in_progress and the final status (at most 140 characters).
	InProgress, Final string
	State             string // final state: success, failure or error
	LogURL            string // the workflow run
	EnvironmentURL    string // the MLflow version page
	// Previous is the version that held the target before; with Production,
	// its deployment (the newest whose payload has "tool": "mlreg-action" and
	// that "version") is marked inactive on success, with the description
	// Replaced (GitHub's auto_inactive leaves production environments alone).
	Previous, Replaced string
}

// DeployResult is what Deploy created.
type DeployResult struct {
	ID int64
	// Inactivated is the deployment of the previous holder marked inactive, or 0.
	Inactivated int64
}

// Deploy creates the deployment (no required status contexts, no auto-merge)
// and its statuses: in_progress, then the final state with auto_inactive.
func (g *Client) Deploy(ctx context.Context, d Deployment) (*DeployResult, error) {
	dep, _, err := g.c.Repositories.CreateDeployment(ctx, g.owner, g.repo, &gogithub.DeploymentRequest{
		Ref:                   gogithub.String(d.Ref),
		Task:                  gogithub.String("deploy"),
		AutoMerge:             gogithub.Bool(false),
		RequiredContexts:      &[]string{},
		Payload:               d.Payload,
		Environment:           gogithub.String(d.Environment),
		Description:           gogithub.String(d.InProgress),
		TransientEnvironment:  gogithub.Bool(false),
		ProductionEnvironment: gogithub.Bool(d.Production),
	})
	if err != nil {
		return nil, apiError(fmt.Sprintf("create a deployment to %s", d.Environment), err)
	}
	res := &DeployResult{ID: dep.GetID()}
	status := func(state, desc string) error {
		req := &gogithub.DeploymentStatusRequest{
			State:       gogithub.String(state),
			Description: gogithub.String(desc),
		}
		if d.LogURL != "" {
			req.LogURL = gogithub.String(d.LogURL)
		}
		if d.EnvironmentURL != "" {
			req.EnvironmentURL = gogithub.String(d.EnvironmentURL)
		}
		if state == StateSuccess {
			req.AutoInactive = gogithub.Bool(true)
		}
		if _, _, err := g.c.Repositories.CreateDeploymentStatus(ctx, g.owner, g.repo, res.ID, req); err != nil {
			return apiError(fmt.Sprintf("set deployment %d to %s", res.ID, state), err)
		}
		return nil
	}
	if err := status(StateInProgress, d.InProgress); err != nil {
		return res, err
	}
	if err := status(d.State, d.Final); err != nil {
		return res, err
	}
	if d.State == StateSuccess && d.Production && d.Previous != "" {
		id, err := g.inactivatePrevious(ctx, d, res.ID)
		if err != nil {
			return res, err
		}
		res.Inactivated = id
	}
	return res, nil
}

// inactivatePrevious marks the newest earlier deployment of the environment
// that deployed the previous holder as inactive.
func (g *Client) inactivatePrevious(ctx context.Context, d Deployment, self int64) (int64, error) {
	deps, _, err := g.c.Repositories.ListDeployments(ctx, g.owner, g.repo, &gogithub.DeploymentsListOptions{
		Environment: d.Environment, Task: "deploy", ListOptions: gogithub.ListOptions{PerPage: 30},
	})
	if err != nil {
		return 0, apiError("list the deployments of "+d.Environment, err)
	}
	for _, dep := range deps {
		if dep.GetID() == self || payloadVersion(dep.Payload) != d.Previous {
			continue
		}
		if _, _, err := g.c.Repositories.CreateDeploymentStatus(ctx, g.owner, g.repo, dep.GetID(), &gogithub.DeploymentStatusRequest{
			State:       gogithub.String(StateInactive),
			Description: gogithub.String(d.Replaced),
		}); err != nil {
			return 0, apiError(fmt.Sprintf("mark deployment %d inactive", dep.GetID()), err)
		}
		return dep.GetID(), nil
	}
	return 0, nil
}

// payloadVersion reads "version" from a deployment payload, which GitHub
// returns as an object or as a JSON string holding one.
func payloadVersion(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
	}
	var p struct {
		Version string `json:"version"`
		Tool    string `json:"tool"`
	}
	if json.Unmarshal(raw, &p) != nil || p.Tool != "mlreg-action" {
		return ""
	}
	return p.Version
}
