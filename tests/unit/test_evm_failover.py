"""The one EVM client (shared.chain.evm, docs/adr/0014) over several endpoints: reads
fail over like the scanner's, a broadcast reaches every healthy endpoint and is
idempotent by transaction hash. Endpoints are in-memory fakes: no network."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from eth_typing import HexStr

from shared.chain import evm
from shared.chain.rpc import JsonRpc, RpcError, Unreachable
from shared.custody.signer import Signer
from shared.settlement.sweeps import SweepError, Sweeps

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

        self.timeouts: list[tuple[str, str, float]] = []

        def send(rpc: JsonRpc, url: str, payload: dict[str, Any], read_timeout_s: float) -> Any:
            method = payload["method"]
            self.asked.append((url, method))
            self.timeouts.append((url, method, read_timeout_s))
            reply = self.nodes[url](method, payload["params"])
            # A node answers the request's id (fakes write id 1; a reply may drop it)
            return (
                {**reply, "id": payload["id"]}
                if isinstance(reply, dict) and reply.get("id") == 1
                else reply
            )

        monkeypatch.setattr(JsonRpc, "_send", send)

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


def test_a_revert_on_every_node_is_raised_as_a_contract_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a call that reverts on every node
    revert = {"jsonrpc": "2.0", "id": 1, "error": {"code": 3, "message": "execution reverted"}}
    answers = {"eth_call": revert, "eth_chainId": _ok("0x38")}
    nodes = Nodes(monkeypatch, first=_node(answers), second=_node(answers))

    # When the client calls it, web3 raises its revert error once every node reverted
    with pytest.raises(evm.ContractLogicError):
        _w3().eth.call({"to": "0x" + "22" * 20, "data": HexStr("0x")})
    assert nodes.asked_of(FIRST, "eth_call") == nodes.asked_of(SECOND, "eth_call") == 1


@pytest.mark.parametrize("method", ["eth_call", "eth_estimateGas"])
def test_a_revert_from_one_lagging_node_is_asked_of_the_next_endpoint(
    monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    # Given a first node behind the chain, on which the call reverts (the hot wallet's
    # tokens not there yet), and a second node on which it succeeds
    revert = _error(3, "execution reverted: ERC20: transfer amount exceeds balance")
    Nodes(
        monkeypatch,
        first=_node({method: revert, "eth_chainId": _ok("0x38")}),
        second=_node(
            {
                "eth_call": _ok("0x" + "00" * 31 + "01"),
                "eth_estimateGas": _ok("0xfde8"),
                "eth_chainId": _ok("0x38"),
            }
        ),
    )
    call: evm.TxParams = {"to": "0x" + "22" * 20, "data": HexStr("0x")}

    # Then the second node's result is the answer, not the revert
    if method == "eth_call":
        assert int.from_bytes(_w3().eth.call(call), "big") == 1
    else:
        assert _w3().eth.estimate_gas(call) == 65000


def test_an_error_that_merely_mentions_revert_is_not_a_revert(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a first node whose own trouble happens to say "revert" (not code 3, not
    # "execution reverted"), on a method that cannot revert
    Nodes(
        monkeypatch,
        first=_node({"eth_gasPrice": _error(-32000, "state reverted to snapshot; retry")}),
        second=_node({"eth_gasPrice": _ok("0x64")}),
    )

    # Then it is an error answer like any other: the next endpoint answers
    assert _w3().eth.gas_price == 100


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


# ---- a broadcast whose answer was lost (outcome unknown) ----------------------------------------


def _times_out(method: str, params: list[Any]) -> dict[str, Any]:
    raise TimeoutError("timed out")  # after the request was sent: it may have arrived


def test_a_lost_broadcast_answer_and_a_temporary_refusal_is_not_a_refusal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a first node that times out on the broadcast (it may have taken it) and a
    # second that refuses for its own reasons (a full txpool) and does not know the hash
    Nodes(
        monkeypatch,
        first=_times_out,
        second=_node(
            {
                "eth_sendRawTransaction": _error(-32005, "txpool is full"),
                "eth_getTransactionByHash": _ok(None),
            }
        ),
    )

    # Then the outcome is unknown (RpcError, which the caller retries with the same
    # bytes), never web3's refusal (on which outbound would cancel at the same nonce)
    with pytest.raises(RpcError, match="outcome unknown") as raised:
        _w3().eth.send_raw_transaction(RAW_TX)
    assert not isinstance(raised.value, evm.Web3RPCError)


@pytest.mark.parametrize("check", ["dead", "error"])
def test_a_refusal_whose_by_hash_check_failed_is_not_a_refusal(
    monkeypatch: pytest.MonkeyPatch, check: str
) -> None:
    # Given nodes that refuse the transaction but cannot say whether they have it
    def refusing(method: str, params: list[Any]) -> dict[str, Any]:
        if method == "eth_sendRawTransaction":
            return _error(-32000, "nonce too low")
        if check == "dead":
            raise ConnectionResetError("connection reset")
        return _error(-32603, "internal error")

    Nodes(monkeypatch, first=refusing, second=refusing)

    # Then the outcome is unknown
    with pytest.raises(RpcError, match="outcome unknown"):
        _w3().eth.send_raw_transaction(RAW_TX)


def test_an_unreachable_endpoint_does_not_make_a_refusal_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a first endpoint that refuses connections (nothing reached it) and a second
    # that refuses the transaction and does not know it
    Nodes(
        monkeypatch,
        first=_dead,
        second=_node(
            {
                "eth_sendRawTransaction": _error(-32000, "nonce too low"),
                "eth_getTransactionByHash": _ok(None),
            }
        ),
    )

    # Then it is the node's refusal
    with pytest.raises(evm.Web3RPCError, match="nonce too low"):
        _w3().eth.send_raw_transaction(RAW_TX)


# ---- bad replies fail over ----------------------------------------------------------------------


def _incomplete(method: str, params: list[Any]) -> dict[str, Any]:
    raise http.client.IncompleteRead(b'{"jsonrpc":"2.0","id":1,"res')


@pytest.mark.parametrize(
    "bad",
    [
        {"id": 1, "result": "0x1"},  # no "jsonrpc"
        {"jsonrpc": "1.0", "id": 1, "result": "0x1"},
        {"jsonrpc": "2.0", "id": 999, "result": "0x1"},  # another request's answer
        {"jsonrpc": "2.0", "id": 1},  # neither result nor error
        {"jsonrpc": "2.0", "id": 1, "result": "0x1", "error": {"code": 1, "message": "x"}},
        {"jsonrpc": "2.0", "id": 1, "error": "boom"},  # an error that is not an object
        ["not", "an", "object"],
    ],
)
def test_a_malformed_reply_is_asked_of_the_next_endpoint(
    monkeypatch: pytest.MonkeyPatch, bad: Any
) -> None:
    # Given a first node that answers something that is not a JSON-RPC reply to us
    nodes = Nodes(
        monkeypatch,
        first=lambda method, params: bad,
        second=_node({"eth_blockNumber": _ok("0x2a")}),
    )

    # Then the second node answers (web3 never sees the malformed reply)
    assert _w3().eth.block_number == 42
    assert nodes.asked_of(SECOND, "eth_blockNumber") == 1


def test_a_reply_cut_off_on_the_wire_is_asked_of_the_next_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a first node whose reply is cut off (http.client.IncompleteRead)
    Nodes(monkeypatch, first=_incomplete, second=_node({"eth_blockNumber": _ok("0x2a")}))

    # Then the client fails over, and so does the scanner's path
    assert _w3().eth.block_number == 42
    rpc = JsonRpc([FIRST, SECOND])
    assert rpc.block_number() == 42


def test_a_broadcast_cut_off_on_the_wire_is_of_unknown_outcome(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a first node whose answer to the broadcast is cut off, and a second that
    # refuses it without knowing it
    Nodes(
        monkeypatch,
        first=_incomplete,
        second=_node(
            {
                "eth_sendRawTransaction": _error(-32000, "replacement transaction underpriced"),
                "eth_getTransactionByHash": _ok(None),
            }
        ),
    )
    with pytest.raises(RpcError, match="outcome unknown"):
        _w3().eth.send_raw_transaction(RAW_TX)


# ---- timeouts -----------------------------------------------------------------------------------


def test_once_a_broadcast_is_taken_other_endpoints_get_the_short_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a first node that takes the transaction and a second that hangs
    nodes = Nodes(
        monkeypatch, first=_node({"eth_sendRawTransaction": _ok(TX_HASH)}), second=_times_out
    )
    rpc = JsonRpc([FIRST, SECOND], timeout_s=20.0, connect_timeout_s=3.0)

    # When it is broadcast, it is sent; the second was given 3 s, not 20 s
    assert rpc.broadcast(RAW_TX, TX_HASH)["result"] == TX_HASH
    assert [(url, t) for url, m, t in nodes.timeouts if m == "eth_sendRawTransaction"] == [
        (FIRST, 20.0),
        (SECOND, 3.0),
    ]


def test_the_client_connects_with_a_short_timeout() -> None:
    client = evm._client((FIRST, SECOND))
    assert isinstance(client.provider, evm.FailoverProvider)
    assert client.provider.rpc.connect_timeout_s == evm.CONNECT_TIMEOUT_S < evm.CLIENT_TIMEOUT_S
    assert client.provider.rpc.timeout_s == evm.CLIENT_TIMEOUT_S


def test_the_transport_connects_with_the_connect_timeout_and_reads_with_the_read_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a recording HTTP connection
    seen: dict[str, Any] = {}

    class Sock:
        def settimeout(self, value: float) -> None:
            seen["read"] = value

    class Response:
        status = 200

        def read(self) -> bytes:
            return b'{"jsonrpc": "2.0", "id": 1, "result": "0x2a"}'

    class Connection:
        def __init__(self, host: str, port: int | None, timeout: float) -> None:
            seen["connect"] = timeout
            self.sock: Sock | None = None

        def connect(self) -> None:
            self.sock = Sock()

        def request(self, *args: Any, **kwargs: Any) -> None:
            pass

        def getresponse(self) -> Response:
            return Response()

        def close(self) -> None:
            pass

    monkeypatch.setattr(http.client, "HTTPConnection", Connection)
    rpc = JsonRpc([FIRST], timeout_s=20.0, connect_timeout_s=3.0)

    # Then a request connects within 3 s and waits 20 s for the answer
    assert rpc._send(FIRST, {"id": 1}, 20.0)["result"] == "0x2a"
    assert seen == {"connect": 3.0, "read": 20.0}


def test_a_connection_that_cannot_be_made_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    class Connection:
        def __init__(self, host: str, port: int | None, timeout: float) -> None:
            self.sock = None

        def connect(self) -> None:
            raise TimeoutError("connect timed out")

        def close(self) -> None:
            pass

    monkeypatch.setattr(http.client, "HTTPConnection", Connection)
    with pytest.raises(Unreachable):
        JsonRpc([FIRST])._send(FIRST, {"id": 1}, 20.0)


# ---- callers: every endpoint dead -----------------------------------------------------------


def test_a_sweeper_check_with_no_endpoint_answering_says_rpc_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given endpoints that answer the chain id and then die (every eth_call fails)
    def dying(method: str, params: list[Any]) -> dict[str, Any]:
        if method == "eth_chainId":
            return _ok("0x38")
        raise ConnectionRefusedError("connection refused")

    Nodes(monkeypatch, first=dying, second=dying)
    hot = SimpleNamespace(address="0x" + "33" * 20)

    # When sweeps are set up with a Sweeper, the error says the RPC is unavailable, not
    # that the address is no Sweeper contract (an operator would chase a wrong cause)
    with pytest.raises(RpcError, match="RPC unavailable") as raised:
        Sweeps(
            _w3(),
            token="0x" + "44" * 20,
            hot_wallet=cast(Signer, hot),
            gas=evm.GasPolicy(0, 10**12),
            sweeper="0x" + "55" * 20,
        )
    assert not isinstance(raised.value, SweepError)


# ---- token balances: one implementation ---------------------------------------------------------


def test_token_balances_are_read_by_one_implementation_at_the_asked_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a node that answers balanceOf with 7 base units
    balance = _ok("0x" + "00" * 31 + "07")
    nodes = Nodes(
        monkeypatch,
        first=_node({"eth_call": balance, "eth_chainId": _ok("0x38")}),
        second=_node({}),
    )
    holder, token = "0x" + "66" * 20, "0x" + "44" * 20
    calls: list[list[Any]] = []
    original = JsonRpc.call

    def recording(rpc: JsonRpc, method: str, params: list[Any]) -> Any:
        calls.append(params)
        return original(rpc, method, params)

    monkeypatch.setattr(JsonRpc, "call", recording)

    # Then the web3 path, the scanner's path and Sweeps read the same, at the block asked
    assert evm.token_balance(_w3(), token, holder, 0x10) == 7
    assert JsonRpc([FIRST, SECOND]).token_balance(token, holder, 0x10) == 7
    hot = SimpleNamespace(address="0x" + "33" * 20)
    sweeps = Sweeps(_w3(), token=token, hot_wallet=cast(Signer, hot), gas=evm.GasPolicy(0, 1))
    assert sweeps.token_balance(holder) == 7
    assert nodes.asked_of(FIRST, "eth_call") == 3
    assert calls[0][1] == "0x10"


def test_balance_of_is_encoded_in_one_place() -> None:
    root = Path(__file__).resolve().parents[2]
    encoders = [
        path.relative_to(root).as_posix()
        for folder in ("shared", "functions")
        for path in (root / folder).rglob("*.py")
        if not path.relative_to(root).as_posix().startswith("shared/local/")
        and ("0x70a08231" in path.read_text() or "functions.balanceOf" in path.read_text())
    ]
    assert encoders == ["shared/chain/rpc.py"]
