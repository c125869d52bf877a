"""All EVM access of bscpay (docs/adr/0014): the one module that imports web3.

- :func:`client`: a ``Web3`` client over every ``BSCPAY_RPC_URLS`` endpoint. Its
  provider routes each request through the scanner's failover and per-endpoint
  circuit breakers (:class:`shared.chain.rpc.JsonRpc`): a read fails over to the next
  healthy endpoint; a signed transaction goes to every healthy endpoint and is
  idempotent by its hash (a node that already has it accepted it).
- The gas-price policy of every hot-wallet transaction (:class:`GasPolicy`,
  :func:`clamped_gas_price`, the estimate headroom).
- Token balances and the ERC-20 ABI.
- :func:`transfers_in`: a receipt's Transfer logs, decoded by the one decoder the
  scanner uses too (:func:`shared.chain.logs.decode`, raw JSON, no web3 so the
  scanner stays fast).
- The web3 types and exceptions settlement code names, re-exported from here so that
  no other module imports web3.

web3 and eth_account cost ~1.3 s of imports: only settlement, the disbursement worker
and the local stack import this module, never the API or webhook functions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from eth_account.typed_transactions import TypedTransaction
from eth_typing import HexStr
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import (
    BlockNotFound,
    ContractLogicError,
    TransactionNotFound,
    Web3RPCError,
)
from web3.providers.base import JSONBaseProvider
from web3.types import AccessList, Nonce, RPCEndpoint, RPCResponse, TxParams, TxReceipt, Wei

from shared import config
from shared.chain import rpc
from shared.chain.logs import TransferLog, decode
from shared.chain.rpc import JsonRpc

__all__ = [
    "ERC20_ABI",
    "GAS_HEADROOM_DEN",
    "GAS_HEADROOM_NUM",
    "AccessList",
    "BlockNotFound",
    "Contract",
    "ContractLogicError",
    "FailoverProvider",
    "GasPolicy",
    "GasPriceBelowBaseFee",
    "Nonce",
    "RPCEndpoint",
    "TransactionNotFound",
    "TransferLog",
    "TxParams",
    "TxReceipt",
    "Web3",
    "Web3RPCError",
    "Wei",
    "clamped_gas_price",
    "client",
    "gas_policy",
    "moved",
    "signed_fields",
    "token_balance",
    "transfers_in",
]

SEND_RAW = "eth_sendRawTransaction"
# Slower than the scanner's 10 s: a busy node may take long to accept a transaction.
CLIENT_TIMEOUT_S = 20.0
# A dead or black-holed endpoint costs this much, not CLIENT_TIMEOUT_S, before the next
# one is tried (and it is all an endpoint gets once another took a broadcast).
CONNECT_TIMEOUT_S = 3.0

ERC20_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "balanceOf",
        "stateMutability": "view",
        "inputs": [{"name": "holder", "type": "address"}],
        "outputs": [{"name": "", "type": "uint256"}],
    },
    {
        "type": "function",
        "name": "transfer",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "to", "type": "address"}, {"name": "amount", "type": "uint256"}],
        "outputs": [{"name": "", "type": "bool"}],
    },
]
# Headroom over eth_estimateGas for transactions the hot wallet pays for (unused gas is
# not charged). The naive sweep's deposit transfer uses the estimate exactly: the
# deposit holds exactly estimate x price BNB.
GAS_HEADROOM_NUM, GAS_HEADROOM_DEN = 6, 5


# --- the client -------------------------------------------------------------------------


class FailoverProvider(JSONBaseProvider):
    """A web3 provider over :class:`JsonRpc`: each request takes the scanner's failover
    path and breakers; ``eth_sendRawTransaction`` is :meth:`JsonRpc.broadcast`."""

    def __init__(self, rpc: JsonRpc) -> None:
        super().__init__()
        self.rpc = rpc

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        # web3 hands in HexBytes, ints and AttributeDicts: its own encoder makes them JSON.
        plain = json.loads(self.encode_rpc_request(method, params))["params"]
        if method == SEND_RAW:
            raw = str(plain[0])
            tx_hash = Web3.keccak(hexstr=HexStr(raw)).to_0x_hex()
            return cast(RPCResponse, self.rpc.broadcast(raw, tx_hash))
        return cast(RPCResponse, self.rpc.reply(str(method), plain))

    def make_batch_request(
        self, requests: list[tuple[RPCEndpoint, Any]]
    ) -> list[RPCResponse] | RPCResponse:
        return [self.make_request(method, params) for method, params in requests]


def client(urls: Sequence[str] | None = None) -> Web3:
    """The Web3 client over ``urls`` (default: every ``BSCPAY_RPC_URLS`` endpoint), one
    per process and endpoint list so that breakers remember a dead node between calls
    (and Lambda invocations)."""
    chosen = tuple(urls) if urls is not None else tuple(rpc.endpoints())
    return _client(chosen)


@lru_cache(maxsize=16)
def _client(urls: tuple[str, ...]) -> Web3:
    return Web3(
        FailoverProvider(
            JsonRpc(urls, timeout_s=CLIENT_TIMEOUT_S, connect_timeout_s=CONNECT_TIMEOUT_S)
        )
    )


# --- gas --------------------------------------------------------------------------------


class GasPriceBelowBaseFee(RuntimeError):
    """The clamped gas price is under the chain's base fee: nothing would be mined."""


@dataclass(frozen=True)
class GasPolicy:
    """Gas price = the node's ``eth_gasPrice`` clamped to [floor, ceiling] (wei)."""

    floor_wei: int
    ceiling_wei: int

    def __post_init__(self) -> None:
        if not 0 <= self.floor_wei <= self.ceiling_wei:
            raise ValueError("gas policy needs 0 <= floor <= ceiling")

    def clamp(self, node_price_wei: int) -> int:
        return min(max(node_price_wei, self.floor_wei), self.ceiling_wei)


def gas_policy(settings: config.SweepSettings | None = None) -> GasPolicy:
    """The deployment's policy (``BSCPAY_SWEEP_GAS_FLOOR_WEI`` / ``_CEILING_WEI``)."""
    settings = settings or config.sweeps()
    return GasPolicy(settings.gas_floor_wei, settings.gas_ceiling_wei)


def clamped_gas_price(w3: Web3, policy: GasPolicy) -> int:
    """The node's gas price clamped to ``policy``, for every hot-wallet transaction;
    raises GasPriceBelowBaseFee (nothing to sign) when that cannot be mined."""
    price = policy.clamp(int(w3.eth.gas_price))
    base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
    if price < base_fee:
        raise GasPriceBelowBaseFee(
            f"gas price {price} wei (ceiling {policy.ceiling_wei}) is below the base "
            f"fee {base_fee} wei; send later or raise the ceiling"
        )
    return price


# --- tokens and logs --------------------------------------------------------------------


def token_balance(w3: Web3, token: str, address: str, block: str | int = "latest") -> int:
    """``token.balanceOf(address)`` at ``block`` (default the latest), in base units:
    :func:`shared.chain.rpc.token_balance` through ``w3``'s provider."""
    return rpc.token_balance(
        lambda method, params: w3.manager.request_blocking(RPCEndpoint(method), params),
        Web3.to_checksum_address(token),
        address,
        block,
    )


def transfers_in(receipt: Mapping[str, Any]) -> list[TransferLog]:
    """The well-formed Transfer logs of a web3 receipt (any token: callers check
    ``log.token``), decoded by :func:`shared.chain.logs.decode`."""
    decoded = (decode(_as_json_log(log)) for log in receipt["logs"])
    return [log for log in decoded if log is not None]


def moved(
    receipt: Mapping[str, Any], token: str, sources: Iterable[str], to: str
) -> dict[str, int]:
    """Base units of ``token`` the receipt moved from each of ``sources`` to ``to``
    (lower-case addresses as keys; sources that moved nothing are absent)."""
    token, to = token.lower(), to.lower()
    wanted = {s.lower() for s in sources}
    total: dict[str, int] = {}
    for log in transfers_in(receipt):
        if log.token == token and log.from_address in wanted and log.to_address == to:
            total[log.from_address] = total.get(log.from_address, 0) + log.value
    return total


def _as_json_log(log: Mapping[str, Any]) -> dict[str, Any]:
    """A web3 log (HexBytes, ints) in the raw JSON-RPC shape the decoder reads."""

    def hexed(value: Any) -> str:
        return HexBytes(value).to_0x_hex() if value is not None else "0x"

    return {
        "address": str(log["address"]),
        "topics": [hexed(t) for t in log["topics"]],
        "data": hexed(log["data"]),
        "transactionHash": hexed(log.get("transactionHash")),
        "logIndex": hex(int(log.get("logIndex") or 0)),
        "blockNumber": hex(int(log.get("blockNumber") or 0)),
        "blockHash": hexed(log.get("blockHash")),
        "removed": bool(log.get("removed", False)),
    }


# --- transactions -----------------------------------------------------------------------


def signed_fields(raw_tx: str | bytes) -> dict[str, Any]:
    """The fields of a signed typed transaction (the signature included)."""
    fields: dict[str, Any] = TypedTransaction.from_bytes(HexBytes(raw_tx)).as_dict()
    return fields
