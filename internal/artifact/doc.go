// Package artifact reads the files of a model version where MLflow keeps
// them, for the model digest (internal/modeldigest): it resolves a
// version's source as MLflow resolves it and opens the artifact store that
// holds the files.
//
// # Sources
//
//   - models:/m-<id>, an MLflow 3 logged model: its artifact location
//     (GET /api/2.0/mlflow/logged-models/<id>, info.artifact_uri), resolved
//     in turn;
//   - runs:/<run>/<name>/<rest>: as MLflow 3's RunsArtifactRepository reads
//     it, the run's artifacts at <name>/<rest> (runs/get, info.artifact_uri)
//     together with <rest> of the run's logged model called <name>
//     (logged-models/search), whose files win where both hold one: MLflow
//     3's log_model(name=...) keeps the model there, not in the run;
//   - mlflow-artifacts:/<path>, MLflow's default since 2.0: the tracking
//     server's artifact proxy, through the same authenticated client as
//     every other call (credentials, retries, redirect refusal). A URI that
//     names another server (mlflow-artifacts://host/...) is refused, so
//     that the credentials go nowhere but the tracking URI;
//   - file:/<path> and a bare absolute path: a local directory;
//   - s3://<bucket>/<key>: S3 directly, with the AWS SDK's standard
//     credential chain, and MLflow's variables for S3-compatible servers
//     (MLFLOW_S3_ENDPOINT_URL, with path-style addressing unless
//     MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE says otherwise;
//     MLFLOW_S3_IGNORE_TLS; MLFLOW_S3_EXPECTED_BUCKET_OWNER).
//
// Any other store (gs://, wasbs://, abfss://, dbfs:, Unity Catalog, hdfs://,
// http(s):// ...) is an *UnsupportedError naming it and the supported ones:
// a configuration the user must change, not a failure of the store.
//
// # Errors
//
// Open and a Store's List and Open return errors that say what failed and
// where (the URI with any password hidden); the registry's and store's
// text in them is quoted. IsUnsupported tells an unsupported store (exit
// status 2) from a failure to read a supported one (status 3).
package artifact
