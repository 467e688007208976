#!/usr/bin/env python3
"""Create a demo registered model "demo-fraud" in an MLflow tracking server.

Usage:
    .venv/bin/python scripts/demo_fixtures.py [TRACKING_URI]

The tracking URI comes from the first argument, else from MLFLOW_TRACKING_URI.

It creates two finished runs in the experiment "demo-fraud" and registers one version from each:

    v1  val_auc 0.91  val_loss 0.22  latency_p95_ms 31   alias "champion"
    v2  val_auc 0.93  val_loss 0.20  latency_p95_ms 31   alias "challenger" (the better candidate)

Both runs and versions carry the tag dataset_version. Rerunning is safe: the registered model is deleted
and recreated, and the runs of the previous demo are deleted.

Each version's source is "<run artifact_uri>/model": an mlflow-artifacts:/<exp>/<run>/artifacts/model URI when
the server proxies artifacts (its default), or a path inside the run's artifact directory when the server has
a local --default-artifact-root. The server accepts either with the run_id, since the source lies inside that
run's artifact root. No artifact is uploaded.
"""

import os
import sys

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

MODEL = "demo-fraud"
EXPERIMENT = "demo-fraud"
DATASET_VERSION = "fraud-2024-06"
DEMO_TAG = "mlreg.demo"

VERSIONS = [
    {
        "run_name": "fraud-v1",
        "metrics": {"val_auc": 0.91, "val_loss": 0.22, "latency_p95_ms": 31.0},
        "params": {"model_type": "xgboost", "max_depth": "6"},
        "alias": "champion",
    },
    {
        "run_name": "fraud-v2",
        "metrics": {"val_auc": 0.93, "val_loss": 0.20, "latency_p95_ms": 31.0},
        "params": {"model_type": "xgboost", "max_depth": "8"},
        "alias": "challenger",
    },
]


def tracking_uri() -> str:
    uri = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri:
        sys.exit("usage: demo_fixtures.py TRACKING_URI (or set MLFLOW_TRACKING_URI)")
    return uri


def ensure_experiment(client: MlflowClient) -> str:
    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        return client.create_experiment(EXPERIMENT)
    if exp.lifecycle_stage == "deleted":
        client.restore_experiment(exp.experiment_id)
    return exp.experiment_id


def reset(client: MlflowClient, experiment_id: str) -> None:
    try:
        client.delete_registered_model(MODEL)
        print(f"deleted existing registered model {MODEL}")
    except MlflowException as e:
        if e.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    old = client.search_runs([experiment_id], filter_string=f"tags.`{DEMO_TAG}` = 'true'")
    for run in old:
        client.delete_run(run.info.run_id)
    if old:
        print(f"deleted {len(old)} run(s) of the previous demo")


def create_run(client: MlflowClient, experiment_id: str, spec: dict) -> tuple[str, str]:
    run = client.create_run(
        experiment_id,
        run_name=spec["run_name"],
        tags={"dataset_version": DATASET_VERSION, DEMO_TAG: "true"},
    )
    run_id = run.info.run_id
    for key, value in spec["metrics"].items():
        client.log_metric(run_id, key, value, step=0)
    for key, value in spec["params"].items():
        client.log_param(run_id, key, value)
    client.set_terminated(run_id, "FINISHED")
    return run_id, run.info.artifact_uri


def main() -> None:
    client = MlflowClient(tracking_uri=tracking_uri())
    experiment_id = ensure_experiment(client)
    reset(client, experiment_id)

    client.create_registered_model(MODEL, description="Demo model for mlreg-action")
    for spec in VERSIONS:
        run_id, artifact_uri = create_run(client, experiment_id, spec)
        mv = client.create_model_version(
            MODEL,
            source=f"{artifact_uri.rstrip('/')}/model",
            run_id=run_id,
            tags={"dataset_version": DATASET_VERSION},
        )
        spec["version"] = mv.version
        print(f"{MODEL} v{mv.version}: run {run_id} {spec['metrics']}")

    for spec in VERSIONS:
        client.set_registered_model_alias(MODEL, spec["alias"], spec["version"])
        print(f"{MODEL}@{spec['alias']} -> v{spec['version']}")


if __name__ == "__main__":
    main()
