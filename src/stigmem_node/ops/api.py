"""``/healthz``, ``/.well-known/stigmem``, ``/docs`` (local assets), ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from stigmem_node.db import Cursor
from stigmem_node.deps import NodeDep, json_response
from stigmem_node.errors import Unavailable

router = APIRouter(tags=["ops"])

NAMESPACES = ["stigmem:", "rel:", "memory:", "intent:", "roadmap:", "preference:", "garden:"]
DOCS_ASSETS = "/docs-assets"


def _ping_txn(cur: Cursor) -> int:
    return int(cur.execute("SELECT 1").fetchone()[0])


@router.get("/healthz")
async def healthz(node: NodeDep) -> Response:
    try:
        await node.db.read("healthz", _ping_txn)
    except Exception:
        raise Unavailable(
            {"code": "database_unavailable", "message": "database check failed"}
        ) from None
    return json_response({"status": "ok"})


@router.get("/.well-known/stigmem")
async def well_known(node: NodeDep) -> Response:
    settings = node.settings
    body: dict[str, object] = {
        "version": "1.0",
        "node_id": node.node_id,
        "node_url": settings.node_url,
        "auth": "required" if settings.auth_required else "none",
        "federation": "enabled" if settings.federation_enabled else "disabled",
        "source_attestation": settings.source_attestation_mode,
        "namespaces": NAMESPACES,
        "spec": f"{settings.node_url}/docs",
        "cors": {"dev_localhost": False, "configured": False},
    }
    if settings.federation_enabled:
        body.update(node.federation.well_known_fields())
    return json_response(body)


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Stigmem node API",
        swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        # Swagger UI's default validator badge sends the spec URL to a public host.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(node: NodeDep) -> Response:
    return Response(node.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
