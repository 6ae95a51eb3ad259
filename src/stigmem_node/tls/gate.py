"""The start-up gate (upstream's transport rules): a node refuses to start in a posture that
would expose it, with one line naming the variable to set.

- The TLS files must fit together and load; a TLS node's ``STIGMEM_NODE_URL`` is https.
- Federation or push without mutual TLS needs ``STIGMEM_FEDERATION_INSECURE=1`` **and** a
  loopback ``STIGMEM_NODE_URL``, or additionally
  ``STIGMEM_LOCAL_DEV_ALLOW_INSECURE_NON_LOOPBACK=1`` (private development networks, e.g.
  Compose service names).
- ``STIGMEM_AUTH_REQUIRED=false`` (anonymous callers may read, write and federate) needs a
  loopback ``STIGMEM_NODE_URL`` or the same acknowledgement.

Allowed-but-risky postures are returned as warnings for the start-up log.
"""

from __future__ import annotations

import ipaddress
import ssl
from urllib.parse import urlsplit

from cryptography import x509

from stigmem_node.config import Settings, SettingsError
from stigmem_node.tls import contexts
from stigmem_node.tls.files import TlsFiles, tls_files

LOCAL_DEV = "STIGMEM_LOCAL_DEV_ALLOW_INSECURE_NON_LOOPBACK=1"


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_startup(settings: Settings) -> list[str]:
    """Warnings to log; raises ``SettingsError`` (one line) when the node must not start."""
    files = tls_files(settings)
    if files is not None:
        _check_files(files)
        if not settings.node_url.startswith("https://"):
            raise SettingsError(
                f"STIGMEM_NODE_URL must be an https:// URL when STIGMEM_TLS_CERT_PATH is set"
                f" (got {settings.node_url})"
            )
    warnings = _check_federation(settings, files)
    warnings += _check_auth(settings)
    return warnings


def _check_files(files: TlsFiles) -> None:
    for variable, path in (("STIGMEM_TLS_CERT_PATH", files.cert), ("STIGMEM_TLS_KEY_PATH",
                           files.key), ("STIGMEM_TLS_CA_BUNDLE", files.ca)):  # fmt: skip
        if path is not None and not path.is_file():
            raise SettingsError(f"{variable}={path}: no such file")
    try:
        contexts.server_context(files)
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(
            f"STIGMEM_TLS_CERT_PATH / STIGMEM_TLS_KEY_PATH / STIGMEM_TLS_CA_BUNDLE do not load:"
            f" {exc}"
        ) from None


def _check_federation(settings: Settings, files: TlsFiles | None) -> list[str]:
    if not (settings.federation_enabled or settings.federation_push_enabled):
        return []
    if files is not None and files.mutual:
        return []
    if not settings.federation_insecure:
        raise SettingsError(
            "federation needs mutual TLS: set STIGMEM_TLS_CERT_PATH, STIGMEM_TLS_KEY_PATH and"
            " STIGMEM_TLS_CA_BUNDLE (see `stigmem tls --help`), or STIGMEM_FEDERATION_INSECURE=1"
            " for local development"
        )
    if not is_loopback(settings.node_url) and not settings.local_dev_allow_insecure_non_loopback:
        raise SettingsError(
            f"STIGMEM_FEDERATION_INSECURE=1 is only allowed with a loopback STIGMEM_NODE_URL"
            f" (got {settings.node_url}): configure mutual TLS, or set {LOCAL_DEV} on a"
            f" private development network"
        )
    return [
        "SECURITY WARNING: federation runs without mutual TLS (STIGMEM_FEDERATION_INSECURE=1):"
        " peers are not authenticated by certificate; use this for local development only"
    ]


def _check_auth(settings: Settings) -> list[str]:
    if settings.auth_required:
        return []
    if not is_loopback(settings.node_url) and not settings.local_dev_allow_insecure_non_loopback:
        raise SettingsError(
            f"STIGMEM_AUTH_REQUIRED=false is only allowed with a loopback STIGMEM_NODE_URL"
            f" (got {settings.node_url}): anonymous callers could read, write and federate;"
            f" set {LOCAL_DEV} to acknowledge (private development networks only)"
        )
    return [
        "SECURITY WARNING: STIGMEM_AUTH_REQUIRED=false: anonymous callers may read, write and"
        " federate"
    ]


def certificate_warning(settings: Settings, node_id: str) -> str | None:
    """Why peers would refuse this node's own certificate (its URI SANs lack the node id),
    or None. Read once the node id is settled; peers check it on every connection."""
    files = tls_files(settings)
    if files is None or not files.mutual:
        return None
    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = names.get_values_for_type(x509.UniformResourceIdentifier)
    except (OSError, ValueError, x509.ExtensionNotFound):
        uris = []
    if node_id in uris:
        return None
    return (
        f"{files.cert} does not name this node ({node_id}) as a URI SAN (it names"
        f" {', '.join(uris) or 'none'}): peers will refuse it; issue one with"
        f" `stigmem tls issue --node-id {node_id}`"
    )
