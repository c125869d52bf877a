"""The committed CI/CD workflow (issue 16): tests on every push, a diff of every stage,
test deployed from main, prod only behind the approval-gated environment, OIDC only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci-cd.yml"


def _workflow() -> dict[str, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the key `on` as True
    loaded["on"] = loaded.pop(True, loaded.get("on"))
    return dict(loaded)


def test_tests_run_on_every_push_and_pull_request_with_the_newcomers_command() -> None:
    flow = _workflow()
    assert set(flow["on"]) == {"push", "pull_request"}
    steps = [s.get("run", "") for s in flow["jobs"]["test"]["steps"]]
    assert "bash .ci/run" in steps


def test_every_committed_stage_is_diffed_and_prod_waits_for_approval() -> None:
    flow = _workflow()
    jobs = flow["jobs"]
    stages = json.loads((ROOT / "cdk.json").read_text())["context"]["stages"]
    assert set(jobs["diff"]["strategy"]["matrix"]["stage"]) == set(stages)
    assert jobs["deploy-test"]["needs"] == "diff"
    assert jobs["deploy-prod"]["needs"] == "deploy-test"
    assert jobs["deploy-prod"]["environment"] == "production"
    for name, stage in (("deploy-test", "test"), ("deploy-prod", "prod")):
        runs = " ".join(s.get("run", "") for s in jobs[name]["steps"])
        assert f"make deploy STAGE={stage}" in runs
        assert "refs/heads/main" in jobs[name]["if"]


def test_aws_access_is_openid_connect_never_stored_keys() -> None:
    text = WORKFLOW.read_text()
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    for name in ("diff", "deploy-test", "deploy-prod"):
        assert _workflow()["jobs"][name]["permissions"]["id-token"] == "write"
