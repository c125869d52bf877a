"""Create a payment on the running local stack (`make run`) with a signed request."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "merchant"))

from bscpay_merchant import Client  # noqa: E402

stack = json.loads((ROOT / ".local" / "stack.json").read_text())
client = Client(stack["api_url"], stack["merchant"]["api_key_id"], stack["merchant"]["api_secret"])
payment = client.request("POST", "/v1/payments", {"amount": "12.50", "order_id": "A-1"})
print(json.dumps(payment, indent=2))
print(f"\nPay {payment['amount']} USDT to {payment['address']} (chain {payment['chain_id']}).")
