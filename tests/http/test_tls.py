"""Tokens travel only over verified TLS: certificates are checked by default (a local HTTPS fake
with a certificate of a CA made here is refused until that CA is trusted), turning the check off
is a loud warning, a plain-http portal is refused unless on loopback, and no code-execution
endpoint (Scrapy's remote control) is started."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env
from tests.servers.zenodo import FakeZenodo


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_ca_and_server_cert(folder: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) as PEM files; the server certificate
    names 127.0.0.1 and localhost."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(_name("envision test CA")).issuer_name(_name("envision test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_ca_and_server_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https_zenodo(certs):
    _, cert, key = certs
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = FakeZenodo(n_records=5)
    server.start(tls=context)
    assert server.base_url.startswith("https://")
    yield server
    server.stop()


def api(server: FakeZenodo) -> dict[str, str]:
    return {"ZENODO_API_URL": f"{server.base_url}/api"}


def test_untrusted_certificate_is_refused(https_zenodo, crawl):
    result = crawl("zenodo", settings=api(https_zenodo))
    assert result.items == []
    assert https_zenodo.calls == []  # no HTTP request got through the handshake
    assert "certificate verify failed" in result.log, result.log[-3000:]
    assert "DOWNLOAD_VERIFY_CERTIFICATES is False" not in result.log


def test_certificate_of_a_trusted_ca_is_accepted(https_zenodo, certs, crawl):
    ca, _, _ = certs
    result = crawl("zenodo", settings=api(https_zenodo), env={"SSL_CERT_FILE": str(ca)})
    assert result.returncode == 0, result.log[-3000:]
    assert len(result.items) == 5
    assert "DOWNLOAD_VERIFY_CERTIFICATES is False" not in result.log


def test_verification_off_works_with_a_loud_warning(https_zenodo, crawl):
    result = crawl("zenodo", settings={**api(https_zenodo), "DOWNLOAD_VERIFY_CERTIFICATES": False})
    assert result.returncode == 0, result.log[-3000:]
    assert len(result.items) == 5
    assert "WARNING: DOWNLOAD_VERIFY_CERTIFICATES is False: TLS certificates are NOT verified" in result.log
    assert result.stats["envision/fence/tls_unverified"] == 1


def test_a_default_crawl_starts_no_remote_control_endpoint(crawl):
    server = FakeZenodo(n_records=1)
    with server:
        result = crawl("zenodo", settings={"ZENODO_API_URL": f"{server.base_url}/api"})
    assert result.returncode == 0, result.log[-3000:]
    enabled = result.log.split("Enabled extensions:", 1)[1].split("]", 1)[0]
    assert "scrapy.extensions.corestats.CoreStats" in enabled
    assert "RemoteControl" not in enabled


@pytest.mark.parametrize("url", ["http://portal.example.org/api/batches", "http://10.0.0.5/api"])
def test_plain_http_portal_url_is_refused_unless_loopback(url, tmp_path):
    env = scrapy_env({"PORTAL_URL": url, "PORTAL_TOKEN": "t0ken"})
    proc = subprocess.run(scrapy_command("post", "-s", f"ENVISION_DATA_DIR={tmp_path}"), cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "plain http to a host that is not loopback" in proc.stderr
    assert "t0ken" not in proc.stderr + proc.stdout
