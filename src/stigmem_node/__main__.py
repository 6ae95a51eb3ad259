"""``python -m stigmem_node`` / ``stigmem-node``: serve the node with uvicorn."""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
from types import FrameType

from stigmem_node.config import Settings, SettingsError, load_settings


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(settings: Settings) -> None:
    import uvicorn

    from stigmem_node.app import create_app
    from stigmem_node.tls.server import uvicorn_options

    configure_logging(settings.log_level)
    app = create_app(settings)  # the start-up gate may refuse here (SettingsError)
    tls = uvicorn_options(settings, app.state.node.audit.security)  # HTTPS: TLS 1.3, mTLS
    if threading.current_thread() is threading.main_thread():
        # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the
        # handler that was installed before it ran: with the default one, a clean shutdown
        # would end as "killed by SIGTERM" (status -15). Ours ends it with status 0.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _exit_cleanly)
    _tune_gc()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=30,
        **tls,
    )


def _tune_gc() -> None:
    """Keep the cyclic garbage collector off the request path as far as is safe.

    Every request allocates a few hundred short-lived containers (most freed at once by
    reference counting); at CPython's default threshold (700) a young collection runs every
    couple of requests and promotes whatever 32 requests in flight hold, so older collections
    follow. The objects built at start-up live as long as the process: they are frozen (never
    walked again), and collections run about a hundred times less often. Measured on single
    asserts at 32 clients: 712 → 543 µs of CPU per request.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 50)


def main() -> None:
    try:
        serve(load_settings())
    except SettingsError as exc:
        print(f"stigmem-node: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
