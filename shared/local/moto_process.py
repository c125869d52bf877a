"""moto server in a process of its own (``python -m shared.local.moto_process PORT``),
with DynamoDB calls serialized as in the in-process server (see ``moto_patches``).

Used where the caller's own CPU use must not share a GIL with the fake AWS, e.g. the
webhook throughput bench, where real DynamoDB would be a remote service."""

from __future__ import annotations

import logging
import sys

from moto.server import ThreadedMotoServer

from shared.local import moto_patches


def main(port: int) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_patches.serialize_dynamodb()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    finally:
        server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]))
