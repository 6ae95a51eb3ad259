"""The bare-FastAPI ceiling: parse the same fact body as ``POST /v1/facts``, answer 201.

It has the node's request model shape (same fields, types and bounds) but no
authentication, middleware, normalisation, storage or record building, and it is served by
uvicorn exactly as ``stigmem-node`` serves the node (same loop, HTTP parser and options).
Its throughput is the most any FastAPI app can reach on this machine in this run.

Run as ``python -m bench.ceiling_app --port N`` (always on 127.0.0.1).
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

MAX_NAME = 2048


class Value(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["string", "text", "number", "boolean", "datetime", "ref", "null"]
    v: Any = None
    interpret_as: Literal["content", "instruction"] = "content"


class Fact(BaseModel):
    model_config = ConfigDict(extra="ignore")

    entity: str = Field(min_length=1, max_length=MAX_NAME)
    relation: str = Field(min_length=1, max_length=MAX_NAME)
    value: Value
    source: str = Field(min_length=1, max_length=MAX_NAME)
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    scope: Literal["local", "team", "company", "public"] = "local"
    valid_until: str | None = None
    garden_id: str | None = Field(default=None, max_length=MAX_NAME)
    derived_from: list[dict[str, Any]] = Field(default_factory=list, max_length=256)


def create_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None)

    @app.post("/v1/facts", status_code=201)
    async def assert_fact(body: Fact) -> Response:
        payload = b'{"id":"%s","entity":"%s"}' % (str(uuid.uuid4()).encode(), b"ok")
        return Response(payload, status_code=201, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The same options as stigmem_node.__main__.serve (loop and http left on "auto").
    uvicorn.run(
        create_app(),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=30,
    )


if __name__ == "__main__":
    main()
