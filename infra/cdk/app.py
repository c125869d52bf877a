"""CDK app entry point: ``python -m infra.cdk.app`` (cdk.json runs it from the repo root).

Settings come from the stage blocks of cdk.json (``-c stage=test|prod``; ``-c key=value``
overrides one for one run); see ``infra/cdk/config.py``. cdk-nag's AwsSolutions pack runs
on every synth.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from aws_cdk import App, Environment, Tags

from infra.cdk.config import ConfigError, from_context
from infra.cdk.constants import STACK_ID
from infra.cdk.nag import add_checks
from infra.cdk.stack import BscpayStack

BUNDLING_STACKS = "aws:cdk:bundling-stacks"


def create_app(
    context: Mapping[str, Any] | None = None,
    outdir: str | None = None,
    builtin_validation: bool | None = None,
) -> tuple[App, BscpayStack]:
    """Build the app. The arguments are for tests; the CLI passes context and outdir
    itself. ``builtin_validation=False`` skips CDK's own CloudFormation schema check
    (about 15 s here): the infra tests run cfn-lint on the template instead."""
    props: dict[str, Any] = {
        "context": dict(context or {}),
        "outdir": outdir,
        "builtin_cloud_formation_validation": builtin_validation,
    }
    config = from_context(App(**props).node.try_get_context)
    if not config.bundle:
        # Read-only synth: build no asset (CDK stages the sources as they are), and the
        # stack carries a rule that refuses deployment. See ADR 0002.
        props["post_cli_context"] = {BUNDLING_STACKS: []}
    app = App(**props)
    stack = BscpayStack(
        app,
        STACK_ID,
        stack_name=f"{config.prefix}-stack",
        description=f"bscpay USDT (BEP20) payment gateway on {config.network}",
        config=config,
        env=Environment(
            account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
            region=os.environ.get("CDK_DEFAULT_REGION"),
        ),
        termination_protection=True,
    )
    Tags.of(stack).add("project", "bscpay")
    Tags.of(stack).add("bscpay:prefix", config.prefix)
    Tags.of(stack).add("bscpay:network", config.network)
    add_checks(app)
    return app, stack


def main() -> int:
    try:
        app, _ = create_app()
    except ConfigError as exc:
        print(f"bscpay: {exc}", file=sys.stderr)
        return 2
    try:
        app.synth()
    except RuntimeError as exc:
        if "Failed to bundle asset" not in str(exc):
            raise
        # layers/build.py's own message ("... run `make layers`") without the jsii trace.
        print(f"bscpay: {str(exc).rsplit('RuntimeError: ', 1)[-1]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
