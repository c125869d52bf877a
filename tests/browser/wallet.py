"""A test browser wallet: an EIP-1193 provider injected as ``window.ethereum`` (and
announced by EIP-6963) whose ``request()`` calls back into the test, which answers
account and chain requests itself, signs ``eth_sendTransaction`` with a local key
(anvil's public dev account that holds the local USDT) and forwards every other call
to anvil.

Like a real wallet it starts on another chain (BNB Smart Chain, 0x38) and refuses to
send until the page has asked it to switch to the payment's chain."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from playwright.sync_api import Page
from web3 import Web3

from shared.local import chain

BSC_MAINNET = 56

_PROVIDER_JS = """
(() => {
  const listeners = {};
  const emit = (name, data) => (listeners[name] || []).slice().forEach((f) => f(data));
  const provider = {
    isBscpayTestWallet: true,
    async request(args) {
      const method = args && args.method;
      const params = args && args.params !== undefined ? args.params : [];
      const reply = JSON.parse(await window.__bscpayTestWallet(method, JSON.stringify(params)));
      if (reply.error) {
        const error = new Error(reply.error.message);
        error.code = reply.error.code;
        throw error;
      }
      if (reply.event) setTimeout(() => emit(reply.event.name, reply.event.data), 0);
      return reply.result;
    },
    on(name, listener) {
      (listeners[name] = listeners[name] || []).push(listener);
      return provider;
    },
    removeListener(name, listener) {
      listeners[name] = (listeners[name] || []).filter((f) => f !== listener);
      return provider;
    },
  };
  window.ethereum = provider;
  const info = {
    uuid: "5b0f9c5e-6f8a-4c59-9a52-3d7e1f0b7a01",
    name: "bscpay test wallet",
    icon: "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E",
    rdns: "local.bscpay.testwallet",
  };
  const announce = () =>
    window.dispatchEvent(
      new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) })
    );
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
})();
"""


@dataclass
class TestWallet:
    rpc_url: str
    private_key: str
    chain_id: int = BSC_MAINNET
    calls: list[tuple[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    __test__ = False  # not a pytest test class

    @property
    def address(self) -> str:
        return str(Account.from_key(self.private_key).address)

    def install(self, page: Page) -> None:
        """Before the page's first navigation: expose the callback, inject the provider."""
        page.expose_function("__bscpayTestWallet", self._answer)
        page.add_init_script(_PROVIDER_JS)

    def methods(self) -> list[str]:
        with self.lock:
            return [method for method, _ in self.calls]

    def _answer(self, method: str, params_json: str) -> str:
        params = json.loads(params_json)
        with self.lock:
            self.calls.append((method, params))
        try:
            reply = self._handle(method, params)
        except Exception as exc:
            reply = {"error": {"code": -32603, "message": f"{type(exc).__name__}: {exc}"}}
        return json.dumps(reply)

    def _handle(self, method: str, params: list[Any]) -> dict[str, Any]:
        if method in ("eth_requestAccounts", "eth_accounts"):
            return {"result": [self.address]}
        if method == "eth_chainId":
            return {"result": hex(self.chain_id)}
        if method == "net_version":
            return {"result": str(self.chain_id)}
        if method in ("wallet_switchEthereumChain", "wallet_addEthereumChain"):
            wanted = int(params[0]["chainId"], 16)
            if wanted != int(chain.rpc_call(self.rpc_url, "eth_chainId"), 16):
                return {"error": {"code": 4902, "message": f"unknown chain {wanted}"}}
            self.chain_id = wanted
            return {"result": None, "event": {"name": "chainChanged", "data": hex(wanted)}}
        if method == "eth_sendTransaction":
            return self._send(params[0])
        if method.startswith(("wallet_", "personal_", "eth_sign")):
            return {"error": {"code": 4200, "message": f"{method} is not supported"}}
        # Reads (eth_call, eth_getTransactionReceipt, eth_blockNumber, ...) go to the node.
        return {"result": chain.rpc_call(self.rpc_url, method, *params)}

    def _send(self, request: dict[str, Any]) -> dict[str, Any]:
        w3 = chain.web3_for(self.rpc_url)
        if self.chain_id != w3.eth.chain_id:
            return {"error": {"code": 4901, "message": f"wallet is on chain {self.chain_id}"}}
        if request.get("from") and request["from"].lower() != self.address.lower():
            return {"error": {"code": 4100, "message": "unknown account"}}
        tx: dict[str, Any] = {
            "from": self.address,
            "to": Web3.to_checksum_address(request["to"]),
            "data": request.get("data") or request.get("input") or "0x",
            "value": int(request.get("value") or "0x0", 16),
            "chainId": w3.eth.chain_id,
            "nonce": w3.eth.get_transaction_count(self.address, "pending"),  # type: ignore[arg-type]
        }
        tx["gas"] = int(request["gas"], 16) if request.get("gas") else w3.eth.estimate_gas(tx)  # type: ignore[arg-type]
        tx["gasPrice"] = w3.eth.gas_price
        signed = Account.from_key(self.private_key).sign_transaction(tx)
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        with self.lock:
            self.sent.append(tx)
        return {"result": tx_hash.to_0x_hex()}
