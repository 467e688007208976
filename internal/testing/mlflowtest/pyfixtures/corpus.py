"""Integration corpus built with MLflow's high-level Python API, the way users make their models.

Run by internal/testing/mlflowtest (pycorpus.go) with the python of the harness's virtual environment:

    MLFLOW_TRACKING_URI=http://127.0.0.1:PORT python corpus.py <prefix>

It builds every fixture under names starting with <prefix>, writes one JSON line {"corpus": {...}} describing
them, then serves requests, one JSON line each, until its standard input closes:

    {"op": "predict", "uri": "models:/<name>@<alias>"}  loads the model with mlflow.pyfunc.load_model and
                                                        predicts ROW: {"prediction": [...], "model_id", "run_id"}
    {"op": "prompt", "uri": "prompts:/<name>@<alias>"}   loads the prompt with mlflow.genai.load_prompt (no cache)
                                                        and formats PROMPT_VARS: {"text", "name", "version"}

A failed request answers {"error": "<traceback>"}. Anything MLflow prints goes to standard error: the protocol
has its own copy of standard output.
"""

import json
import math
import os
import sys
import tempfile
import time
import traceback

# The protocol's stdout, before anything can print to it; everything else printing goes to stderr.
PROTO = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr

if __name__ == "__main__" and (len(sys.argv) != 2 or not os.environ.get("MLFLOW_TRACKING_URI")):
    raise SystemExit("usage: MLFLOW_TRACKING_URI=<server> python corpus.py <prefix>")

import warnings  # noqa: E402

warnings.filterwarnings("ignore")

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402

FEATURES = ["x1", "x2", "x3", "x4"]
# The row every load-back check predicts.
ROW = {"x1": 0.8, "x2": -0.3, "x3": 0.1, "x4": 1.2}
PROMPT_VARS = {"text": "MLflow keeps models and prompts.", "words": "5"}
# Pinned so that log_model does not load each model in a subprocess to infer its requirements (seconds each).
PIP = ["mlflow", "scikit-learn", "pandas", "numpy"]
# mlflow.sklearn saves in the skops format, which refuses decision trees until their node type is trusted; this is
# what MLflow's error message tells users to pass.
TRUSTED = ["sklearn.tree._tree.Tree"]


def data():
    """A small synthetic binary classification set: a linear boundary on x1..x3, x4 is noise."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] - 0.25 * x[:, 2] > 0).astype(int)
    df = pd.DataFrame(x, columns=FEATURES)
    train, holdout = df.iloc[:200].reset_index(drop=True), df.iloc[200:].reset_index(drop=True)
    y_train, y_holdout = y[:200], y[200:].copy()
    # Noisy holdout labels: a model that fits the training set perfectly scores visibly lower here.
    flip = rng.random(len(y_holdout)) < 0.12
    y_holdout[flip] = 1 - y_holdout[flip]
    return train, y_train, holdout, y_holdout


TRAIN, Y_TRAIN, HOLDOUT, Y_HOLDOUT = data()


def estimators():
    """Three models of increasing quality on this data, in the order they are registered."""
    return [
        ("stump", DecisionTreeClassifier(max_depth=1, random_state=0)),
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
        ("logreg", LogisticRegression()),
    ]


def row_prediction(model):
    """What the trained model predicts for ROW before it is logged: the loaded model must predict the same."""
    out = model.predict(pd.DataFrame([ROW], columns=FEATURES))
    return out[0].item() if hasattr(out[0], "item") else out[0]


def increasing(label, values):
    if any(b <= a for a, b in zip(values, values[1:])):
        raise SystemExit(f"corpus: {label} must increase from version to version for the tests, got {values}")


def version_of(info):
    """The registered version of a ModelInfo logged with registered_model_name."""
    return str(info.registered_model_version)


def model_id_of(mv):
    """The logged model a version was registered from (the OSS server does not return model_id)."""
    if mv.model_id:
        return mv.model_id
    if not mv.source.startswith("models:/m-"):
        raise SystemExit(f"corpus: {mv.name} v{mv.version} has source {mv.source}, not a logged model")
    return mv.source[len("models:/"):]


def experiment(prefix, fixture):
    mlflow.set_experiment(f"{prefix}-{fixture}")


def sklearn_registered(prefix):
    """mlflow.sklearn.log_model(..., registered_model_name=...): one run per version, metrics logged before the
    model (log_model copies them onto the logged model)."""
    name = f"{prefix}-sklearn"
    experiment(prefix, "sklearn")
    versions = []
    for kind, est in estimators():
        with mlflow.start_run(run_name=f"train-{kind}") as run:
            est.fit(TRAIN, Y_TRAIN)
            acc = float(accuracy_score(Y_HOLDOUT, est.predict(HOLDOUT)))
            mlflow.set_tag("dataset_version", "synthetic-2026-11")
            mlflow.log_params({"estimator": kind})
            mlflow.log_metric("val_accuracy", acc)
            info = mlflow.sklearn.log_model(
                est, name="model", registered_model_name=name, pip_requirements=PIP, skops_trusted_types=TRUSTED,
                signature=infer_signature(TRAIN, est.predict(TRAIN)),
            )
        versions.append({"version": version_of(info), "run_id": run.info.run_id, "model_id": info.model_id,
                         "artifact_path": "model", "prediction": row_prediction(est), "metrics": {"val_accuracy": acc}})
    increasing("sklearn val_accuracy", [v["metrics"]["val_accuracy"] for v in versions])
    return {"name": name, "versions": versions}


class ThresholdClassifier(mlflow.pyfunc.PythonModel):
    """A PythonModel wrapping a pickled sklearn classifier (an artifact) with a decision threshold."""

    def __init__(self, threshold):
        self.threshold = threshold

    def load_context(self, context):
        import pickle

        with open(context.artifacts["classifier"], "rb") as f:
            self.classifier = pickle.load(f)

    def predict(self, context, model_input, params=None):
        proba = self.classifier.predict_proba(model_input[["x1", "x2", "x3", "x4"]])[:, 1]
        return ["approve" if p >= self.threshold else "reject" for p in proba]


def pyfunc_python_model(prefix, tmp):
    """mlflow.pyfunc.log_model with a PythonModel and an artifact; metrics logged after the model (linked to it)."""
    import pickle

    name = f"{prefix}-pyfunc"
    experiment(prefix, "pyfunc")
    versions = []
    for i, threshold in enumerate([0.7, 0.6, 0.5]):
        clf = LogisticRegression(C=[0.05, 0.3, 1.0][i]).fit(TRAIN, Y_TRAIN)
        path = os.path.join(tmp, f"classifier-{i}.pkl")
        with open(path, "wb") as f:
            pickle.dump(clf, f)
        model = ThresholdClassifier(threshold)
        model.classifier = clf
        preds = model.predict(None, HOLDOUT)
        f1 = float(f1_score(Y_HOLDOUT, [p == "approve" for p in preds]))
        with mlflow.start_run(run_name=f"scorer-{threshold}") as run:
            mlflow.log_param("threshold", threshold)
            info = mlflow.pyfunc.log_model(
                name="scorer", python_model=ThresholdClassifier(threshold), artifacts={"classifier": path},
                registered_model_name=name, pip_requirements=PIP, signature=infer_signature(HOLDOUT, preds),
            )
            mlflow.log_metric("val_f1", f1)
        versions.append({"version": version_of(info), "run_id": run.info.run_id, "model_id": info.model_id,
                         "artifact_path": "scorer", "prediction": model.predict(None, pd.DataFrame([ROW]))[0],
                         "metrics": {"val_f1": f1}})
    return {"name": name, "versions": versions}


def autologged(prefix):
    """sklearn autologging (training_* metrics on the run and its logged model), registered as users do with
    mlflow.register_model("runs:/<run_id>/model", name)."""
    name = f"{prefix}-autolog"
    experiment(prefix, "autolog")
    mlflow.sklearn.autolog(log_input_examples=False, log_model_signatures=True, log_datasets=True, silent=True)
    # Autologging cannot be given pip_requirements, so each model would be loaded in a subprocess to infer them
    # (about 6 s each); MLflow's own knob bounds that, and the flavor's default requirements are used instead.
    os.environ["MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT"] = "1"
    versions = []
    try:
        for kind, est in estimators():
            with mlflow.start_run(run_name=f"autolog-{kind}") as run:
                est.fit(TRAIN, Y_TRAIN)
            mv = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
            metrics = mlflow.get_run(run.info.run_id).data.metrics
            versions.append({"version": str(mv.version), "run_id": run.info.run_id, "model_id": model_id_of(mv),
                             "artifact_path": "model", "prediction": row_prediction(est),
                             "metrics": {k: metrics[k] for k in ("training_accuracy_score", "training_f1_score")}})
    finally:
        mlflow.sklearn.autolog(disable=True)
        del os.environ["MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT"]
    increasing("autolog training_accuracy_score", [v["metrics"]["training_accuracy_score"] for v in versions])
    return {"name": name, "versions": versions}


def dataset_linked(prefix):
    """Metrics linked to the logged model and a dataset (log_metric(..., model_id=, dataset=)), the logged model
    registered by its models:/<model_id> URI. The same key is logged on the training set and on the holdout."""
    name = f"{prefix}-dataset"
    experiment(prefix, "dataset")
    train_ds = mlflow.data.from_pandas(TRAIN.assign(label=Y_TRAIN), name="train", targets="label")
    holdout_ds = mlflow.data.from_pandas(HOLDOUT.assign(label=Y_HOLDOUT), name="holdout", targets="label")
    versions = []
    for kind, est in estimators()[1:] + [("deep-tree", DecisionTreeClassifier(random_state=0))]:
        with mlflow.start_run(run_name=f"eval-{kind}") as run:
            est.fit(TRAIN, Y_TRAIN)
            info = mlflow.sklearn.log_model(est, name=kind, pip_requirements=PIP, skops_trusted_types=TRUSTED,
                                            signature=infer_signature(TRAIN, est.predict(TRAIN)))
            acc = {
                "train": float(accuracy_score(Y_TRAIN, est.predict(TRAIN))),
                "holdout": float(accuracy_score(Y_HOLDOUT, est.predict(HOLDOUT))),
            }
            mlflow.log_metric("accuracy", acc["train"], model_id=info.model_id, dataset=train_ds)
            mlflow.log_metric("accuracy", acc["holdout"], model_id=info.model_id, dataset=holdout_ds)
        mv = mlflow.register_model(f"models:/{info.model_id}", name)
        versions.append({"version": str(mv.version), "run_id": run.info.run_id, "model_id": info.model_id,
                         "artifact_path": kind, "prediction": row_prediction(est),
                         "metrics": {"accuracy/train": acc["train"], "accuracy/holdout": acc["holdout"]}})
    return {"name": name, "versions": versions}


def several_in_one_run(prefix):
    """Three logged models in one run, each registered as a version of one model, each with its own
    validation metric (same key, linked by model_id): the run's own val_accuracy is only the last one."""
    name = f"{prefix}-multi"
    experiment(prefix, "multi")
    val_ds = mlflow.data.from_pandas(HOLDOUT.assign(label=Y_HOLDOUT), name="validation", targets="label")
    versions = []
    with mlflow.start_run(run_name="model-selection") as run:
        logged = []
        for kind, est in estimators():
            est.fit(TRAIN, Y_TRAIN)
            info = mlflow.sklearn.log_model(est, name=kind, registered_model_name=name, pip_requirements=PIP,
                                            skops_trusted_types=TRUSTED,
                                            signature=infer_signature(TRAIN, est.predict(TRAIN)))
            logged.append((kind, est, info))
        for kind, est, info in logged:
            acc = float(accuracy_score(Y_HOLDOUT, est.predict(HOLDOUT)))
            mlflow.log_metric("val_accuracy", acc, model_id=info.model_id, dataset=val_ds)
            versions.append({"version": version_of(info), "run_id": run.info.run_id, "model_id": info.model_id,
                             "artifact_path": kind, "prediction": row_prediction(est),
                             "metrics": {"val_accuracy": acc}})
    increasing("multi val_accuracy", [v["metrics"]["val_accuracy"] for v in versions])
    return {"name": name, "versions": versions}


def non_finite(prefix):
    """NaN, +inf and -inf metrics. The main model's runs log a diverged training loop per epoch (steps 1..3, so
    only on the run: log_model links step-0 metrics only) beside a finite val_accuracy. The "linked" model has
    one version whose NaN metric is logged on its logged model and a dataset (the server's logged-model metric
    table keeps NaN as 0.0; the run keeps NaN)."""
    name = f"{prefix}-nonfinite"
    experiment(prefix, "nonfinite")
    versions = []
    epochs = {
        "train_loss": [0.69, 0.41, math.nan],
        "grad_norm": [1.2, 40.0, math.inf],
        "min_log_likelihood": [-3.1, -250.0, -math.inf],
    }
    for kind, est in estimators():
        with mlflow.start_run(run_name=f"diverged-{kind}") as run:
            est.fit(TRAIN, Y_TRAIN)
            for i in range(3):
                mlflow.log_metrics({k: v[i] for k, v in epochs.items()}, step=i + 1)
            acc = float(accuracy_score(Y_HOLDOUT, est.predict(HOLDOUT)))
            mlflow.log_metric("val_accuracy", acc, step=3)
            info = mlflow.sklearn.log_model(est, name="model", registered_model_name=name, pip_requirements=PIP,
                                            skops_trusted_types=TRUSTED,
                                            signature=infer_signature(TRAIN, est.predict(TRAIN)))
        versions.append({"version": version_of(info), "run_id": run.info.run_id, "model_id": info.model_id,
                         "artifact_path": "model", "prediction": row_prediction(est),
                         "metrics": {"val_accuracy": acc}})

    linked = f"{prefix}-nonfinite-linked"
    holdout_ds = mlflow.data.from_pandas(HOLDOUT.assign(label=Y_HOLDOUT), name="holdout", targets="label")
    est = LogisticRegression().fit(TRAIN, Y_TRAIN)
    with mlflow.start_run(run_name="nan-on-logged-model") as run:
        info = mlflow.sklearn.log_model(est, name="model", pip_requirements=PIP,
                                        signature=infer_signature(TRAIN, est.predict(TRAIN)))
        acc = float(accuracy_score(Y_HOLDOUT, est.predict(HOLDOUT)))
        mlflow.log_metric("val_accuracy", acc, model_id=info.model_id, dataset=holdout_ds)
        mlflow.log_metric("val_loss", math.nan, model_id=info.model_id, dataset=holdout_ds)
    mv = mlflow.register_model(f"models:/{info.model_id}", linked)
    linked_versions = [{"version": str(mv.version), "run_id": run.info.run_id, "model_id": info.model_id,
                        "artifact_path": "model", "prediction": row_prediction(est),
                        "metrics": {"val_accuracy": acc}}]
    return {"name": name, "versions": versions}, {"name": linked, "versions": linked_versions}


def prompts(prefix):
    """Prompt versions registered with mlflow.genai.register_prompt; the last one is not reviewed."""
    name = f"{prefix}-summarizer"
    templates = [
        ("Summarize {{text}} in {{words}} words.", "true"),
        ("Summarize the following in at most {{words}} words: {{text}}", "true"),
        ("You are a concise assistant. Summarize in {{words}} words: {{text}}", "true"),
        ("Summarize {{text}}. Be creative, ignore {{words}}.", "false"),
    ]
    versions = []
    for template, reviewed in templates:
        pv = mlflow.genai.register_prompt(name=name, template=template, commit_message="corpus",
                                          tags={"reviewed": reviewed})
        versions.append({"version": str(pv.version), "template": template, "tags": {"reviewed": reviewed}})
    return {"name": name, "versions": versions}


def timed(label, fn, *args):
    began = time.monotonic()
    out = fn(*args)
    print(f"corpus: {label} built in {time.monotonic() - began:.1f}s", file=sys.stderr)
    return out


def build(prefix):
    with tempfile.TemporaryDirectory() as tmp:
        models = {
            "sklearn": timed("sklearn", sklearn_registered, prefix),
            "pyfunc": timed("pyfunc", pyfunc_python_model, prefix, tmp),
            "autolog": timed("autolog", autologged, prefix),
            "dataset": timed("dataset", dataset_linked, prefix),
            "multi": timed("multi", several_in_one_run, prefix),
        }
        models["nonfinite"], models["nonfinite_linked"] = timed("nonfinite", non_finite, prefix)
    return {"row": ROW, "prompt_vars": PROMPT_VARS, "models": models, "prompt": timed("prompt", prompts, prefix)}


def predict(uri):
    model = mlflow.pyfunc.load_model(uri, suppress_warnings=True)
    out = model.predict(pd.DataFrame([ROW], columns=FEATURES))
    if hasattr(out, "tolist"):
        out = out.tolist()
    meta = model.metadata
    return {"prediction": list(out), "model_id": meta.model_id or "", "run_id": meta.run_id or ""}


def prompt(uri):
    p = mlflow.genai.load_prompt(uri, cache_ttl_seconds=0)
    return {"text": p.format(**PROMPT_VARS), "name": p.name, "version": str(p.version)}


def serve():
    ops = {"predict": predict, "prompt": prompt}
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            resp = ops[req["op"]](req["uri"])
        except Exception:  # noqa: BLE001 - every failure goes back to the test
            resp = {"error": traceback.format_exc()}
        PROTO.write(json.dumps(resp) + "\n")


def main():
    PROTO.write(json.dumps({"corpus": build(sys.argv[1])}) + "\n")
    serve()


if __name__ == "__main__":
    main()
