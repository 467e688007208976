package fleet

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// countingRegistry counts the calls of one entry. Calls added to
// registry.Registry later pass through uncounted until listed here; the
// rules make no request.
type countingRegistry struct {
	registry.Backend
	n *atomic.Int64
}

func (c countingRegistry) GetRegisteredModel(ctx context.Context, name string) (*registry.RegisteredModel, error) {
	c.n.Add(1)
	return c.Backend.GetRegisteredModel(ctx, name)
}

func (c countingRegistry) GetModelVersion(ctx context.Context, name, version string) (*registry.ModelVersion, error) {
	c.n.Add(1)
	return c.Backend.GetModelVersion(ctx, name, version)
}

func (c countingRegistry) LatestVersion(ctx context.Context, name string) (*registry.ModelVersion, error) {
	c.n.Add(1)
	return c.Backend.LatestVersion(ctx, name)
}

func (c countingRegistry) GetModelVersionByAlias(ctx context.Context, name, alias string) (*registry.ModelVersion, error) {
	c.n.Add(1)
	return c.Backend.GetModelVersionByAlias(ctx, name, alias)
}

func (c countingRegistry) GetLatestVersions(ctx context.Context, name string, stages []string) ([]registry.ModelVersion, error) {
	c.n.Add(1)
	return c.Backend.GetLatestVersions(ctx, name, stages)
}

func (c countingRegistry) SetAlias(ctx context.Context, name, alias, version string) error {
	c.n.Add(1)
	return c.Backend.SetAlias(ctx, name, alias, version)
}

func (c countingRegistry) TransitionStage(ctx context.Context, name, version, stage string, archiveExisting bool) (*registry.ModelVersion, error) {
	c.n.Add(1)
	return c.Backend.TransitionStage(ctx, name, version, stage, archiveExisting)
}

func (c countingRegistry) SetModelVersionTag(ctx context.Context, name, version, key, value string) error {
	c.n.Add(1)
	return c.Backend.SetModelVersionTag(ctx, name, version, key, value)
}

func (c countingRegistry) SetRegisteredModelTag(ctx context.Context, name, key, value string) error {
	c.n.Add(1)
	return c.Backend.SetRegisteredModelTag(ctx, name, key, value)
}

func (c countingRegistry) GetRun(ctx context.Context, runID string) (*registry.Run, error) {
	c.n.Add(1)
	return c.Backend.GetRun(ctx, runID)
}

// MetricHistoryPages counts one call per page read (at least one).
func (c countingRegistry) MetricHistoryPages(ctx context.Context, runID, key string, fn func([]registry.Metric) error) error {
	var pages int64
	err := c.Backend.MetricHistoryPages(ctx, runID, key, func(ms []registry.Metric) error {
		pages++
		return fn(ms)
	})
	c.n.Add(max(pages, 1))
	return err
}

func (c countingRegistry) GetLoggedModel(ctx context.Context, modelID string) (*registry.LoggedModel, error) {
	c.n.Add(1)
	return c.Backend.GetLoggedModel(ctx, modelID)
}

// countingLocker counts the promotion lock's calls of one entry.
type countingLocker struct {
	registry.Locker
	n *atomic.Int64
}

func (c countingLocker) CreateRegisteredModel(ctx context.Context, name, description string, tags []registry.Tag) (*registry.RegisteredModel, error) {
	c.n.Add(1)
	return c.Locker.CreateRegisteredModel(ctx, name, description, tags)
}

func (c countingLocker) GetRegisteredModel(ctx context.Context, name string) (*registry.RegisteredModel, error) {
	c.n.Add(1)
	return c.Locker.GetRegisteredModel(ctx, name)
}

func (c countingLocker) DeleteRegisteredModel(ctx context.Context, name string) error {
	c.n.Add(1)
	return c.Locker.DeleteRegisteredModel(ctx, name)
}

func (c countingLocker) SetRegisteredModelTag(ctx context.Context, name, key, value string) error {
	c.n.Add(1)
	return c.Locker.SetRegisteredModelTag(ctx, name, key, value)
}

// memoApprovals asks GitHub once per query for the whole manifest: every
// entry of one workflow run sees the same reviews.
type memoApprovals struct {
	inner checks.ApprovalChecker
	mu    sync.Mutex
	calls map[checks.ApprovalQuery]*approvalCall
}

type approvalCall struct {
	once sync.Once
	res  checks.ApprovalResult
	err  error
}

// Approvals implements checks.ApprovalChecker.
func (m *memoApprovals) Approvals(ctx context.Context, q checks.ApprovalQuery) (checks.ApprovalResult, error) {
	m.mu.Lock()
	c := m.calls[q]
	if c == nil {
		c = &approvalCall{}
		m.calls[q] = c
	}
	m.mu.Unlock()
	c.once.Do(func() { c.res, c.err = m.inner.Approvals(ctx, q) })
	return c.res, c.err
}
