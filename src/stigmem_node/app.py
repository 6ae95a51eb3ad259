"""``create_app(settings)``: the ASGI application of one node. Nothing happens at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from stigmem_node import __version__
from stigmem_node.audit.api import router as audit_router
from stigmem_node.auth.api import router as auth_router
from stigmem_node.auth.identity_api import router as identity_router
from stigmem_node.auth.middleware import EdgeMiddleware
from stigmem_node.clock import Clock
from stigmem_node.config import Settings
from stigmem_node.conflicts.api import router as conflicts_router
from stigmem_node.decay.api import router as decay_router
from stigmem_node.errors import install_handlers
from stigmem_node.facts.api import router as facts_router
from stigmem_node.facts.fastpath import PATH as FASTPATH
from stigmem_node.facts.fastpath import FastAssert
from stigmem_node.facts.fastquery import PATH as QUERY_PATH
from stigmem_node.facts.fastquery import FastQuery
from stigmem_node.federation.api import PEER_TOKEN_PATHS
from stigmem_node.federation.api import router as federation_router
from stigmem_node.gardens.api import router as gardens_router
from stigmem_node.graph.api import router as graph_router
from stigmem_node.lint.api import router as lint_router
from stigmem_node.node import Node
from stigmem_node.ops.api import DOCS_ASSETS
from stigmem_node.ops.api import router as ops_router
from stigmem_node.recall.api import router as recall_router
from stigmem_node.tls.gate import certificate_warning, check_startup
from stigmem_node.tls.guard import TransportGuard

log = logging.getLogger("stigmem.node")

# /v1 paths that carry their own authentication (or none), so the API-key edge skips them.
AUTH_EXEMPT = frozenset({"/v1/auth/oidc/exchange", *PEER_TOKEN_PATHS})


def create_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    """Raises ``SettingsError`` (one line) when the start-up gate refuses the settings."""
    for warning in check_startup(settings):
        log.warning(warning)
    node = Node(settings, clock=clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        node.start()
        if problem := certificate_warning(settings, node.node_id):
            log.error(problem)
        await node.start_background()
        try:
            yield
        finally:
            await node.stop_background()
            node.stop()

    app = FastAPI(
        title="Stigmem node",
        version=__version__,
        description="Typed, immutable, attributable facts for agents and people.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.node = node
    install_handlers(app)
    for router in (
        ops_router,
        facts_router,
        conflicts_router,
        gardens_router,
        auth_router,
        identity_router,
        audit_router,
        decay_router,
        lint_router,
        recall_router,
        graph_router,
        federation_router,
    ):
        app.include_router(router)
    assets = resources.files("fastapi_offline") / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")
    app.add_middleware(FastAssert, node=node, route=_route(facts_router, "POST", FASTPATH))
    app.add_middleware(FastQuery, node=node, route=_route(facts_router, "GET", QUERY_PATH))
    app.add_middleware(EdgeMiddleware, node=node, exempt=AUTH_EXEMPT)
    app.add_middleware(TransportGuard, node=node, peer_paths=PEER_TOKEN_PATHS)  # outermost
    return app


def _route(router: APIRouter, method: str, path: str) -> APIRoute:
    for route in router.routes:
        if isinstance(route, APIRoute) and route.path == path and method in (route.methods or ()):
            return route
    raise LookupError(f"no route {method} {path}")
