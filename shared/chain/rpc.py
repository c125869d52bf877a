"""JSON-RPC over HTTP across several endpoints: failover, a circuit breaker per
endpoint (pybreaker), verified log ranges and automatic range splitting.

Raw JSON (hex strings) on purpose: the scanner decodes Transfer logs by hand,
which is many times faster than web3's contract-event decoding per log.

A lagging node answers ``eth_getLogs`` for blocks it does not have with an empty
list, which would silently skip payments. ``verified_logs`` therefore asks the
*same* endpoint for the range's last block afterwards: a node that does not know
it, or knows a different hash than expected, did not answer the range and the next
endpoint is tried.

Above ~400 lines on purpose: endpoint choice, breakers, reply checks and the rules for
reads, reverts and broadcasts of unknown outcome are one failover policy, reviewed
together (docs/adr/0014-one-evm-client.md).
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pybreaker
from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from shared import config
from shared.aws import secrets as aws_secrets

logger = Logger(child=True)


def endpoints() -> list[str]:
    """The JSON-RPC endpoints, in order: ``BSCPAY_RPC_URLS`` (the local stack, tests), else
    the Secrets Manager secret ``BSCPAY_RPC_URLS_SECRET`` names (comma- or line-separated
    URLs; cached a few minutes, so a changed provider key is picked up)."""
    settings = config.chain()
    urls = settings.rpc_url_list()
    if urls or not settings.rpc_urls_secret:
        return urls
    text = aws_secrets.read(settings.rpc_urls_secret)
    return [u.strip() for u in text.replace("\n", ",").split(",") if u.strip()]


# Calls per JSON-RPC batch: providers commonly accept 100 to 1,000.
BATCH_SIZE = 100

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


class TransportError(OSError):
    """No usable HTTP answer: an HTTP status other than 200, or a reply cut off or
    garbled on the wire (``http.client.HTTPException``, which is not an OSError)."""


class Unreachable(TransportError):
    """Not even connected: the request cannot have reached the node."""


# The JSON-RPC methods whose revert depends on the state a node has: a lagging node
# may revert what the chain head would not, so the next endpoint is asked.
_STATE_CALLS = frozenset({"eth_call", "eth_estimateGas"})


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
        connect_timeout_s: float = 3.0,
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
        self.connect_timeout_s = min(connect_timeout_s, timeout_s)
        self._ids = itertools.count(1)
        self._preferred = 0

    # -- transport ----------------------------------------------------------------------

    def _exchange(
        self, url: str, method: str, params: list[Any], read_timeout_s: float | None = None
    ) -> dict[str, Any]:
        """One request, the whole JSON-RPC reply (a result or an error answer), checked
        the way web3 checks it: anything else raises ValueError (the next endpoint is
        tried), a transport failure raises TransportError (an OSError)."""
        rid = next(self._ids)
        payload = {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}
        try:
            reply = self._send(url, payload, read_timeout_s or self.timeout_s)
        except http.client.HTTPException as exc:  # IncompleteRead, BadStatusLine, ...
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return _validated(reply, rid)

    def _send(self, url: str, payload: Any, read_timeout_s: float) -> Any:
        """POST ``payload``; the decoded JSON body. A short connect timeout (a dead or
        black-holed endpoint costs ``connect_timeout_s``), then ``read_timeout_s`` for
        the answer (a busy node may take long)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) RPC URL: {parts.scheme}://{parts.netloc}")
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = kind(parts.hostname, parts.port, timeout=self.connect_timeout_s)
        headers = {"Content-Type": "application/json"}
        if parts.username is not None:
            token = f"{parts.username}:{parts.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            try:
                connection.connect()
            except OSError as exc:
                raise Unreachable(f"cannot connect to {parts.netloc}: {exc}") from exc
            if connection.sock is not None:
                connection.sock.settimeout(read_timeout_s)
            connection.request("POST", path, body=json.dumps(payload).encode(), headers=headers)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise TransportError(f"HTTP {response.status} from {parts.netloc}")
        return json.loads(body)

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

    def _reply_on(
        self,
        endpoint: Endpoint,
        method: str,
        params: list[Any],
        read_timeout_s: float | None = None,
        tried: list[BaseException] | None = None,
    ) -> dict[str, Any]:
        """Like :meth:`_on`, but an error answer is returned, not raised (the node is up:
        it does not count against the breaker). ``tried`` receives the transport
        failure itself (the breaker may raise its own error instead when it opens)."""

        def exchange() -> dict[str, Any]:
            try:
                return self._exchange(endpoint.url, method, params, read_timeout_s)
            except BaseException as exc:
                if tried is not None:
                    tried.append(exc)
                raise

        try:
            reply: dict[str, Any] = endpoint.breaker.call(exchange)
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

    def batch(self, calls: Sequence[tuple[str, list[Any]]], size: int = BATCH_SIZE) -> list[Any]:
        """The results of many calls in JSON-RPC batches of ``size`` (one HTTP request
        each; issue 16 §2: the reconciler reads thousands of balances), in order. Each
        batch fails over like :meth:`call`; an endpoint that answers a batch with
        anything but a complete list of results (some providers refuse batches) gets
        the batch's calls one by one. Any error answer raises RpcError."""
        results: list[Any] = []
        for start in range(0, len(calls), size):
            results.extend(self._batch(list(calls[start : start + size])))
        return results

    def _batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        last: Exception | None = None
        for endpoint in self._order():
            if endpoint.breaker.current_state == pybreaker.STATE_OPEN:
                last = pybreaker.CircuitBreakerError(endpoint.label)
                continue
            try:
                # Not through the breaker: a provider refusing batches is not down.
                answers = self._send_batch(endpoint.url, calls)
            except Unreachable as exc:
                self._count_error(endpoint)
                last = exc
                continue
            except (OSError, ValueError, RpcError):
                # No usable batch answer from a node that is up (batches refused, an
                # error answer, a garbled reply): the same calls one by one, each with
                # the usual breaker and error handling.
                try:
                    answers = [self._on(endpoint, method, params) for method, params in calls]
                except (RpcError, pybreaker.CircuitBreakerError, OSError, ValueError) as inner:
                    last = inner
                    continue
            self._preferred = self.endpoints.index(endpoint)
            return list(answers)
        if isinstance(last, RpcError):
            raise last
        raise RpcError(f"all RPC endpoints failed for a batch of {len(calls)}: {last}")

    def _send_batch(self, url: str, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        ids = [next(self._ids) for _ in calls]
        payload = [
            {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}
            for rid, (method, params) in zip(ids, calls, strict=True)
        ]
        try:
            reply = self._send(url, payload, self.timeout_s)
        except http.client.HTTPException as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(reply, list) or len(reply) != len(calls):
            raise ValueError("no complete JSON-RPC batch answer")
        by_id = {item.get("id"): item for item in reply if isinstance(item, dict)}
        out = []
        for rid in ids:
            answer = _validated(by_id.get(rid), rid)
            if answer.get("error"):
                err = answer["error"]
                raise RpcError(str(err.get("message")), err.get("code"))
            out.append(answer.get("result"))
        return out

    def token_balances(
        self, token: str, holders: Sequence[str], block: str = "latest"
    ) -> list[int]:
        """``token.balanceOf`` of every holder, read in JSON-RPC batches."""
        calls = [("eth_call", [_balance_call(token, h), block]) for h in holders]
        return [_quantity(result, "balanceOf") for result in self.batch(calls)]

    def call_on(self, endpoint: Endpoint, method: str, params: list[Any]) -> Any:
        """``method`` on this one endpoint, no failover: to check one node's answer
        against another's. Any failure (transport, breaker open, malformed reply, error
        answer) raises RpcError."""
        try:
            return self._on(endpoint, method, params)
        except RpcError:
            raise
        except (pybreaker.CircuitBreakerError, OSError, ValueError, NodeLagging) as exc:
            raise RpcError(f"{endpoint.label}: {type(exc).__name__}: {exc}") from exc

    def reply(self, method: str, params: list[Any]) -> dict[str, Any]:
        """:meth:`call`'s failover, answering the whole JSON-RPC reply (for a client that
        maps error answers itself, e.g. web3 and its revert errors). An error answer is
        tried on the next endpoint, a revert of ``eth_call``/``eth_estimateGas`` too (it
        depends on the state a node has, and a lagging node may revert what the head
        would not). When no endpoint gave a result, a revert is answered before another
        error answer. Raises RpcError when no endpoint answered at all."""
        refused: dict[str, Any] | None = None
        reverted: dict[str, Any] | None = None
        last: Exception | None = None
        for endpoint in self._order():
            try:
                reply = self._reply_on(endpoint, method, params)
            except (pybreaker.CircuitBreakerError, OSError, ValueError) as exc:
                last = exc
                continue
            error = reply.get("error")
            if error and _is_revert(error) and method in _STATE_CALLS:
                reverted = reverted or reply
                continue
            if error and not _is_revert(error):
                refused = reply
                continue
            self._preferred = self.endpoints.index(endpoint)
            return reply
        if reverted is not None:
            return reverted
        if refused is not None:
            return refused
        raise RpcError(f"all RPC endpoints failed for {method}: {last}")

    def broadcast(self, raw_tx: str, tx_hash: str) -> dict[str, Any]:
        """``eth_sendRawTransaction`` to every endpoint whose breaker is closed, so that a
        dead or refusing node delays nothing. Idempotent by ``tx_hash`` (the caller
        computes it from ``raw_tx``): a node that answers an error ("already known",
        "nonce too low" once it is mined, ...) but knows the hash has it, which counts
        as accepted; no message text is matched. Sending the same signed bytes again is
        never a second transaction: they can only be mined once.

        Answers ``tx_hash`` when any endpoint has the transaction. A refusal (the first
        error reply) only when every endpoint that was reached refused it and does not
        know its hash. When the outcome is unknown — an endpoint failed after the
        request may have reached it (a timeout, an HTTP 500, a reply cut off), or a
        by-hash check failed — raises RpcError: the node may have taken the
        transaction, so it must not be treated as refused (and its nonce cancelled);
        the caller's retry sends the same bytes again. Raises RpcError as well when no
        endpoint could be reached. Once one endpoint has taken it, the others get only
        ``connect_timeout_s`` to answer: a hanging node delays a sent transaction
        little."""
        accepted: dict[str, Any] | None = None
        refused: dict[str, Any] | None = None
        unsure: Exception | None = None
        last: Exception | None = None
        for endpoint in self._order():
            timeout = self.timeout_s if accepted is None else self.connect_timeout_s
            tried: list[BaseException] = []
            try:
                reply = self._reply_on(endpoint, "eth_sendRawTransaction", [raw_tx], timeout, tried)
            except (pybreaker.CircuitBreakerError, OSError, ValueError) as exc:
                last = exc
                if tried and not isinstance(tried[0], Unreachable | ConnectionRefusedError):
                    unsure = tried[0] if isinstance(tried[0], Exception) else exc
                continue
            if reply.get("error"):
                try:
                    known = self._reply_on(endpoint, "eth_getTransactionByHash", [tx_hash], timeout)
                except (pybreaker.CircuitBreakerError, OSError, ValueError) as exc:
                    last = unsure = exc
                    continue
                if known.get("error"):
                    unsure = RpcError(f"by-hash check failed: {known['error']}")
                    continue
                if not known.get("result"):
                    refused = refused or reply
                    continue
                reply = {**reply, "result": tx_hash}
                reply.pop("error", None)
            if accepted is None:
                accepted = reply
                self._preferred = self.endpoints.index(endpoint)
        if accepted is not None:
            return accepted
        if unsure is not None:
            raise RpcError(
                f"transaction {tx_hash}: outcome unknown (an endpoint may have taken it:"
                f" {type(unsure).__name__}: {unsure}); send the same bytes again"
            )
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

    def token_balance(self, token: str, holder: str, block: str | int = "latest") -> int:
        """``token.balanceOf(holder)`` at ``block``: :func:`token_balance` over this
        client's failover."""
        return token_balance(self.call, token, holder, block)

    def erc20_decimals(self, token: str) -> int:
        result = self.call("eth_call", [{"to": token, "data": "0x313ce567"}, "latest"])
        if not result or result == "0x":
            raise RpcError(f"{token} does not answer decimals(): not a token contract")
        return int(result, 16)

    def erc20_symbol(self, token: str) -> str:
        """``symbol()`` as a string (ABI-encoded string or, for old tokens, bytes32)."""
        result = self.call("eth_call", [{"to": token, "data": "0x95d89b41"}, "latest"])
        raw = bytes.fromhex(str(result or "0x")[2:])
        if len(raw) >= 96 and int.from_bytes(raw[:32], "big") == 32:
            length = int.from_bytes(raw[32:64], "big")
            return raw[64 : 64 + length].decode("utf-8", "replace")
        return raw[:32].rstrip(b"\0").decode("utf-8", "replace")

    # -- log ranges -----------------------------------------------------------------------

    def verified_logs(
        self, address: str | list[str], topic0: str, from_block: int, to_block: int
    ) -> tuple[list[dict[str, Any]], str]:
        """All logs of the range and the hash of ``to_block``, from one endpoint that
        provably had the whole range, unchanged while it answered. Raises RpcError when
        no endpoint did (the scanner retries the range on its next step). ``address``:
        one contract or several (one eth_getLogs for all configured tokens, issue 14)."""
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
        self, endpoint: Endpoint, address: str | list[str], topic0: str, start: int, end: int
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


def token_balance(
    call: Callable[[str, list[Any]], Any], token: str, holder: str, block: str | int = "latest"
) -> int:
    """``token.balanceOf(holder)`` at ``block`` (a tag or a number), in base units: the
    one implementation, over any JSON-RPC ``call(method, params) -> result`` (the
    scanner's :class:`JsonRpc`, or a web3 client through ``evm.token_balance``). An
    answer that is no number (e.g. ``0x``: no contract there) raises RpcError."""
    tag = hex(block) if isinstance(block, int) else block
    return _quantity(call("eth_call", [_balance_call(token, holder), tag]), "balanceOf")


def _balance_call(token: str, holder: str) -> dict[str, str]:
    data = "0x70a08231" + holder.lower().removeprefix("0x").rjust(64, "0")  # balanceOf
    return {"to": token, "data": data}


def _is_revert(error: Any) -> bool:
    """The call itself reverted, classified as web3 does: EIP-1474 code 3, or geth's
    and anvil's "execution reverted" message (not any message that says "revert")."""
    if not isinstance(error, dict):
        return False
    return error.get("code") == 3 or "execution reverted" in str(error.get("message", "")).lower()


def _validated(reply: Any, rid: int) -> dict[str, Any]:
    """``reply`` if it is a JSON-RPC 2.0 answer to request ``rid`` with exactly one of
    ``result`` and ``error`` (an error with an integer code and a message), else
    ValueError: web3 would raise BadResponseFormat, so the next endpoint is tried."""
    if not isinstance(reply, dict) or reply.get("jsonrpc") != "2.0":
        raise ValueError("malformed JSON-RPC reply: not JSON-RPC 2.0")
    if reply.get("id") != rid:
        raise ValueError(f"malformed JSON-RPC reply: id {reply.get('id')!r}, not {rid}")
    if ("result" in reply) == ("error" in reply):
        raise ValueError("malformed JSON-RPC reply: needs exactly one of result and error")
    error = reply.get("error")
    if "error" in reply and not (
        isinstance(error, dict)
        and isinstance(error.get("code"), int)
        and isinstance(error.get("message"), str)
    ):
        raise ValueError(f"malformed JSON-RPC error: {error!r}")
    return reply


def _quantity(value: Any, method: str) -> int:
    """A hex quantity, or an RpcError (a null or malformed answer is not a number)."""
    if not isinstance(value, str):
        raise RpcError(f"{method} returned {value!r}, not a hex quantity")
    try:
        return int(value, 16)
    except ValueError as exc:
        raise RpcError(f"{method} returned {value!r}, not a hex quantity") from exc
