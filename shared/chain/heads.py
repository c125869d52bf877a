"""Wake the scanner on new blocks: a ``newHeads`` WebSocket subscription when a
WebSocket URL is configured, else a plain timer at the block interval.

The subscription only says *when* to look; what to credit still comes from the
verified ``eth_getLogs`` ranges, so a dropped or lying socket can delay the scanner
by one poll interval but never make it skip or invent a transfer.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from aws_lambda_powertools import Logger
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

logger = Logger(child=True)


class HeadWatcher:
    def __init__(self, ws_url: str | None, poll_interval_s: float) -> None:
        self.ws_url = ws_url
        self.poll_interval_s = poll_interval_s
        self._new_head = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._socket: Any = None
        self.heads_seen = 0

    def start(self) -> HeadWatcher:
        if self.ws_url and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="new-heads", daemon=True)
            self._thread.start()
        return self

    def wait(self) -> None:
        """Until a new head arrives (WebSocket) or one block interval passed."""
        self._new_head.wait(self.poll_interval_s)
        self._new_head.clear()

    def stop(self) -> None:
        self._stop.set()
        socket = self._socket
        if socket is not None:
            socket.close()  # ends a blocked recv() now rather than at its timeout
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._subscribe()
                backoff = 0.5
            except (OSError, WebSocketException, ValueError) as exc:
                if self._stop.is_set():
                    return  # stop() closed the socket
                logger.warning("newHeads subscription lost", extra={"error": str(exc)})
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _subscribe(self) -> None:
        assert self.ws_url is not None
        with connect(self.ws_url, open_timeout=5, close_timeout=1) as ws:
            self._socket = ws
            ws.send(
                json.dumps(
                    {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}
                )
            )
            while not self._stop.is_set():
                try:
                    message = json.loads(ws.recv(timeout=1.0))
                except TimeoutError:
                    continue
                if message.get("method") == "eth_subscription":
                    self.heads_seen += 1
                    self._new_head.set()
