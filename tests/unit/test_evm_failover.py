"""The one EVM client (shared.chain.evm, docs/adr/0014) over several endpoints: reads
fail over like the scanner's, a broadcast reaches every healthy endpoint and is
idempotent by transaction hash. Endpoints are in-memory fakes: no network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_typing import HexStr

from shared.chain import evm
from shared.chain.rpc import JsonRpc, RpcError

FIRST, SECOND = "http://first.invalid", "http://second.invalid"
RAW_TX = HexStr("0x02f86c827a6980843b9aca00843b9aca0082520894" + "11" * 20 + "8080c0")
TX_HASH = evm.Web3.keccak(hexstr=RAW_TX).to_0x_hex()

Node = Callable[[str, list[Any]], dict[str, Any]]


def _ok(result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "result": result}


def _error(code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": message}}


def _dead(method: str, params: list[Any]) -> dict[str, Any]:
    raise ConnectionRefusedError("connection refused")


class Nodes:
    """Fake endpoints by URL; records what each was asked."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, **nodes: Node) -> None:
        self.nodes = {FIRST: nodes["first"], SECOND: nodes["second"]}
        self.asked: list[tuple[str, str]] = []

        def exchange(rpc: JsonRpc, url: str, method: str, params: list[Any]) -> dict[str, Any]:
            self.asked.append((url, method))
            return self.nodes[url](method, params)

        monkeypatch.setattr(JsonRpc, "_exchange", exchange)

    def asked_of(self, url: str, method: str) -> int:
        return self.asked.count((url, method))


def _node(answers: dict[str, dict[str, Any]]) -> Node:
    def answer(method: str, params: list[Any]) -> dict[str, Any]:
        return answers.get(method) or _error(-32601, f"{method} not here")

    return answer


def _w3() -> evm.Web3:
    return evm.Web3(evm.FailoverProvider(JsonRpc([FIRST, SECOND], breaker_fail_max=2)))


def test_a_read_fails_over_to_the_second_endpoint_and_stays_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a dead first endpoint and a healthy second one
    nodes = Nodes(monkeypatch, first=_dead, second=_node({"eth_blockNumber": _ok("0x2a")}))
    w3 = _w3()

    # When the client reads twice
    first, second = w3.eth.block_number, w3.eth.block_number

    # Then both answers come from the second, and the dead one was tried only once
    assert (first, second) == (42, 42)
    assert nodes.asked_of(FIRST, "eth_blockNumber") == 1
    assert nodes.asked_of(SECOND, "eth_blockNumber") == 2


def test_a_dead_endpoint_is_skipped_once_its_breaker_opens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a dead endpoint and a breaker that opens after 2 failures
    nodes = Nodes(monkeypatch, first=_dead, second=_node({"eth_chainId": _ok("0x38")}))
    rpc = JsonRpc([FIRST, SECOND], breaker_fail_max=2)

    # When every read starts at the dead endpoint (as after a restart, preferred reset)
    for _ in range(5):
        rpc._preferred = 0
        assert rpc.reply("eth_chainId", [])["result"] == "0x38"

    # Then it was asked only until its breaker opened
    assert nodes.asked_of(FIRST, "eth_chainId") == 2


def test_a_revert_is_answered_at_once_and_raised_as_a_contract_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a call that reverts (the same on every node)
    revert = {"jsonrpc": "2.0", "id": 1, "error": {"code": 3, "message": "execution reverted"}}
    answers = {"eth_call": revert, "eth_chainId": _ok("0x38")}
    nodes = Nodes(monkeypatch, first=_node(answers), second=_node(answers))

    # When the client calls it, web3 raises its revert error; no other node is asked
    with pytest.raises(evm.ContractLogicError):
        _w3().eth.call({"to": "0x" + "22" * 20, "data": HexStr("0x")})
    assert nodes.asked_of(SECOND, "eth_call") == 0


def test_a_node_error_answer_is_asked_of_the_next_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a first node that answers its own trouble as an error
    Nodes(
        monkeypatch,
        first=_node({"eth_gasPrice": _error(-32000, "header not found")}),
        second=_node({"eth_gasPrice": _ok("0x64")}),
    )

    # Then the second node's answer is used
    assert _w3().eth.gas_price == 100


def test_a_broadcast_goes_through_the_second_endpoint_when_the_first_is_dead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a dead first endpoint
    nodes = Nodes(monkeypatch, first=_dead, second=_node({"eth_sendRawTransaction": _ok(TX_HASH)}))

    # When a signed transaction is sent
    sent = _w3().eth.send_raw_transaction(RAW_TX)

    # Then the second endpoint took it, once
    assert sent.to_0x_hex() == TX_HASH
    assert nodes.asked_of(SECOND, "eth_sendRawTransaction") == 1


def test_a_broadcast_reaches_every_healthy_endpoint_and_already_known_counts_as_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given two live endpoints; the second has the transaction already (it answers an
    # error, but knows the hash)
    nodes = Nodes(
        monkeypatch,
        first=_node({"eth_sendRawTransaction": _ok(TX_HASH)}),
        second=_node(
            {
                "eth_sendRawTransaction": _error(-32000, "already known"),
                "eth_getTransactionByHash": _ok({"hash": TX_HASH}),
            }
        ),
    )

    # When it is sent, it reaches both and is reported sent
    assert _w3().eth.send_raw_transaction(RAW_TX).to_0x_hex() == TX_HASH
    assert nodes.asked_of(FIRST, "eth_sendRawTransaction") == 1
    assert nodes.asked_of(SECOND, "eth_sendRawTransaction") == 1


def test_nonce_too_low_for_the_same_mined_transaction_counts_as_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a resend of bytes that are mined already (the node knows the hash)
    mined = _node(
        {
            "eth_sendRawTransaction": _error(-32000, "nonce too low"),
            "eth_getTransactionByHash": _ok({"hash": TX_HASH, "blockNumber": "0x5"}),
        }
    )
    Nodes(monkeypatch, first=_dead, second=mined)

    # Then the resend is a success, not a refusal
    assert _w3().eth.send_raw_transaction(RAW_TX).to_0x_hex() == TX_HASH


def test_a_transaction_no_node_has_is_refused_with_the_node_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given nodes that refuse the transaction and do not know its hash
    refusing = _node(
        {
            "eth_sendRawTransaction": _error(-32000, "nonce too low"),
            "eth_getTransactionByHash": _ok(None),
        }
    )
    Nodes(monkeypatch, first=refusing, second=refusing)

    # Then the caller sees the node's refusal (what the outbound state machine handles)
    with pytest.raises(evm.Web3RPCError, match="nonce too low"):
        _w3().eth.send_raw_transaction(RAW_TX)


def test_a_broadcast_no_endpoint_answers_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    Nodes(monkeypatch, first=_dead, second=_dead)
    with pytest.raises(RpcError, match="no RPC endpoint took"):
        _w3().eth.send_raw_transaction(RAW_TX)


def test_the_client_spans_every_configured_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two configured endpoints
    monkeypatch.setenv("BSCPAY_RPC_URLS", f"{FIRST}, {SECOND}")
    from shared import config

    config.reset()

    # Then the client fails over across both, and is one per process and endpoint list
    w3 = evm.client()
    assert isinstance(w3.provider, evm.FailoverProvider)
    assert [e.url for e in w3.provider.rpc.endpoints] == [FIRST, SECOND]
    assert evm.client() is w3
