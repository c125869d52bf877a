"""JSON-RPC over HTTP across several endpoints: failover, a circuit breaker per
endpoint (pybreaker), verified log ranges and automatic range splitting.

Raw JSON (hex strings) on purpose: the scanner decodes Transfer logs by hand,
which is many times faster than web3's contract-event decoding per log.

A lagging node answers ``eth_getLogs`` for blocks it does not have with an empty
list, which would silently skip payments. ``verified_logs`` therefore asks the
*same* endpoint for the range's last block afterwards: a node that does not know
it, or knows a different hash than expected, did not answer the range and the next
endpoint is tried.
"""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pybreaker
from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric

logger = Logger(child=True)

# Messages providers use when an eth_getLogs range or result is too large.
_RANGE_HINTS = ("limit", "range", "too many", "exceed", "response size", "block range")


class RpcError(Exception):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code

    @property
    def is_range_error(self) -> bool:
        text = str(self).lower()
        return self.code == -32005 or any(hint in text for hint in _RANGE_HINTS)


class NodeLagging(Exception):
    """The endpoint has not seen the block a query needs."""


@dataclass
class Endpoint:
    url: str
    breaker: pybreaker.CircuitBreaker

    @property
    def label(self) -> str:
        return urlsplit(self.url).netloc or self.url


class JsonRpc:
    def __init__(
        self,
        urls: Sequence[str],
        timeout_s: float = 10.0,
        breaker_fail_max: int = 3,
        breaker_reset_s: float = 30.0,
    ) -> None:
        if not urls:
            raise ValueError("at least one RPC URL is required (BSCPAY_RPC_URLS)")
        self.endpoints = [
            Endpoint(
                u,
                pybreaker.CircuitBreaker(
                    fail_max=breaker_fail_max,
                    reset_timeout=breaker_reset_s,
                    # A JSON-RPC error answer means the node is up; only transport
                    # failures and lag count against its breaker.
                    exclude=[lambda e: isinstance(e, RpcError) and e.code is not None],
                    name=u,
                ),
            )
            for u in urls
        ]
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)
        self._preferred = 0

    # -- transport ----------------------------------------------------------------------

    def _exchange(self, url: str, method: str, params: list[Any]) -> dict[str, Any]:
        """One request, the whole JSON-RPC reply (a result or an error answer)."""
        body = json.dumps(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - URLs come from operator config
            url, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
            reply = json.loads(response.read())
        if not isinstance(reply, dict) or ("result" not in reply and "error" not in reply):
            raise ValueError("malformed JSON-RPC reply")
        return reply

    def _post(self, url: str, method: str, params: list[Any]) -> Any:
        reply = self._exchange(url, method, params)
        if reply.get("error"):
            err = reply["error"]
            raise RpcError(str(err.get("message")), err.get("code"))
        return reply.get("result")

    def _on(self, endpoint: Endpoint, method: str, params: list[Any]) -> Any:
        try:
            return endpoint.breaker.call(self._post, endpoint.url, method, params)
        except (pybreaker.CircuitBreakerError, OSError, ValueError, NodeLagging):
            self._count_error(endpoint)
            raise

    def _reply_on(self, endpoint: Endpoint, method: str, params: list[Any]) -> dict[str, Any]:
        """Like :meth:`_on`, but an error answer is returned, not raised (the node is up:
        it does not count against the breaker)."""
        try:
            reply: dict[str, Any] = endpoint.breaker.call(
                self._exchange, endpoint.url, method, params
            )
        except (pybreaker.CircuitBreakerError, OSError, ValueError):
            self._count_error(endpoint)
            raise
        return reply

    def _count_error(self, endpoint: Endpoint) -> None:
        with single_metric(
            name="RpcErrors", unit=MetricUnit.Count, value=1, namespace="bscpay"
        ) as metric:
            metric.add_dimension(name="endpoint", value=endpoint.label)

    def _order(self) -> list[Endpoint]:
        n = len(self.endpoints)
        return [self.endpoints[(self._preferred + i) % n] for i in range(n)]

    def call(self, method: str, params: list[Any]) -> Any:
        """Try each endpoint whose breaker is closed, starting with the last good one.

        An error answer is tried on the next endpoint too: providers answer their own
        trouble (internal error, header not found, rate limits) as JSON-RPC errors.
        When every endpoint refused, the last refusal is raised as it was."""
        last: Exception | None = None
        for endpoint in self._order():
            try:
                result = self._on(endpoint, method, params)
            except (RpcError, pybreaker.CircuitBreakerError, OSError, ValueError) as exc:
                last = exc
                continue
            self._preferred = self.endpoints.index(endpoint)
            return result
        if isinstance(last, RpcError):
            raise last
        raise RpcError(f"all RPC endpoints failed for {method}: {last}")

    def reply(self, method: str, params: list[Any]) -> dict[str, Any]:
        """:meth:`call`'s failover, answering the whole JSON-RPC reply (for a client that
        maps error answers itself, e.g. web3 and its revert errors). A revert is the
        same on every node and is answered at once; another error answer is tried on
        the next endpoint and answered when none did better. Raises RpcError when no
        endpoint answered at all."""
        refused: dict[str, Any] | None = None
        last: Exception | None = None
        for endpoint in self._order():
            try:
                reply = self._reply_on(endpoint, method, params)
            except (pybreaker.CircuitBreakerError, OSError, ValueError) as exc:
                last = exc
                continue
            error = reply.get("error")
            if error and not _is_revert(error):
                refused = reply
                continue
            self._preferred = self.endpoints.index(endpoint)
            return reply
        if refused is not None:
            return refused
        raise RpcError(f"all RPC endpoints failed for {method}: {last}")

    def broadcast(self, raw_tx: str, tx_hash: str) -> dict[str, Any]:
        """``eth_sendRawTransaction`` to every endpoint whose breaker is closed, so that a
        dead or refusing node delays nothing. Idempotent by ``tx_hash`` (the caller
        computes it from ``raw_tx``): a node that answers an error ("already known",
        "nonce too low" once it is mined, ...) but knows the hash has it, which counts
        as accepted; no message text is matched. Answers ``tx_hash`` when any endpoint
        has the transaction, else the first refusal (an error reply); raises RpcError
        when no endpoint answered at all. Sending the same signed bytes again is never
        a second transaction: they can only be mined once."""
        accepted: dict[str, Any] | None = None
        refused: dict[str, Any] | None = None
        last: Exception | None = None
        for endpoint in self._order():
            try:
                reply = self._reply_on(endpoint, "eth_sendRawTransaction", [raw_tx])
                if reply.get("error"):
                    known = self._reply_on(endpoint, "eth_getTransactionByHash", [tx_hash])
                    if not known.get("result"):
                        refused = refused or reply
                        continue
                    reply = {**reply, "result": tx_hash}
                    reply.pop("error", None)
            except (pybreaker.CircuitBreakerError, OSError, ValueError) as exc:
                last = exc
                continue
            if accepted is None:
                accepted = reply
                self._preferred = self.endpoints.index(endpoint)
        if accepted is not None:
            return accepted
        if refused is not None:
            return refused
        raise RpcError(f"no RPC endpoint took transaction {tx_hash}: {last}")

    # -- typed helpers ------------------------------------------------------------------

    def chain_id(self) -> int:
        return _quantity(self.call("eth_chainId", []), "eth_chainId")

    def block_number(self) -> int:
        return _quantity(self.call("eth_blockNumber", []), "eth_blockNumber")

    def block(self, tag_or_number: str | int) -> dict[str, Any] | None:
        tag = hex(tag_or_number) if isinstance(tag_or_number, int) else tag_or_number
        result = self.call("eth_getBlockByNumber", [tag, False])
        return result if isinstance(result, dict) else None

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        result = self.call("eth_getTransactionReceipt", [tx_hash])
        return result if isinstance(result, dict) else None

    def erc20_decimals(self, token: str) -> int:
        result = self.call("eth_call", [{"to": token, "data": "0x313ce567"}, "latest"])
        if not result or result == "0x":
            raise RpcError(f"{token} does not answer decimals(): not a token contract")
        return int(result, 16)

    # -- log ranges -----------------------------------------------------------------------

    def verified_logs(
        self, address: str, topic0: str, from_block: int, to_block: int
    ) -> tuple[list[dict[str, Any]], str]:
        """All logs of the range and the hash of ``to_block``, from one endpoint that
        provably had the whole range, unchanged while it answered. Raises RpcError when
        no endpoint did (the scanner retries the range on its next step)."""
        last: Exception | None = None
        for endpoint in self._order():
            try:
                before = self._block_hash_on(endpoint, to_block)
                logs = self._split_logs(endpoint, address, topic0, from_block, to_block)
                after = self._block_hash_on(endpoint, to_block)
                # A reorg during the query changes to_block's hash (it commits to every
                # block below it): the logs may mix two chains, so this answer is void.
                if before != after or any(
                    int(str(log.get("blockNumber", "0x0")), 16) == to_block
                    and str(log.get("blockHash", "")).lower() != after
                    for log in logs
                ):
                    raise RpcError(f"reorg during logs {from_block}-{to_block}; retry")
                block = {"hash": after}
            except NodeLagging as exc:
                self._count_error(endpoint)
                last = exc
                continue
            except (pybreaker.CircuitBreakerError, OSError, ValueError, RpcError) as exc:
                last = exc
                continue
            self._preferred = self.endpoints.index(endpoint)
            return logs, str(block["hash"]).lower()
        raise RpcError(f"no endpoint answered logs {from_block}-{to_block}: {last}")

    def _block_hash_on(self, endpoint: Endpoint, number: int) -> str:
        block = self._on(endpoint, "eth_getBlockByNumber", [hex(number), False])
        if not isinstance(block, dict) or not block.get("hash"):
            raise NodeLagging(f"{endpoint.label} does not have block {number}")
        return str(block["hash"]).lower()

    def _split_logs(
        self, endpoint: Endpoint, address: str, topic0: str, start: int, end: int
    ) -> list[dict[str, Any]]:
        """eth_getLogs, halving the range on provider range/size limits; never skips."""
        params = [
            {"address": address, "topics": [topic0], "fromBlock": hex(start), "toBlock": hex(end)}
        ]
        try:
            result = self._on(endpoint, "eth_getLogs", params)
        except RpcError as exc:
            if not exc.is_range_error or start == end:
                raise
            middle = (start + end) // 2
            logger.info("splitting log range", extra={"from": start, "to": end})
            return self._split_logs(endpoint, address, topic0, start, middle) + self._split_logs(
                endpoint, address, topic0, middle + 1, end
            )
        if not isinstance(result, list):
            raise ValueError("eth_getLogs did not return a list")
        return result


def _is_revert(error: Any) -> bool:
    """The call itself reverted (EIP-1474 code 3, or geth's/anvil's -32000 wording):
    every node answers the same, so no other endpoint is asked."""
    if not isinstance(error, dict):
        return False
    return error.get("code") == 3 or "revert" in str(error.get("message", "")).lower()


def _quantity(value: Any, method: str) -> int:
    """A hex quantity, or an RpcError (a null or malformed answer is not a number)."""
    if not isinstance(value, str):
        raise RpcError(f"{method} returned {value!r}, not a hex quantity")
    try:
        return int(value, 16)
    except ValueError as exc:
        raise RpcError(f"{method} returned {value!r}, not a hex quantity") from exc
