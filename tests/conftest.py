"""Suite-wide guard. The integration and e2e layers each start a whole local stack
and point the process environment (AWS endpoint, chain, keys) at it, so they must
run in separate pytest processes — as `make integration` and `make e2e` do."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    layers = {item.path.parent.name for item in items} & {"integration", "e2e"}
    if len(layers) > 1:
        raise pytest.UsageError(
            "run tests/integration and tests/e2e in separate pytest processes "
            "(`make integration`, `make e2e`): each owns the process environment"
        )
