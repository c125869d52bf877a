"""Keep the local stack's CloudWatch EMF metrics out of the console (local stack only).

In Lambda, Powertools prints EMF JSON to stdout and CloudWatch turns it into metrics.
The local stack's workers are long-lived, so a metric set fills up (100 values) every
few seconds and Powertools prints it even when metrics are disabled: a wall of JSON
in the `make run` terminal. Here every EMF line goes to a file instead
(``.local/metrics.log``), where it can still be read or graphed.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

_lock = threading.Lock()


def redirect_metrics(path: Path) -> None:
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf import cloudwatch

    path.parent.mkdir(parents=True, exist_ok=True)

    def to_file(*values: Any, **_: Any) -> None:
        with _lock, path.open("a") as sink:
            sink.write(" ".join(str(v) for v in values) + "\n")

    # The provider calls the module-level name `print`; shadowing it in that module
    # alone leaves every other print in the process untouched.
    cloudwatch.print = to_file  # type: ignore[attr-defined]
