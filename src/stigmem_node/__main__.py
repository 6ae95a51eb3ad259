"""``python -m stigmem_node`` / ``stigmem-node``: serve the node with uvicorn."""

from __future__ import annotations

import logging
import sys

from stigmem_node.config import Settings, SettingsError, load_settings


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def serve(settings: Settings) -> None:
    import uvicorn

    from stigmem_node.app import create_app

    configure_logging(settings.log_level)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=30,
    )


def main() -> None:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"stigmem-node: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    serve(settings)


if __name__ == "__main__":
    main()
