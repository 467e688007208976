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
// Registry joins Client with a tracking client and Rules into a
// registry.Backend, the one interface promote works through; promote knows
// nothing of UC.
//
// # What the rules change (Rules, audit.go)
//
//   - Tag keys: every tag promote reads or writes (promotion record,
//     history, replaced mark, lock owner, expiry and token, and the Slack
//     message key of internal/notify) is keyed once by Rules.TagKey, which
//     is TagKey: mlreg_slack_alias_<alias> and so on. Registry passes keys
//     as they are; the client refuses a key UC cannot hold before sending.
//   - Audit record: the full record stays on the promoted version
//     (mlreg_promotion_alias_<alias>), cut to fit 1,000 bytes by FitRecord,
//     deterministically: actor 100 bytes of JSON, run URL 300, commit 64,
//     each approver 64 (a cut value ends in "…"), then approvers dropped
//     from the end and counted in approvers_omitted, then the longest
//     free-text field halved. Versions, time, digests and verdict are never
//     cut (at most 340 bytes together); a typical record is 400 to 450 bytes.
//   - History: the model's mlreg_history_alias_<alias> holds compact
//     entries, newest first, {"v","p","at","by","a"} (version, previous
//     holder or absent, time, actor cut to 40 bytes, "rollback" or absent),
//     oldest dropped at 1,000 bytes: about 70 bytes each, so the last 13 or
//     14 moves (EncodeCompactHistory). promote's TargetHistory.Rollback
//     needs only those, so two rollbacks go two steps back after any number
//     of promotions; promote's Service.History adds to each entry (marked
//     Compact) the full record of its version's promotion tag when it is
//     the same move (same time and previous version).
//   - The 50-tag limit (Rules.MaxTagsPerObject): a promotion adds per
//     target one tag to the model (history) and up to three to a version
//     (record, replaced mark, Slack key). Before moving anything Apply checks
//     that the model and the candidate have room for the new ones, and
//     otherwise stops (wrapping ErrTagLimit) naming the tag it needs.
//   - Lock: Rules.LockName is LockName(model) =
//     catalog.schema.mlreg_lock_<model> (UC refuses a create whose name
//     exists, which is what the lock needs). Creating it needs CREATE MODEL
//     on the schema; without it promote's existing fallback applies (a note
//     that promotions are not serialized). The lock owner value is cut to
//     1,000 bytes (Rules.TagValue).
//   - Input: a model name that is not three-level (ValidateName) and any
//     stage (target-stage, or a stage target of History) are
//     promote.ErrInvalid before any request, naming the input
//     (Rules.ValidateModelName, Rules.ValidateTarget).
//   - Permissions: a refused alias move is an *AliasPermissionError; Apply
//     reports that nothing was moved, and Rules.ExplainError says what UC
//     asks of the identity.
//   - Links: Rules.VersionURL is the version's Catalog Explorer page.
//
// # The command layer
//
// internal/action opens this registry for registry-uri: databricks-uc
// (MLFLOW_REGISTRY_URI), on DATABRICKS_HOST with the token of tracking-uri:
// databricks (or DATABRICKS_TOKEN), checks its inputs with Rules, and runs
// every command through the Registry; register is refused there before any
// request (Registry is no registry.Registrar).
//
// Left out: register (creating versions on UC): UC creates a version
// PENDING_REGISTRATION, the client uploads the files with temporary
// credentials, then finalizes it.
package uc
