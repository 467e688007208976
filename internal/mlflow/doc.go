// Package mlflow is a small client for the MLflow REST API
// (<tracking URI>/api/2.0/mlflow/...): the model registry calls a promoter
// needs, plus runs, metric history and MLflow 3 logged models.
//
// # Wire
//
// GET requests carry their parameters in the query string (a repeated field
// is a repeated key); POST, PATCH and DELETE carry a JSON body with
// Content-Type: application/json. Model versions are JSON strings. Every
// request carries User-Agent, the Authorization header when credentials are
// configured (basic when both username and password are set, else bearer),
// and X-MLFLOW-WORKSPACE when a workspace is set. Credentials never appear in
// errors, and a URL in one is redacted (RedactURL). MLflow's REST API never
// redirects, so no redirect is followed: a 3xx answer is a *RedirectError,
// and the credentials go nowhere but the tracking URI.
//
// A 2xx body may be up to 64 MiB and is read into one buffer of its
// announced size; of any other only the first 64 KiB are read, and the
// message of the *Error is capped.
//
// # Errors
//
// A non-2xx answer is an *Error with MLflow's error_code and message, or a
// code derived from the status when the body is not MLflow JSON. Use
// IsNotFound, IsAlreadyExists and IsEndpointNotFound rather than comparing
// codes. GetModelVersionByAlias returns ErrAliasNotFound for an unset alias,
// which MLflow reports as 400 INVALID_PARAMETER_VALUE. Calls wrap errors as
// "failed to <verb> <object>: ...".
//
// # Metric values
//
// Metric values are MetricValue: NaN and ±Inf are read in every form MLflow
// sends them ("NaN", "Infinity", "-Infinity", and ±1.7976931348623157e308
// from its SQL store), so one diverged epoch never makes a run unreadable.
//
// # Retries
//
// Failed attempts are retried as MLflow's Python client retries them
// (urllib3's Retry, configured from MLflow's environment variables): up to
// Options.MaxRetries times (default 7), the first retry at once and retry n
// after BackoffFactor·2^(n-1) (default 2s) plus a jitter below BackoffJitter
// (default 1s), capped at 120s, or after the server's Retry-After when it
// sends one; each attempt is bounded by RequestTimeout (default 120s).
// Options.OnRetry hears of each retry before its pause. No retry runs past
// the context's deadline: when the next pause would end after it, the call
// gives up at once with a *StopError that wraps both the last failure and
// context.DeadlineExceeded, and names the deadline as WithDeadlineName gave
// it. Which failures are retried depends on the call:
//
//   - Reads (every GET, and GetLatestVersions, a POST that changes nothing):
//     408, 429, 500, 502, 503, 504 and transport errors (refused or reset
//     connections, timeouts, truncated bodies).
//   - Writes whose repetition is harmless (CreateRegisteredModel, the tag
//     and alias calls, TransitionStage): the same except 500, because MLflow
//     answers some deterministic failures with 500 (for example
//     archive_existing_versions with a non-active stage). Setting or deleting
//     a tag or alias and transitioning to a stage give the same result when
//     repeated; a repeated CreateRegisteredModel whose first attempt reached
//     the server answers RESOURCE_ALREADY_EXISTS, which "ensure it exists"
//     callers accept.
//   - CreateModelVersion: every create the server executes registers one
//     more version, so it is retried only when the request cannot have been
//     acted on: 408, 429 and 503 with Retry-After answers, and dial errors
//     (nothing was sent). A reset connection, a timeout or another 5xx
//     returns at once. DeleteRegisteredModel likewise: a repeated delete
//     would remove a model created under the same name since (the next
//     run's promotion lock). Client.CallOnce does the same for other paths.
//
// A failed TLS handshake (a plain-HTTP server behind an https URL, an
// untrusted or wrong certificate; the error says what to do), a redirect,
// other 4xx answers and undecodable responses are never retried. The first
// retry of a call tells Options.OnRetry how long the retries may go on
// (Retry.Budget).
package mlflow
