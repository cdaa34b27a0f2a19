"""moto's WSGI app behind an HTTP/1.1 keep-alive server, optionally over TLS: the local AWS as real endpoints behave.

moto's own server (werkzeug's dev server) answers every request with ``Connection: close``, so a client measured
against it pays a TCP (and TLS) handshake per request, which real AWS endpoints do not make it pay. This server
runs the same moto application with the local AWS's HTTP/1.1 handler (``tools.emulator.aws.http11``): bodies bounded
and drained so a kept-alive connection never desyncs, each answer in one write, no close. One process, one thread
per connection.

    python -m tools.bench.keepalive_moto --port 0 [--cert cert.pem --key key.pem] [--ready-file f]

``--ready-file`` receives ``{"port": n, "pid": n}`` once the server listens. ``--linear-item-size`` applies the
local AWS's fix of moto's per-item size check (``tools.emulator.aws.moto_fixes.linear_item_size``).
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
from pathlib import Path

from tools.emulator.aws import moto_fixes

HOST = "127.0.0.1"


def serve(port: int, cert: Path | None, key: Path | None, ready_file: Path | None) -> None:
    """Run until killed."""
    from moto.moto_server.werkzeug_app import (  # noqa: PLC0415 - heavy: only in the server process
        DomainDispatcherApplication,
        create_backend_app,
    )
    from werkzeug.serving import ThreadedWSGIServer  # noqa: PLC0415

    from tools.emulator.aws.http11 import KeepAliveHandler  # noqa: PLC0415 - the local AWS's own handler

    context = None
    if cert is not None and key is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
    app = DomainDispatcherApplication(create_backend_app)
    server = ThreadedWSGIServer(HOST, port, app, KeepAliveHandler, ssl_context=context)
    if ready_file is not None:
        scratch = ready_file.with_name(ready_file.name + ".partial")
        scratch.write_text(json.dumps({"port": server.server_address[1], "pid": os.getpid()}))
        scratch.replace(ready_file)
    server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.keepalive_moto", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key", type=Path)
    parser.add_argument("--ready-file", type=Path)
    parser.add_argument("--linear-item-size", action="store_true")
    args = parser.parse_args(argv)
    if args.linear_item_size:
        moto_fixes.linear_item_size()
    serve(args.port, args.cert, args.key, args.ready_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
