"""``stigmem tls dev-ca`` / ``stigmem tls issue``: real certificates with the right SANs,
purposes and file modes; bad input is refused with one clear line and writes nothing."""

from __future__ import annotations

import os
import ssl
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from stigmem_node.cli import main as cli
from stigmem_node.tls import devca

NODE = "stigmem:node:11111111-2222-3333-4444-555555555555"


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_dev_ca_then_issue_makes_a_node_certificate(tmp_path: Path) -> None:
    ca_dir, out = tmp_path / "ca", tmp_path / "node-a"
    assert run("tls", "dev-ca", "--out", str(ca_dir)).exit_code == 0
    result = run("tls", "issue", "--ca", str(ca_dir), "--out", str(out), "--node-id", NODE,
                 "--dns", "node-a", "--dns", "localhost", "--ip", "10.0.0.7")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"STIGMEM_TLS_CERT_PATH={(out / 'node.crt').resolve()}" in result.output
    assert f"STIGMEM_TLS_CA_BUNDLE={(out / 'ca.crt').resolve()}" in result.output

    cert, ca = load(out / "node.crt"), load(ca_dir / "ca.crt")
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.UniformResourceIdentifier) == [NODE]
    assert names.get_values_for_type(x509.DNSName) == ["node-a", "localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.7"]
    purposes = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(purposes) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(ca)
    assert (out / "ca.crt").read_bytes() == (ca_dir / "ca.crt").read_bytes()
    for key in (ca_dir / "ca.key", out / "node.key"):
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    # The files load as a TLS server would load them.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(out / "node.crt", out / "node.key")
    ctx.load_verify_locations(out / "ca.crt")


def test_issue_defaults_to_the_local_nodes_id_and_loopback_names(tmp_path: Path) -> None:
    run("tls", "dev-ca", "--out", str(tmp_path / "ca"))
    env = {"STIGMEM_DB_PATH": str(tmp_path / "node.db")}
    result = run("tls", "issue", "--ca", str(tmp_path / "ca"), "--out", str(tmp_path / "n"),
                 env=env)  # fmt: skip
    assert result.exit_code == 0, result.output
    names = load(tmp_path / "n" / "node.crt").extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    (node_id,) = names.value.get_values_for_type(x509.UniformResourceIdentifier)
    assert node_id.startswith("stigmem:node:")
    assert names.value.get_values_for_type(x509.DNSName) == ["localhost"]
    # The same id again: it is the node's own, kept in its database.
    again = run("tls", "issue", "--ca", str(tmp_path / "ca"), "--out", str(tmp_path / "m"),
                env=env)  # fmt: skip
    assert f"for {node_id}," in again.output


def test_existing_files_are_kept_unless_forced(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    run("tls", "dev-ca", "--out", str(ca_dir))
    before = (ca_dir / "ca.crt").read_bytes()
    result = run("tls", "dev-ca", "--out", str(ca_dir))
    assert result.exit_code == 1
    assert "exists; pass --force to replace" in result.output
    assert (ca_dir / "ca.crt").read_bytes() == before
    out = tmp_path / "n"
    run("tls", "issue", "--ca", str(ca_dir), "--out", str(out), "--node-id", NODE)
    first = load(out / "node.crt").serial_number
    assert run("tls", "issue", "--ca", str(ca_dir), "--out", str(out), "--node-id",
               NODE).exit_code == 1  # fmt: skip
    assert load(out / "node.crt").serial_number == first
    renewed = run("tls", "issue", "--ca", str(ca_dir), "--out", str(out), "--node-id", NODE,
                  "--force")  # fmt: skip
    assert renewed.exit_code == 0
    assert load(out / "node.crt").serial_number != first


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--node-id", "not a uri"], "is not a URI of printable ASCII"),
        (["--node-id", "stigmem:node:" + "x" * 300], "is not a URI of printable ASCII"),
        (["--node-id", NODE, "--dns", "bad name!"], "is not a DNS name"),
        (["--node-id", NODE, "--ip", "300.1.1.1"], "is not an IP address"),
    ],
)
def test_bad_issue_input_is_one_line_and_writes_nothing(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    run("tls", "dev-ca", "--out", str(tmp_path / "ca"))
    out = tmp_path / "n"
    result = run("tls", "issue", "--ca", str(tmp_path / "ca"), "--out", str(out), *extra)
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_issue_without_a_ca_is_refused(tmp_path: Path) -> None:
    result = run("tls", "issue", "--ca", str(tmp_path / "none"), "--out", str(tmp_path / "n"),
                 "--node-id", NODE)  # fmt: skip
    assert result.exit_code == 1
    assert "cannot read the CA" in result.output
    assert not (tmp_path / "n").exists()


def test_a_node_certificate_is_not_a_ca(tmp_path: Path) -> None:
    run("tls", "dev-ca", "--out", str(tmp_path / "ca"))
    run("tls", "issue", "--ca", str(tmp_path / "ca"), "--out", str(tmp_path / "n"),
        "--node-id", NODE)  # fmt: skip
    with pytest.raises(devca.CertificateError, match="is not a CA certificate"):
        devca.load_ca(tmp_path / "n" / "node.crt", tmp_path / "n" / "node.key")
    with pytest.raises(devca.CertificateError, match="is not the ECDSA key of"):
        devca.load_ca(tmp_path / "ca" / "ca.crt", tmp_path / "n" / "node.key")


def test_a_node_certificate_never_outlives_its_ca(tmp_path: Path) -> None:
    ca = devca.create_ca("short", days=3)
    issued = devca.issue_node(ca, NODE, dns_names=[], ip_addresses=[], days=365)
    assert issued.cert.not_valid_after_utc <= ca.cert.not_valid_after_utc
