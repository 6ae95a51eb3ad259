"""A development certificate authority and node certificates (``stigmem tls dev-ca|issue``).

A node certificate carries the node id as a URI SAN (peers bind it to the id they federate
with), DNS/IP SANs for ordinary HTTPS clients, and both TLS purposes (a node serves and
calls). Keys are ECDSA P-256: small, fast handshakes, supported everywhere. Private keys are
written with mode 0600 and unencrypted, because the node reads them unattended.

This is for development and private federations run by one operator; production
deployments may use any CA whose certificates carry the same SANs.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT, CA_KEY = "ca.crt", "ca.key"
NODE_CERT, NODE_KEY = "node.crt", "node.key"
# A URI with a scheme and printable ASCII only: what a URI SAN (an IA5String) can hold.
NODE_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]+$")
MAX_NODE_ID = 256
BACKDATE = timedelta(minutes=5)  # tolerate small clock differences between hosts


class CertificateError(Exception):
    """A certificate cannot be made or written; the message says why (one line)."""


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def check_node_id(node_id: str) -> str:
    """The node id as a URI SAN value. Raises ``CertificateError`` when it cannot be one."""
    if len(node_id) > MAX_NODE_ID or not NODE_ID_RE.match(node_id):
        raise CertificateError(
            f"node id {node_id!r} is not a URI of printable ASCII without spaces"
            f" (at most {MAX_NODE_ID} characters), e.g. stigmem:node:<uuid>"
        )
    return node_id


def create_ca(common_name: str, *, days: int, now: datetime | None = None) -> Issued:
    """A self-signed CA that may sign end-entity certificates only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = (now or datetime.now(UTC)) - BACKDATE
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + BACKDATE + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def issue_node(
    ca: Issued,
    node_id: str,
    *,
    dns_names: list[str],
    ip_addresses: list[str],
    days: int,
    not_before: datetime | None = None,
) -> Issued:
    """A node certificate signed by ``ca``: URI SAN ``node_id``, the given DNS/IP SANs,
    serverAuth and clientAuth. ``not_before`` (default now) shifts the validity window
    (tests make expired certificates with it). Raises ``CertificateError``."""
    check_node_id(node_id)
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(node_id)]
    sans += [x509.DNSName(_dns(name)) for name in dns_names]
    sans += [x509.IPAddress(_ip(address)) for address in ip_addresses]
    key = ec.generate_private_key(ec.SECP256R1())
    start = (not_before or datetime.now(UTC)) - BACKDATE
    end = min(start + BACKDATE + timedelta(days=days), ca.cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id[:64])]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(cert, key)


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _dns(name: str) -> str:
    name = name.strip().lower()
    labels = name.split(".")
    if (
        not name
        or len(name) > 253
        or not all(re.fullmatch(r"[a-z0-9_*-]{1,63}", x) for x in labels)
    ):
        raise CertificateError(f"{name!r} is not a DNS name")
    return name


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(address.strip())
    except ValueError:
        raise CertificateError(f"{address!r} is not an IP address") from None


# -- files -------------------------------------------------------------------------------------
def load_ca(cert_path: Path, key_path: Path) -> Issued:
    """A CA written by ``write_pair``. Raises ``CertificateError``."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CertificateError(f"cannot read the CA ({cert_path}, {key_path}): {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise CertificateError(f"{key_path} is not the ECDSA key of {cert_path}")
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    if not constraints.ca:
        raise CertificateError(f"{cert_path} is not a CA certificate")
    return Issued(cert, key)


def write_pair(issued: Issued, cert_path: Path, key_path: Path, *, force: bool) -> None:
    """Write the certificate (0644) and key (0600). Existing files are kept unless
    ``force``; each file is written beside its target and renamed into place, so a running
    node never reads half a file. Raises ``CertificateError``."""
    if not force:
        existing = [str(p) for p in (cert_path, key_path) if p.exists()]
        if existing:
            raise CertificateError(f"{', '.join(existing)} exists; pass --force to replace")
    try:
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        key_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(key_path, issued.key_pem(), 0o600)
        write_atomic(cert_path, issued.cert_pem(), 0o644)
    except OSError as exc:
        raise CertificateError(f"cannot write {cert_path} / {key_path}: {exc}") from None


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a sibling temporary file with ``mode`` and rename it onto ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(tmp, mode)  # the umask may have narrowed it
    os.replace(tmp, path)
