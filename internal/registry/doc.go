// Package registry is the seam between mlreg-action and a model registry:
// the domain types a promotion reads and writes (registered models,
// versions, tags, runs, metrics, logged models), the kinds of errors a
// registry answers with, the audit record, and Backend, the one interface
// that holds everything that differs between registries: the calls
// (Registry, with the promotion lock's Locker) and the rules (Rules: name
// and target validation, tag keys and values within the registry's limits,
// the lock's name, the history's layout, version links, and how a refused
// permission is explained).
//
// internal/mlflow implements Backend for MLflow's own registry
// (mlflow.Registry, mlflow.Rules) and internal/uc for Databricks Unity
// Catalog (uc.Registry, uc.Rules); internal/testing/memregistry keeps one
// in memory for tests, and internal/testing/registrytest runs the same
// cases against all of them. internal/promote, internal/fleet and
// internal/notify import this package and neither backend: a new registry
// is a new Backend, not a flag.
//
// The types carry MLflow's JSON field names, the wire form both backends
// read (internal/mlflow aliases them: mlflow.ModelVersion is
// registry.ModelVersion).
package registry
