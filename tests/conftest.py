"""Suite-wide guard. The integration and e2e layers each start a whole local stack
and point the process environment (AWS endpoint, chain, keys) at it, so they must
run in separate pytest processes — as `make integration` and `make e2e` do.

The local stacks write their process logs (anvil, worker failures) and the Makefile
writes JUnit reports under ``test-output/<suite>/``: kept after a failed run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import config

TEST_OUTPUT = Path(__file__).resolve().parents[1] / "test-output"


def fresh_output_dir(suite: str) -> Path:
    """``test-output/<suite>/`` emptied of an earlier run's logs."""
    folder = TEST_OUTPUT / suite
    for old in ("anvil.log", "workers.log"):
        (folder / old).unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(autouse=True)
def _settings_read_afresh_after_each_test() -> Iterator[None]:
    """Settings are read once and cached (``shared.config``): a test that changes the
    environment calls ``config.reset()``, and none leaves its values to the next."""
    yield
    config.reset()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    layers = {item.path.parent.name for item in items} & {"integration", "e2e", "browser"}
    if len(layers) > 1:
        raise pytest.UsageError(
            "run tests/integration, tests/e2e and tests/browser in separate pytest processes "
            "(`make integration`, `make e2e`, `make browser`): each owns the process environment"
        )
