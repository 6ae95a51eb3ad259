"""Wire models of lint (field names are the protocol's)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stigmem_node.facts.models import MAX_NAME

Check = Literal["contradiction", "stale", "orphan", "broken_ref", "namespacing"]
CHECKS: tuple[Check, ...] = ("contradiction", "stale", "orphan", "broken_ref", "namespacing")
Severity = Literal["error", "warning", "info"]


class LintRequest(BaseModel):
    """``POST /v1/lint``. ``scope`` is checked by the handler (400, as upstream)."""

    model_config = ConfigDict(extra="ignore")

    scope: str = Field(description="Fact scope to sweep")
    checks: list[Check] | None = Field(default=None, description="Checks to run; omit for all")
    entity: str | None = Field(default=None, max_length=MAX_NAME)
    relation: str | None = Field(default=None, max_length=MAX_NAME)
    stale_lookahead_s: int = Field(
        default=0, ge=0, description="Also flag facts expiring within N seconds"
    )


class Finding(BaseModel):
    check: Check
    severity: Severity
    entity: str
    relation: str | None
    fact_ids: list[str]
    detail: str


class LintResult(BaseModel):
    findings: list[Finding]
    checked_at: str
    scope: str
    checks_run: list[Check]
    fact_count: int
    finding_count: int = Field(description="All findings, also those beyond the reported ones")
    findings_truncated: bool = Field(description="Only the first 10 000 findings are reported")
