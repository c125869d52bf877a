"""A small JSON-RPC client over HTTP with failover across the configured endpoints.

Raw JSON (hex strings) on purpose: the scanner decodes Transfer logs by hand,
which is many times faster than web3's contract-event decoding per log.
"""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any


class RpcError(Exception):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class JsonRpc:
    def __init__(self, urls: Sequence[str], timeout_s: float = 10.0) -> None:
        if not urls:
            raise ValueError("at least one RPC URL is required (BSCPAY_RPC_URLS)")
        self.urls = list(urls)
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)
        self._preferred = 0

    def call(self, method: str, params: list[Any]) -> Any:
        """Try each endpoint once, starting with the last one that worked."""
        last: Exception | None = None
        for offset in range(len(self.urls)):
            index = (self._preferred + offset) % len(self.urls)
            try:
                result = self._post(self.urls[index], method, params)
            except RpcError as exc:
                if exc.code is not None and exc.code != -32603:
                    raise  # the node understood and refused: another node will too
                last = exc
                continue
            except (OSError, urllib.error.URLError, ValueError) as exc:
                last = exc
                continue
            self._preferred = index
            return result
        raise RpcError(f"all RPC endpoints failed for {method}: {last}")

    def _post(self, url: str, method: str, params: list[Any]) -> Any:
        body = json.dumps(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - URLs come from operator config
            url, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
            reply = json.loads(response.read())
        if reply.get("error"):
            err = reply["error"]
            raise RpcError(str(err.get("message")), err.get("code"))
        return reply.get("result")

    # -- typed helpers ---------------------------------------------------------------

    def chain_id(self) -> int:
        return int(self.call("eth_chainId", []), 16)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber", []), 16)

    def block(self, tag_or_number: str | int) -> dict[str, Any] | None:
        tag = hex(tag_or_number) if isinstance(tag_or_number, int) else tag_or_number
        result = self.call("eth_getBlockByNumber", [tag, False])
        return result if isinstance(result, dict) else None

    def logs(
        self, address: str, topic0: str, from_block: int, to_block: int
    ) -> list[dict[str, Any]]:
        result = self.call(
            "eth_getLogs",
            [
                {
                    "address": address,
                    "topics": [topic0],
                    "fromBlock": hex(from_block),
                    "toBlock": hex(to_block),
                }
            ],
        )
        return list(result or [])

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        result = self.call("eth_getTransactionReceipt", [tx_hash])
        return result if isinstance(result, dict) else None

    def erc20_decimals(self, token: str) -> int:
        # decimals() selector
        result = self.call("eth_call", [{"to": token, "data": "0x313ce567"}, "latest"])
        if not result or result == "0x":
            raise RpcError(f"{token} does not answer decimals(): not a token contract")
        return int(result, 16)
