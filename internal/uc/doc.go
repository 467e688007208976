// Package uc is the client of Databricks Unity Catalog's model registry
// (registry-uri: databricks-uc), reached as MLflow's own Python client
// reaches it by default: the UC registry REST service under
// <DATABRICKS_HOST>/api/2.0/mlflow/unity-catalog/, defined by MLflow's
// databricks_uc_registry_service.proto and databricks_uc_registry_messages.proto
// and called as mlflow/store/_unity_catalog/registry/rest_store.py calls it.
//
// # Design
//
// Client sends every call through an internal/mlflow client built for the
// workspace (mlflow.Client.Call), so UC calls get the same retries, bearer
// auth, TLS options, redaction and typed errors as the tracking calls. It
// speaks UC's wire and answers in internal/mlflow's types, so promote can
// use it behind its registry interface:
//
//   - version: a decimal string, as on OSS; timestamps are int64 (read as
//     JSON numbers or strings).
//   - status: the UC enum ModelVersionStatus has the OSS names
//     (PENDING_REGISTRATION, FAILED_REGISTRATION, READY) plus UNSPECIFIED,
//     its zero value; a missing status reads as UNSPECIFIED, as in MLflow's
//     client, which promote refuses (not READY).
//   - aliases: on a version UC answers [{alias, version}] (RegisteredModelAlias),
//     not OSS's [alias]; they become ModelVersion.Aliases. On a registered
//     model they are [{alias, version}] as on OSS.
//   - model_id: UC sends it (OSS does not); the logged model it names, and
//     its metrics, are read from the tracking server as on OSS.
//   - stages: none. GetLatestVersions and TransitionStage return
//     ErrStagesUnsupported (target-stage is invalid input on UC).
//   - search: one condition only (name = '…' or run_id = '…') and no
//     order_by, so LatestVersion reads every version and keeps the highest.
//   - an unset alias: how UC words it is not relied on; after a not-found
//     answer the model's alias list decides (mlflow.ErrAliasNotFound).
//   - names: three-level, catalog.schema.model (ValidateName), checked
//     before anything is sent.
//   - permissions: a refused alias change is an *AliasPermissionError that
//     says only the model's owner or a metastore admin may change aliases.
//   - tags: UC's limits (50 per object, keys of at most 255 characters
//     without . , - = / :, values of at most 1,000 characters; see
//     MaxTagsPerObject for the sources) are checked before sending
//     (ValidateTag). TagKey gives the UC-safe form of a key:
//     mlreg.promotion.alias.champion is stored as mlreg_promotion_alias_champion.
//
// Registry joins Client with a tracking client into the set of methods
// promote.Registry and promote.Locker name (a test asserts it satisfies both).
//
// # What promote needs to change to run on UC (left for the redesign)
//
//   - Tag keys: Registry writes every key as TagKey(key), but promote reads
//     tags with mv.Tag(PromotionTagKey(t)) and rm.Tag(HistoryTagKey(t)); on UC
//     those lookups must use Registry.TagKey(...) (the identity is right for
//     OSS). The same holds for the lock tags (mlreg.lock.owner, …).
//   - History: one UC tag value holds at most 1,000 characters, and one audit
//     Record (digests, run URL, approvers) is 400 to 600, so the OSS history
//     bound (50,000) must become per registry. Proposed layout on UC: the full
//     record stays on the promoted version (mlreg_promotion_alias_<alias>,
//     under 1,000 once approvers are capped), and the model's history tag keeps
//     compact entries, newest first, {"v","p","at","by"} (version, previous,
//     time, actor: about 90 characters, so 10 or so entries), oldest dropped;
//     rollback needs only v and p, and history reads the details from each
//     version's promotion tag.
//   - The 50-tag limit: each alias target adds one tag to the model (history)
//     and one or two to a version (promotion, replaced, Slack); a model with
//     many targets or user tags can reach it, which UC answers with 400.
//   - Lock: the OSS lock is a registered model named mlreg-lock.<model>,
//     which is not a UC name. On UC it is LockName(model) =
//     catalog.schema.mlreg_lock_<model> (UC refuses a create whose name
//     exists, which is what the lock needs). Registry maps the OSS lock name
//     to it, so promote's Locker works unchanged; creating it needs CREATE
//     MODEL on the schema, and without it promote's existing fallback
//     applies (a note that promotions are not serialized).
//   - Stages: UC has none; target-stage must be refused as invalid input
//     (status 2) before any call, as GetLatestVersions/TransitionStage
//     return ErrStagesUnsupported.
//   - register (creating versions on UC) is out of scope: UC creates a version
//     PENDING_REGISTRATION, the client uploads the files with temporary
//     credentials, then finalizes it.
package uc
