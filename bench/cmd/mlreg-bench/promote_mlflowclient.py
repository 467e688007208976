#!/usr/bin/env python3
"""Promote a model version to an alias with MlflowClient: the Python step a team would write instead of
mlreg-action. mlreg-bench runs it side by side with the binary on the same server and the same work:

  resolve the candidate, compare one metric with the champion's (floor + minimum improvement),
  write a promotion record on the candidate, move the alias, record the promotion on the registered
  model, and mark the previous champion as replaced.

Usage:
  python promote_mlflowclient.py --tracking-uri URL --model-name M --version 2 --target-alias champion \
      --metric val_auc --min 0.8 --min-improvement 0.005 [--aggregate last|min|max|mean]

Exit status: 0 promoted (or already in place), 1 check failed, 3 registry error.
"""

import argparse
import getpass
import json
import math
import statistics
import sys
from datetime import datetime, timezone

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


def metric_value(client, run, key, aggregate):
    if aggregate == "last":
        return run.data.metrics.get(key)
    history = client.get_metric_history(run.info.run_id, key)
    if not history:
        return None
    values = [m.value for m in sorted(history, key=lambda m: (m.step, m.timestamp))]
    return {"min": min, "max": max, "mean": statistics.fmean}[aggregate](values)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--model-name", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--target-alias", default="champion")
    p.add_argument("--metric", default="val_auc")
    p.add_argument("--min", type=float, default=None)
    p.add_argument("--min-improvement", type=float, default=0.0)
    p.add_argument("--aggregate", default="last", choices=["last", "min", "max", "mean"])
    args = p.parse_args()

    client = MlflowClient(tracking_uri=args.tracking_uri)
    name, alias = args.model_name, args.target_alias

    # Resolve: the candidate and its run, the champion (if any) and its run.
    candidate = client.get_model_version(name, args.version)
    candidate_run = client.get_run(candidate.run_id)
    try:
        champion = client.get_model_version_by_alias(name, alias)
    except MlflowException as e:
        if e.error_code != "INVALID_PARAMETER_VALUE":  # an unset alias is a 400
            raise
        champion = None
    if champion is not None and champion.version == candidate.version:
        print(f"{name} v{candidate.version} already holds @{alias}")
        return 0

    # Check: floor and improvement over the champion.
    value = metric_value(client, candidate_run, args.metric, args.aggregate)
    if value is None or math.isnan(value):
        print(f"FAIL: {args.metric} missing on v{candidate.version}")
        return 1
    if args.min is not None and value < args.min:
        print(f"FAIL: {args.metric} {value} < min {args.min}")
        return 1
    champion_value = None
    if champion is not None:
        champion_run = client.get_run(champion.run_id)
        champion_value = metric_value(client, champion_run, args.metric, args.aggregate)
        if champion_value is None or value - champion_value < args.min_improvement:
            print(f"FAIL: {args.metric} {value} vs champion {champion_value}: improvement < {args.min_improvement}")
            return 1

    # Apply and record.
    record = json.dumps({
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "by": getpass.getuser(),
        "version": candidate.version,
        "previous_version": champion.version if champion else "",
        "metric": {args.metric: value, "champion": champion_value},
    })
    client.set_model_version_tag(name, candidate.version, f"promotion.{alias}", record)
    client.set_registered_model_alias(name, alias, candidate.version)
    client.set_registered_model_tag(name, f"last_promotion.{alias}", record)
    if champion is not None:
        client.set_model_version_tag(name, champion.version, f"replaced.{alias}", record)
    previous = f"v{champion.version}" if champion else "none"
    print(f"promoted {name} @{alias}: {previous} -> v{candidate.version} ({args.metric} {value:.4f})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MlflowException as e:
        print(f"registry error: {e}", file=sys.stderr)
        sys.exit(3)
