"""The whole of bscpay on one machine (``make run``).

moto server (DynamoDB, SQS, KMS, Cognito, ...) provisioned from the same
definitions as the CDK stack, anvil with a BEP20 USDT, the API on a local API
Gateway emulator calling the real handlers, and workers that drive the scanner
and expirer on their schedules and drain the webhook queue into the real
dispatcher, as Lambda's SQS event source mapping would.

Size: local-only tooling, the whole `make run` stack in one class; no Lambda imports
it (layer contract).
"""

from __future__ import annotations

import json
import logging
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.server import ThreadedMotoServer

from shared import aws, config
from shared.local import chain as local_chain
from shared.local import metrics_sink, moto_patches, provision
from shared.local.apigw import ApiGatewayEmulator, CognitoVerifier, LambdaContext, Route
from shared.local.rates import RatesStub
from shared.local.web import CognitoPool, LocalWeb

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
ADMIN_USERNAME = "admin@bscpay.local"
# One console user per role, and a second admin and finance user for four eyes
# (docs/adr/0019). Local only: moto's pool has no MFA.
LOCAL_USERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "viewer": ("viewer@bscpay.local", ("viewer",)),
    "support": ("support@bscpay.local", ("support",)),
    "finance": ("finance@bscpay.local", ("finance",)),
    "finance2": ("finance2@bscpay.local", ("finance",)),
    "admin": (ADMIN_USERNAME, ("admin",)),
    "admin2": ("admin2@bscpay.local", ("admin",)),
}
LOCAL_COLD_ADDRESS = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"


# A worker that found its queue empty asks again after this long (Lambda's event source
# mapping long-polls; the local stack short-polls, see LocalStack._drain).
EMPTY_POLL_PAUSE_S = 0.2


@dataclass
class StackConfig:
    api_port: int = 8000
    rpc_port: int = 8545
    aws_port: int = 5001
    block_time: float | None = 0.45
    region: str = "us-east-1"
    prefix: str = "bscpay-local"
    expirer_interval_s: float = 5.0
    scanner_invocation_s: float = 60.0
    webhook_pollers: int = 3
    reconciler_interval_s: float = 30.0
    # The daily digest (shared.jobs.digest): printed and written to .local/digests/, a
    # minute after start (yesterday's) and then every digest_interval_s.
    digest_first_after_s: float = 60.0
    digest_interval_s: float = 3600.0
    state_file: Path | None = REPO_ROOT / ".local" / "stack.json"
    # anvil's log and the workers' failures (with tracebacks); tests point this at
    # test-output/<suite>/ so a failed CI run keeps what the stack said.
    log_dir: Path = REPO_ROOT / ".local"
    # moto in its own process: the caller's CPU work then does not share moto's GIL.
    moto_in_subprocess: bool = False
    anvil_args: tuple[str, ...] = ()  # extra anvil flags, e.g. ("--hardfork", "cancun")
    # The built web UI (`make web`): the checkout at /pay/<id>, the console at /console/.
    web_dist: Path = REPO_ROOT / "web" / "dist"
    # Tests of single handlers turn these off and drive the functions themselves.
    serve_api: bool = True
    run_workers: bool = True
    # Fault injection for `make load` soaks (bench/load.py): an RPC URL tried before
    # anvil's (a proxy the soak kills and restarts), and the share of settlement
    # invocations that crash after handling their batch, before SQS deletes it (the
    # batch comes back after the visibility timeout and is handled again).
    rpc_front_url: str | None = None
    crash_settlement_share: float = 0.0

    @classmethod
    def from_env(cls) -> StackConfig:
        return cls(
            api_port=int(os.environ.get("BSCPAY_API_PORT", "8000")),
            rpc_port=int(os.environ.get("BSCPAY_RPC_PORT", "8545")),
            aws_port=int(os.environ.get("BSCPAY_AWS_PORT", "5001")),
        )


@dataclass
class LocalStack:
    cfg: StackConfig
    info: dict[str, Any] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _moto: ThreadedMotoServer | None = None
    _moto_process: subprocess.Popen[str] | None = None
    _anvil: local_chain.Anvil | None = None
    _rates: RatesStub | None = None
    _api: ApiGatewayEmulator | None = None
    worker_errors: list[str] = field(default_factory=list)
    _digest_runs: int = 0
    provisioned: provision.Provisioned | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        cfg = self.cfg
        aws_url = f"http://{HOST}:{cfg.aws_port}"
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log
        metrics_sink.redirect_metrics(cfg.log_dir / "metrics.log")
        if cfg.moto_in_subprocess:
            self._moto_process = _start_moto_process(cfg.aws_port)
        else:
            moto_patches.serialize_dynamodb()
            self._moto = ThreadedMotoServer(ip_address=HOST, port=cfg.aws_port, verbose=False)
            self._moto.start()
        self._anvil = local_chain.Anvil.start(
            port=cfg.rpc_port,
            block_time=cfg.block_time,
            log_file=cfg.log_dir / "anvil.log",
            extra_args=cfg.anvil_args,
        )
        chain = local_chain.bootstrap_local_chain(self._anvil.rpc_url)
        # The second price source: follows the feeds unless a test moves it (issue 14).
        self._rates = RatesStub(self._anvil.rpc_url, chain.price_feeds).start()
        res = provision.provision(aws_url, cfg.region, cfg.prefix)
        head = int(local_chain.rpc_call(self._anvil.rpc_url, "eth_blockNumber"), 16)
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": aws_url,
                "AWS_DEFAULT_REGION": cfg.region,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",  # moto's dummy credentials
                "BSCPAY_PREFIX": cfg.prefix,
                "BSCPAY_CHAIN_ID": str(chain.chain_id),
                "BSCPAY_RPC_URLS": ",".join(
                    u for u in (cfg.rpc_front_url, self._anvil.rpc_url) if u
                ),
                "BSCPAY_WS_URL": self._anvil.ws_url,
                "BSCPAY_TOKEN_ADDRESS": chain.token_address,
                "BSCPAY_TOKEN_DECIMALS": "18",
                # USDC and FDUSD beside USDT (issue 14 §3)
                "BSCPAY_TOKENS": json.dumps(
                    {
                        symbol: {"address": address, "decimals": 18}
                        for symbol, address in chain.tokens.items()
                        if symbol != "USDT"
                    }
                ),
                "BSCPAY_PRICE_FEEDS": json.dumps(chain.price_feeds),
                "BSCPAY_PRICE_RATES_URL": f"{self._rates.url}/rates",
                # anvil's clock is the wall clock: an hour is plenty for feeds it writes.
                "BSCPAY_PRICE_MAX_AGE_S": "3600",
                "BSCPAY_LOCAL_MODE": "true",
                # Every payment's checkout_url: the hosted checkout on this API's port.
                "BSCPAY_CHECKOUT_BASE_URL": f"http://{HOST}:{cfg.api_port}",
                # Every local page polls from 127.0.0.1: room for many open tabs and tests.
                "BSCPAY_CHECKOUT_RATE_LIMIT": os.environ.get("BSCPAY_CHECKOUT_RATE_LIMIT")
                or "1200",
                "BSCPAY_SCANNER_START_BLOCK": str(head),
                "BSCPAY_SCANNER_SAFETY_MARGIN_S": "1",
                # The KYC provider's callback secret (docs/adr/0021); in stack.json.
                "BSCPAY_KYC_CALLBACK_SECRET": os.environ.get("BSCPAY_KYC_CALLBACK_SECRET")
                or "kyc_" + secrets.token_hex(16),
                "POWERTOOLS_SERVICE_NAME": "bscpay-local",
                "POWERTOOLS_METRICS_NAMESPACE": "bscpay",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": os.environ.get(
                    "POWERTOOLS_METRICS_DISABLED", "true"
                ),
                "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
                **res.env(),
            }
        )
        config.reset()
        aws.reset()

        # Custody, an admin and a first merchant: what an operator does after deploy.
        from shared.admin import merchants
        from shared.custody.setup import ensure_custody

        ensure_custody()
        self._prepare_settlement(chain.rpc_url)
        users: dict[str, dict[str, str]] = {}
        for name, (username, roles) in LOCAL_USERS.items():
            password = "Adm1n-" + secrets.token_urlsafe(12)
            provision.create_admin(aws_url, cfg.region, res.user_pool_id, username, password, roles)
            users[name] = {"username": username, "password": password}
        admin_password = users["admin"]["password"]
        merchant, key, secret = merchants.create_merchant("Local Demo Shop")

        from functions.admin_api.handler import lambda_handler as admin_handler
        from functions.checkout_api.handler import lambda_handler as checkout_handler
        from functions.merchant_api.handler import lambda_handler as merchant_handler

        self._api = ApiGatewayEmulator(
            routes=[
                Route("/v1", "merchant_api", merchant_handler, cognito=False),
                # The KYC provider's signed callback (docs/adr/0021), served by merchant_api.
                Route("/kyc", "merchant_api", merchant_handler, cognito=False),
                Route("/admin", "admin_api", admin_handler, cognito=True),
                # The hosted checkout's public status, GET /pay/<id>/status (issue 13).
                Route("/pay", "checkout_api", checkout_handler, cognito=False),
            ],
            verifier=CognitoVerifier(aws_url, cfg.region, res.user_pool_id, res.client_id),
            # Pages, assets and console sign-in: what CloudFront and S3 serve in AWS.
            web=LocalWeb(
                cfg.web_dist, CognitoPool(aws_url, cfg.region, res.user_pool_id, res.client_id)
            ).answer,
        )
        if cfg.serve_api:
            self._api.serve(HOST, cfg.api_port)
        self.info = {
            "api_url": f"http://{HOST}:{cfg.api_port}",
            "rpc_url": self._anvil.rpc_url,
            "chain_id": chain.chain_id,
            "token_address": chain.token_address,
            "tokens": chain.tokens,
            "price_feeds": chain.price_feeds,
            "rates_url": self._rates.url,  # POST /overrides, /status: see shared/local/rates.py
            "aws_endpoint_url": aws_url,
            "region": cfg.region,
            "prefix": cfg.prefix,  # python -m shared.jobs.digest finds the stack by these
            "alerts_topic_arn": res.alerts_topic_arn,
            "merchant": {
                "id": merchant.merchant_id,
                "api_key_id": key.key_id,
                "api_secret": secret,
            },
            "admin": {
                "username": ADMIN_USERNAME,
                "password": admin_password,
                "user_pool_id": res.user_pool_id,
                "client_id": res.client_id,
            },
            "users": users,
            "kyc_callback_secret": config.kyc().callback_secret.get_secret_value(),
            "customer": {
                "address": chain.customer_address,
                "private_key": chain.customer_private_key,
            },
        }
        self.provisioned = res
        if cfg.state_file is not None:
            cfg.state_file.parent.mkdir(parents=True, exist_ok=True)
            cfg.state_file.write_text(json.dumps(self.info, indent=2))
            cfg.state_file.chmod(0o600)  # holds local secrets
        if cfg.run_workers:
            self._spawn("chain_scanner", self._scanner_loop)
            self._spawn("expirer", self._expirer_loop)
            self._spawn("settlement", self._settlement_loop)
            self._spawn("reconciler", self._reconciler_loop)
            self._spawn("digest", self._digest_loop)
            # Several pollers, as Lambda scales SQS consumers out.
            for i in range(cfg.webhook_pollers):
                self._spawn(f"webhook_dispatcher-{i}", self._webhook_loop)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        if self._api is not None:
            self._api.stop()
        if self._rates is not None:
            self._rates.stop()
        if self._anvil is not None:
            self._anvil.stop()
        if self._moto is not None:
            self._moto.stop()
        if self._moto_process is not None:
            assert self._moto_process.stdin is not None
            self._moto_process.stdin.close()
            try:
                self._moto_process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._moto_process.kill()

    # -- workers: what EventBridge and the SQS event source mapping do in AWS --------------

    def _spawn(self, name: str, target: Any) -> None:
        def guarded() -> None:
            while not self._stop.is_set():
                try:
                    target()
                except Exception as exc:  # keep the worker alive, like the next invocation
                    self.worker_errors.append(f"{name}: {type(exc).__name__}: {exc}")
                    print(f"[{name}] invocation failed: {type(exc).__name__}: {exc}", flush=True)
                    self._log_worker_failure(name)
                    self._stop.wait(1.0)

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _log_worker_failure(self, name: str) -> None:
        self.cfg.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.cfg.log_dir / "workers.log").open("a") as log:
            log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} [{name}]\n")
            log.write(traceback.format_exc())

    def _scanner_loop(self) -> None:
        from functions.chain_scanner.handler import lambda_handler

        # Each invocation follows the chain until near its timeout; stop early on shutdown
        # by shrinking the remaining time the handler sees.
        context = _StoppableContext("chain_scanner", self.cfg.scanner_invocation_s, self._stop)
        lambda_handler({"source": "aws.events", "detail-type": "Scheduled Event"}, context)

    def _expirer_loop(self) -> None:
        from functions.expirer.handler import lambda_handler

        lambda_handler(
            {"source": "aws.events", "detail-type": "Scheduled Event"},
            LambdaContext("expirer", 60),
        )
        self._stop.wait(self.cfg.expirer_interval_s)

    def _prepare_settlement(self, rpc_url: str) -> None:
        """What an operator does once: fund the hot wallet with BNB for gas (and tell the
        ledger), deploy the project's Sweeper with the hot wallet as its operator."""
        from shared import ledger
        from shared.chain import evm
        from shared.custody.signer import LocalKeySigner
        from shared.settlement import custody
        from shared.settlement.sweeps import deploy_sweeper

        hot = custody.load_keys([]).hot_wallet
        local_chain.rpc_call(rpc_url, "anvil_setBalance", hot.address, hex(HOT_WALLET_BNB))
        ledger.default().fund_gas(HOT_WALLET_BNB, journal_id="local-hot-wallet-funding")
        w3 = evm.client([rpc_url])
        deployer = LocalKeySigner(local_chain.DEPLOYER_PRIVATE_KEY)  # anvil's public dev key
        sweeper = deploy_sweeper(w3, deployer, hot.address, evm.gas_policy())
        os.environ["BSCPAY_SWEEP_SWEEPER_ADDRESS"] = sweeper
        # Hot-wallet excess above the cap goes here: anvil's public dev account #9.
        os.environ.setdefault("BSCPAY_PAYOUT_COLD_ADDRESS", LOCAL_COLD_ADDRESS)
        # Blocks every 0.45 s: a drift still there after 3 s is no transfer in flight.
        os.environ.setdefault("BSCPAY_RECONCILE_CONFIRM_AFTER_S", "3")
        # One local admin: no 24 h wait for a second one after setting an address.
        os.environ.setdefault("BSCPAY_PAYOUT_ADDRESS_COOLDOWN_S", "0")
        config.reset()

    def _reconciler_loop(self) -> None:
        from functions.reconciler.handler import lambda_handler

        self._stop.wait(self.cfg.reconciler_interval_s)
        if not self._stop.is_set():
            lambda_handler(
                {"source": "aws.events", "detail-type": "Scheduled Event"},
                LambdaContext("reconciler", 60),
            )

    def _digest_loop(self) -> None:
        """EventBridge runs the digest once a day; locally a minute after start, then
        every digest_interval_s (each run rewrites the day's file; SNS gets it once)."""
        from datetime import UTC, datetime

        from shared.jobs import digest, report_compaction

        first = not self._digest_runs
        self._stop.wait(self.cfg.digest_first_after_s if first else self.cfg.digest_interval_s)
        if not self._stop.is_set():
            self._digest_runs += 1
            digest.run_local(self.cfg.log_dir / "digests")
            report_compaction.run(datetime.now(UTC).date())

    def _settlement_loop(self) -> None:
        from functions.settlement.handler import lambda_handler

        self._drain(
            config.aws().settlement_queue_url,
            lambda_handler,
            "settlement",
            120,
            _sqs_fifo_record,
            crash_share=self.cfg.crash_settlement_share,
            # As deployed: one message per invocation (a message still waiting for its
            # transaction would return every one after it in the batch unprocessed).
            max_messages=1,
        )

    def _webhook_loop(self) -> None:
        from functions.webhook_dispatcher.handler import lambda_handler

        self._drain(config.aws().webhook_queue_url, lambda_handler, "webhook_dispatcher", 30)

    @staticmethod
    def _drain(
        queue_url: str,
        handler: Any,
        name: str,
        timeout_s: float,
        to_record: Any = None,
        crash_share: float = 0.0,
        max_messages: int = 10,
    ) -> None:
        """One poll of Lambda's SQS event source mapping: receive up to 10, invoke the
        handler, delete what it did not report as failed. With ``crash_share``, that
        share of invocations dies after the handler ran, before anything is deleted."""
        sqs = aws.client("sqs")
        # Short polls and a pause when empty: moto's long poll re-checks every message on
        # every change to the queue, which took a whole core once retries piled up.
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            time.sleep(EMPTY_POLL_PAUSE_S)
            return
        build = to_record or _sqs_record
        event = {"Records": [build(m, queue_url) for m in messages]}
        result = handler(event, LambdaContext(name, timeout_s))
        if crash_share and random.random() < crash_share:  # noqa: S311 - fault injection
            raise SimulatedCrash(f"{name} died after handling {len(messages)} messages")
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


class SimulatedCrash(RuntimeError):
    """A worker invocation killed on purpose by a soak (StackConfig.crash_settlement_share)."""


def _start_moto_process(port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.local.moto_process", str(port)],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        process.kill()
        raise RuntimeError("moto server process did not start")
    return process


HOT_WALLET_BNB = 100 * 10**18


def _sqs_fifo_record(message: dict[str, Any], queue_url: str) -> dict[str, Any]:
    record = _sqs_record(message, queue_url)
    attributes = message.get("Attributes", {})
    record["attributes"].update(
        {
            "MessageGroupId": attributes.get("MessageGroupId", ""),
            "MessageDeduplicationId": attributes.get("MessageDeduplicationId", ""),
            "SequenceNumber": attributes.get("SequenceNumber", "0"),
        }
    )
    return record


class _StoppableContext(LambdaContext):
    def __init__(self, name: str, timeout_s: float, stop: threading.Event) -> None:
        super().__init__(name, timeout_s)
        self._stop_event = stop

    def get_remaining_time_in_millis(self) -> int:
        return 0 if self._stop_event.is_set() else super().get_remaining_time_in_millis()


def _sqs_record(message: dict[str, Any], queue_url: str) -> dict[str, Any]:
    arn_name = queue_url.rsplit("/", 1)[-1]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": message.get("Attributes", {}).get(
                "ApproximateReceiveCount", "1"
            ),
            "SentTimestamp": message.get("Attributes", {}).get("SentTimestamp", "0"),
            "SenderId": "local",
            "ApproximateFirstReceiveTimestamp": "0",
        },
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:000000000000:{arn_name}",
        "awsRegion": "us-east-1",
    }


FIRST_REQUEST = """
First signed request (Python, standard library only):

    import hashlib, hmac, json, time, urllib.request
    s = json.load(open(".local/stack.json"))
    path, body, t = "/v1/payments", json.dumps({{"amount": "12.50"}}), str(int(time.time()))
    sig = hmac.new(s["merchant"]["api_secret"].encode(),
                   f"{{t}}\\nPOST\\n{{path}}\\n{{body}}".encode(), hashlib.sha256).hexdigest()
    req = urllib.request.Request(s["api_url"] + path, data=body.encode(), method="POST",
        headers={{"X-Api-Key": s["merchant"]["api_key_id"], "X-Timestamp": t,
                  "X-Signature": sig, "Content-Type": "application/json"}})
    print(json.load(urllib.request.urlopen(req)))

Or: .venv/bin/python examples/first_request.py

Admin console: TOKEN=$(.venv/bin/python -m shared.local.admins token), then
    curl -H "Authorization: $TOKEN" {api_url}/admin/treasury
"""


def main() -> None:
    # CloudWatch's embedded metric JSON on stdout would drown the console; the metrics
    # themselves are exercised by the tests. BSCPAY_LOCAL_METRICS=1 shows them.
    if os.environ.get("BSCPAY_LOCAL_METRICS") != "1":
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    stack = LocalStack(StackConfig.from_env())
    print("starting the bscpay local stack ...", flush=True)
    started = time.monotonic()
    stack.start()
    info = stack.info
    tokens = "".join(f"  {symbol:<10} {address}\n" for symbol, address in info["tokens"].items())
    print(
        f"\nbscpay is running ({time.monotonic() - started:.1f} s)\n"
        f"  API        {info['api_url']}\n"
        f"  console    {info['api_url']}/console/ (users and passwords in .local/stack.json;"
        f" `make web` builds it)\n"
        f"  checkout   {info['api_url']}/pay/<payment id> (each payment's checkout_url)\n"
        f"  chain      {info['rpc_url']} (chain id {info['chain_id']}, 0.45 s blocks)\n"
        + tokens
        + f"  prices     Chainlink-style feeds on the chain (stack.json: price_feeds);"
        f" second source {info['rates_url']}/rates\n"
        f"  AWS (moto) {info['aws_endpoint_url']}\n"
        f"  merchant   {info['merchant']['id']} key {info['merchant']['api_key_id']}\n"
        f"  secrets    in .local/stack.json (local only)\n"
        + FIRST_REQUEST.format(api_url=info["api_url"])
        + "\nCtrl-C stops everything.",
        flush=True,
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    print("\nstopping ...", flush=True)
    stack.stop()


if __name__ == "__main__":
    main()
