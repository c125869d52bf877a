"""The local chain for `make run` and tests: anvil from npm, a BEP20 USDT, funded accounts.

Local-only code: it imports web3 and eth-account, so no Lambda handler may import it.
Transactions are signed here with private keys and sent raw (as on BSC, where no node
holds our keys); nothing relies on anvil's unlocked accounts.

Size: local-only tooling (anvil process, token bootstrap, chain chores for tests and
`make run`); no Lambda imports it (layer contract).
"""

from __future__ import annotations

import atexit
import errno
import http.client
import json
import platform
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol, Self

from eth_account import Account
from eth_typing import HexStr

from shared.chain.artifacts import load_artifact
from shared.chain.evm import Contract, RPCEndpoint, TxParams, TxReceipt, Web3

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_HOST = "127.0.0.1"  # never bind anything wider: anvil has no auth at all
DEFAULT_PORT = 8545
DEFAULT_CHAIN_ID = 31337
BSC_BLOCK_TIME_S = 0.45

# Anvil's default dev accounts, derived from the PUBLIC Hardhat/Foundry test mnemonic
# "test test test test test test test test test test test junk". These keys are known
# to everyone: they exist only for local chains and must never hold real funds.
DEPLOYER_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # account 0
DEPLOYER_PRIVATE_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
CUSTOMER_ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # account 1
CUSTOMER_PRIVATE_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
# Account 6 signs one 0-value marker transaction into the first block of every reorg.
REORG_MARKER_PRIVATE_KEY = "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e"
# Accounts 10 and 11 of the same mnemonic (anvil funds only 0-9; the bootstrap tops them
# up): the price feeds' writer and the other stablecoins' issuer. Own senders keep the
# deployer's nonces, so USDT, the router and the Sweeper keep their well-known addresses.
ORACLE_PRIVATE_KEY = "0xf214f2b2cd398c806f84e317254e0f0b801d0643303237d97a22a48e01628897"
ISSUER_PRIVATE_KEY = "0x701b615bbdfb9de65240bc28bd21bbc0d996645a3dd57e7b12bc2bdf6f192c82"

# The feeds the local stack deploys and their starting answers (8 decimals, as
# Chainlink's fiat and stablecoin feeds on BSC).
FEED_DECIMALS = 8
LOCAL_FEEDS = {
    "EUR/USD": "1.08",
    "GBP/USD": "1.27",
    "USDT/USD": "1.00",
    "USDC/USD": "1.00",
    "FDUSD/USD": "1.00",
}
# The other stablecoins on the local chain: symbol -> (name, decimals); 18 as on BSC.
LOCAL_STABLECOINS = {"USDC": ("USD Coin", 18), "FDUSD": ("First Digital USD", 18)}

USDT_DECIMALS = 18  # as BSC USDT (not 6 as on Ethereum/Tron)
CUSTOMER_USDT = 1_000_000 * 10**USDT_DECIMALS
_MIN_CUSTOMER_BNB_WEI = 10 * 10**18
_TOPUP_BNB_WEI = 10_000 * 10**18

RECEIPT_TIMEOUT_S = 30.0
_STARTUP_TIMEOUT_S = 15.0
_STOP_TIMEOUT_S = 5.0


class AnvilError(RuntimeError):
    """anvil is missing, could not start, or answered unexpectedly."""


class TransactionFailed(RuntimeError):
    """A transaction was mined but reverted (receipt status 0)."""


# --- the anvil process --------------------------------------------------------------------

_NPM_OS = {"Linux": "linux", "Darwin": "darwin", "Windows": "win32"}
_NPM_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def anvil_binary() -> Path:
    """Path of the anvil binary shipped in the npm platform package for this machine.

    npm 11 skips `@foundry-rs/anvil`'s postinstall, so we run the platform package's
    binary directly instead of the `bin.mjs` wrapper (which also costs a Node start).
    """
    os_name = _NPM_OS.get(platform.system())
    arch = _NPM_ARCH.get(platform.machine().lower())
    if os_name is None or arch is None:
        raise AnvilError(
            f"no npm anvil build for {platform.system()}/{platform.machine()}; "
            "supported: linux, darwin (amd64, arm64) and win32 (amd64)"
        )
    exe = "anvil.exe" if os_name == "win32" else "anvil"
    package = f"@foundry-rs/anvil-{os_name}-{arch}"
    path = REPO_ROOT / "node_modules" / package / "bin" / exe
    if not path.is_file():
        raise AnvilError(f"anvil not found at {path}; run `npm ci` in {REPO_ROOT}")
    return path


def _port_is_free(port: int) -> bool:
    # SO_REUSEADDR like anvil's own listener, so a just-stopped anvil's TIME_WAIT sockets
    # do not count as "taken"; a live listener on the port still does.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOCAL_HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def free_port() -> int:
    """A port on 127.0.0.1 that is free right now (tests run next to `make run`'s 8545)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCAL_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _probe_chain_id(port: int) -> int | None:
    """eth_chainId over plain HTTP on 127.0.0.1; None while nothing listens yet."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    conn = http.client.HTTPConnection(LOCAL_HOST, port, timeout=1.0)
    try:
        conn.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
        return int(json.loads(conn.getresponse().read())["result"], 16)
    except (ConnectionError, TimeoutError, http.client.HTTPException):
        return None
    finally:
        conn.close()


@dataclass
class Anvil:
    """A running anvil bound to 127.0.0.1. Use as a context manager or call ``stop()``."""

    port: int
    chain_id: int
    block_time: float | None
    process: subprocess.Popen[bytes]
    log_file: Path | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @classmethod
    def start(
        cls,
        port: int = DEFAULT_PORT,
        block_time: float | None = BSC_BLOCK_TIME_S,
        chain_id: int = DEFAULT_CHAIN_ID,
        *,
        log_file: Path | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = _STARTUP_TIMEOUT_S,
    ) -> Anvil:
        """Start anvil and return once it answers ``eth_chainId``.

        ``port=0`` picks a free port. ``block_time=None`` means automine (one block per
        transaction, fastest for tests); otherwise a block every ``block_time`` seconds.
        With ``log_file`` anvil logs there; otherwise it runs ``--silent`` and its output
        only shows up in the error raised when it fails to start.
        """
        if port == 0:
            port = free_port()
        elif not _port_is_free(port):
            raise AnvilError(
                f"port {port} on {LOCAL_HOST} is already in use (another anvil or "
                "`make run`?); stop it or choose another port"
            )
        # One epoch per slot makes anvil's `finalized` tag trail the head by a couple of
        # blocks, close to BSC's fast finality (the default 32 would lag by ~64 blocks).
        args = [
            str(anvil_binary()),
            "--host", LOCAL_HOST,
            "--port", str(port),
            "--chain-id", str(chain_id),
            "--slots-in-an-epoch", "1",
        ]  # fmt: skip
        if block_time is not None:
            if block_time <= 0:
                raise ValueError("block_time must be > 0 seconds, or None for automine")
            args += ["--block-time", f"{block_time:g}"]
        log: IO[bytes]
        if log_file is None:
            args.append("--silent")
            log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        else:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            log = log_file.open("a+b")  # readable, for the error tail
        args += list(extra_args)
        # Own session: Ctrl-C in the terminal reaches only our process, which then stops
        # the workers before anvil instead of anvil dying under them.
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        anvil = cls(port, chain_id, block_time, process, log_file, log)
        atexit.register(anvil.stop)  # a crashed test session must not leave anvil behind
        try:
            anvil._wait_ready(startup_timeout)
        except BaseException:
            anvil.stop()
            raise
        return anvil

    @property
    def rpc_url(self) -> str:
        return f"http://{LOCAL_HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{LOCAL_HOST}:{self.port}"

    def _output_tail(self, limit: int = 2000) -> str:
        if self._log is None or self._log.closed:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-limit:].strip()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AnvilError(
                    f"anvil exited with code {self.process.returncode} during startup: "
                    f"{self._output_tail() or '(no output)'}"
                )
            answered = _probe_chain_id(self.port)
            if answered is not None:
                if answered != self.chain_id:
                    raise AnvilError(
                        f"{self.rpc_url} answered chain id {answered}, expected "
                        f"{self.chain_id}: is another node on this port?"
                    )
                return
            time.sleep(0.05)
        raise AnvilError(
            f"anvil did not answer eth_chainId on {self.rpc_url} within {timeout:g} s: "
            f"{self._output_tail() or '(no output)'}"
        )

    def stop(self) -> None:
        """Terminate anvil (kill it if it lingers). Safe to call more than once."""
        atexit.unregister(self.stop)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=_STOP_TIMEOUT_S)
        if self._log is not None and not self._log.closed:
            self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --- web3 helpers ----------------------------------------------------------------------


@lru_cache(maxsize=16)
def web3_for(rpc_url: str) -> Web3:
    """A (cached) HTTP Web3 client for ``rpc_url``."""
    return Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 10}))


def rpc_call(rpc_url: str, method: str, *params: Any) -> Any:
    """Raw JSON-RPC call (for anvil_* / evm_* methods web3 has no wrapper for)."""
    response = web3_for(rpc_url).provider.make_request(RPCEndpoint(method), list(params))
    if response.get("error"):
        raise AnvilError(f"{method} failed: {response['error']}")
    return response.get("result")


def token_contract(rpc_url: str, token: str) -> Contract:
    """The TetherToken ABI bound to ``token`` (also fine for any ERC20/BEP20)."""
    abi = load_artifact("TetherToken")["abi"]
    return web3_for(rpc_url).eth.contract(address=Web3.to_checksum_address(token), abi=abi)


class _TxBuilder(Protocol):
    """A contract function call or constructor: both can build a transaction."""

    def build_transaction(self, transaction: TxParams | None = None) -> TxParams: ...


def _sign_and_send(rpc_url: str, key: str, build: _TxBuilder) -> TxReceipt:
    """Fill nonce/gas/fees, sign locally, send raw, wait for a successful receipt."""
    w3 = web3_for(rpc_url)
    account = Account.from_key(key)
    params: TxParams = {
        "from": account.address,
        # "pending" so back-to-back sends before the next 0.45 s block get distinct nonces.
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "chainId": w3.eth.chain_id,
    }
    tx = build.build_transaction(params)  # estimates gas: a would-be revert raises here
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(
        tx_hash, timeout=RECEIPT_TIMEOUT_S, poll_latency=0.05
    )
    if receipt["status"] != 1:
        raise TransactionFailed(f"transaction {tx_hash.to_0x_hex()} reverted")
    return receipt


def _tx_hash(receipt: TxReceipt) -> HexStr:
    return HexStr(receipt["transactionHash"].to_0x_hex())


def _deploy(rpc_url: str, deployer_key: str, name: str, *args: Any) -> str:
    artifact = load_artifact(name)
    factory = web3_for(rpc_url).eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = _sign_and_send(rpc_url, deployer_key, factory.constructor(*args))
    address = receipt["contractAddress"]
    if address is None:
        raise TransactionFailed(f"deploying {name} produced no contract address")
    return Web3.to_checksum_address(address)


def deploy_token(rpc_url: str, deployer_key: str = DEPLOYER_PRIVATE_KEY) -> str:
    """Deploy TetherToken (owner = the deployer); returns its checksummed address."""
    return _deploy(rpc_url, deployer_key, "TetherToken")


def deploy_router(rpc_url: str, deployer_key: str = DEPLOYER_PRIVATE_KEY) -> str:
    """Deploy PaymentRouter; returns its checksummed address."""
    return _deploy(rpc_url, deployer_key, "PaymentRouter")


def deploy_stable_token(
    rpc_url: str, symbol: str, name: str, decimals: int = 18, issuer_key: str = ISSUER_PRIVATE_KEY
) -> str:
    """Deploy a StableToken (another stablecoin, or a look-alike of one); the issuer mints."""
    return _deploy(rpc_url, issuer_key, "StableToken", name, symbol, decimals)


def deploy_price_feed(
    rpc_url: str, pair: str, answer: str, oracle_key: str = ORACLE_PRIVATE_KEY
) -> str:
    """Deploy a Chainlink-compatible PriceFeed for ``pair`` answering ``answer`` (decimal)."""
    return _deploy(rpc_url, oracle_key, "PriceFeed", FEED_DECIMALS, pair, _feed_units(answer))


def _feed_units(answer: str) -> int:
    return int(Decimal(answer) * 10**FEED_DECIMALS)


def feed_contract(rpc_url: str, feed: str) -> Contract:
    abi = load_artifact("PriceFeed")["abi"]
    return web3_for(rpc_url).eth.contract(address=Web3.to_checksum_address(feed), abi=abi)


def set_price(rpc_url: str, feed: str, answer: str, *, age_s: int = 0) -> HexStr:
    """A new round on ``feed``: ``answer`` (decimal), updated ``age_s`` seconds before the
    latest block (age_s > 0 makes the feed stale); returns the tx hash."""
    contract = feed_contract(rpc_url, feed)
    if age_s <= 0:
        fn = contract.functions.updateAnswer(_feed_units(answer))
    else:
        stamp = int(web3_for(rpc_url).eth.get_block("latest")["timestamp"]) - age_s
        round_id = contract.functions.latestRound().call() + 1
        fn = contract.functions.updateRoundData(round_id, _feed_units(answer), stamp, stamp)
    return _tx_hash(_sign_and_send(rpc_url, ORACLE_PRIVATE_KEY, fn))


def mint(rpc_url: str, token: str, deployer_key: str, to: str, amount_base_units: int) -> HexStr:
    """Mint ``amount_base_units`` (10**-18 USDT) to ``to``; returns the tx hash (0x hex)."""
    fn = token_contract(rpc_url, token).functions.mint(
        Web3.to_checksum_address(to), amount_base_units
    )
    return _tx_hash(_sign_and_send(rpc_url, deployer_key, fn))


def transfer(rpc_url: str, token: str, from_key: str, to: str, amount_base_units: int) -> HexStr:
    """ERC20 transfer signed by ``from_key``; waits for the receipt, returns the tx hash."""
    fn = token_contract(rpc_url, token).functions.transfer(
        Web3.to_checksum_address(to), amount_base_units
    )
    return _tx_hash(_sign_and_send(rpc_url, from_key, fn))


def approve(
    rpc_url: str, token: str, owner_key: str, spender: str, amount_base_units: int
) -> HexStr:
    """ERC20 approve signed by ``owner_key``; returns the tx hash."""
    fn = token_contract(rpc_url, token).functions.approve(
        Web3.to_checksum_address(spender), amount_base_units
    )
    return _tx_hash(_sign_and_send(rpc_url, owner_key, fn))


def pay_via_router(
    rpc_url: str, router: str, token: str, from_key: str, to: str, amount_base_units: int
) -> HexStr:
    """Approve the router, then ``router.pay(token, to, amount)``; returns the pay tx hash.

    The credited Transfer log is token -> ``to`` with ``from`` = the router, in a
    transaction whose ``to`` is the router (not the token).
    """
    approve(rpc_url, token, from_key, router, amount_base_units)
    abi = load_artifact("PaymentRouter")["abi"]
    contract = web3_for(rpc_url).eth.contract(address=Web3.to_checksum_address(router), abi=abi)
    fn = contract.functions.pay(
        Web3.to_checksum_address(token), Web3.to_checksum_address(to), amount_base_units
    )
    return _tx_hash(_sign_and_send(rpc_url, from_key, fn))


def token_balance(rpc_url: str, token: str, address: str) -> int:
    """Token balance of ``address`` in base units (10**-18 USDT)."""
    balance: int = (
        token_contract(rpc_url, token).functions.balanceOf(Web3.to_checksum_address(address)).call()
    )
    return balance


def mine(rpc_url: str, blocks: int = 1) -> None:
    """Mine ``blocks`` blocks now (works in automine and interval modes)."""
    rpc_call(rpc_url, "anvil_mine", hex(blocks))


def reorg(rpc_url: str, depth: int, replay: Sequence[tuple[str, int]] = ()) -> None:
    """Replace the last ``depth`` blocks with new ones (anvil_reorg).

    ``replay`` lists (signed raw tx hex, block offset within the new blocks) to include;
    every other transaction of the dropped blocks disappears (no receipt afterwards).

    The same transactions at the same height can hash to the very block that was
    dropped (anvil rebuilds it with the same header fields), which is no reorg at all.
    A 0-value marker transaction from a dev account no test uses goes into the first
    new block, so every replaced block gets a new hash, for certain.
    """
    fork = int(rpc_call(rpc_url, "eth_blockNumber"), 16) - depth
    parent = rpc_call(rpc_url, "eth_getBlockByNumber", hex(fork), False)
    marker = Account.from_key(REORG_MARKER_PRIVATE_KEY)
    nonce = int(rpc_call(rpc_url, "eth_getTransactionCount", marker.address, hex(fork)), 16)
    gas_price = max(10**10, 2 * int(parent.get("baseFeePerGas") or "0x0", 16))
    signed = marker.sign_transaction(
        {
            "to": marker.address,
            "value": 0,
            "gas": 21_000,
            "gasPrice": gas_price,
            "nonce": nonce,
            "chainId": int(rpc_call(rpc_url, "eth_chainId"), 16),
        }
    )
    batch = [[signed.raw_transaction.to_0x_hex(), 0]]
    batch += [[raw, offset] for raw, offset in replay]
    rpc_call(rpc_url, "anvil_reorg", depth, batch)


# --- the bootstrap used by `make run` and tests ---------------------------------------


@dataclass(frozen=True)
class LocalChain:
    rpc_url: str
    chain_id: int
    token_address: str
    router_address: str
    deployer_address: str
    customer_address: str
    customer_private_key: str
    # Every stablecoin the local stack accepts, USDT included: symbol -> address.
    tokens: dict[str, str] = field(default_factory=dict)
    # Chainlink-compatible feeds: "EUR/USD" -> address.
    price_feeds: dict[str, str] = field(default_factory=dict)


def bootstrap_local_chain(
    rpc_url: str,
    *,
    deployer_key: str = DEPLOYER_PRIVATE_KEY,
    customer_key: str = CUSTOMER_PRIVATE_KEY,
    customer_usdt_base_units: int = CUSTOMER_USDT,
) -> LocalChain:
    """Deploy USDT + PaymentRouter, USDC + FDUSD and the price feeds; give the customer
    1,000,000 of each stablecoin and BNB for gas.

    On a fresh anvil the deployer's first two transactions give fixed addresses:
    token 0x5FbDB2315678afecb367f032d93F642f64180aa3, router
    0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512.
    """
    w3 = web3_for(rpc_url)
    deployer = Account.from_key(deployer_key).address
    customer = Account.from_key(customer_key).address
    token = deploy_token(rpc_url, deployer_key)
    router = deploy_router(rpc_url, deployer_key)
    mint(rpc_url, token, deployer_key, customer, customer_usdt_base_units)
    # anvil pre-funds its dev accounts with 10,000 BNB; top up other customers for gas.
    for funded in (
        customer,
        Account.from_key(ORACLE_PRIVATE_KEY).address,
        Account.from_key(ISSUER_PRIVATE_KEY).address,
    ):
        if w3.eth.get_balance(funded) < _MIN_CUSTOMER_BNB_WEI:
            rpc_call(rpc_url, "anvil_setBalance", funded, hex(_TOPUP_BNB_WEI))
    tokens = {"USDT": token}
    for symbol, (name, decimals) in LOCAL_STABLECOINS.items():
        tokens[symbol] = deploy_stable_token(rpc_url, symbol, name, decimals)
        mint(
            rpc_url,
            tokens[symbol],
            ISSUER_PRIVATE_KEY,
            customer,
            customer_usdt_base_units // 10**USDT_DECIMALS * 10**decimals,
        )
    feeds = {pair: deploy_price_feed(rpc_url, pair, answer) for pair, answer in LOCAL_FEEDS.items()}
    return LocalChain(
        rpc_url=rpc_url,
        chain_id=w3.eth.chain_id,
        token_address=token,
        router_address=router,
        deployer_address=deployer,
        customer_address=customer,
        customer_private_key=customer_key,
        tokens=tokens,
        price_feeds=feeds,
    )
