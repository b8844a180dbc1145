"""The federation's small certificate authority, for server-to-server TLS only.

One space keeps the CA (`ca.key`, `ca.crt`, by default `<data dir>/ca`); it signs each
space server's certificate, which serves both ends of a route or leaf link (server and
client auth), naming the addresses the server is reached at. Keys are ECDSA P-256; the
CA lives ten years, a server certificate about a year (renewed by issuing again and
reloading nats-server, see deploy/RUNBOOK.md). Clients of a space's own server are on
loopback with passwords and need none of this.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from node.errors import ConfigError
from node.ops.spec import is_ip

__all__ = ["CA_DAYS", "SERVER_DAYS", "init_ca", "issue", "make_csr", "sign_csr", "expiry", "write_private"]

CA_DAYS: Final = 3650
SERVER_DAYS: Final = 397


def write_private(path: Path, data: bytes) -> None:
    """A key file, mode 0600 from its creation on (replacing an older one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def init_ca(ca_dir: Path, name: str = "hitode federation", days: int = CA_DAYS) -> Path:
    """Make a CA in `ca_dir` (refuses to replace one: every server trusts it)."""
    if (ca_dir / "ca.key").exists():
        raise ConfigError(f"{ca_dir} already holds a CA (ca.key); rotating it is in deploy/RUNBOOK.md")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _now()
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    ca_dir.mkdir(parents=True, exist_ok=True)
    ca_dir.chmod(0o700)
    write_private(ca_dir / "ca.key", _key_pem(key))
    (ca_dir / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return ca_dir / "ca.crt"


def _load_ca(ca_dir: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    try:
        key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    except FileNotFoundError as e:
        raise ConfigError(f"no CA in {ca_dir} ({Path(str(e.filename)).name} missing): "
                          f"run `hitode ca init --ca {ca_dir}` on the space that keeps it") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{ca_dir}/ca.key is not an EC key made by `hitode ca init`")
    return key, cert


def _san(hosts: list[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for h in hosts:
        names.append(x509.IPAddress(ipaddress.ip_address(h)) if is_ip(h) else x509.DNSName(h))
    return x509.SubjectAlternativeName(names)


def make_csr(name: str, hosts: list[str]) -> tuple[bytes, bytes]:
    """A new key and a certificate request for server `name` at `hosts`: (key PEM, CSR PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
           .add_extension(_san(hosts), critical=False).sign(key, hashes.SHA256()))
    return _key_pem(key), csr.public_bytes(serialization.Encoding.PEM)


def sign_csr(ca_dir: Path, csr_pem: bytes, *, name: str, hosts: list[str] | None = None,
             days: int = SERVER_DAYS) -> bytes:
    """The CA's certificate for a request; its common name must be `name` (the space id)."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError:
        raise ConfigError("the certificate request is not a PEM CSR") from None
    if not csr.is_signature_valid:
        raise ConfigError("the certificate request's signature is wrong")
    cns = [a.value for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if cns != [name]:
        raise ConfigError(f"the certificate request names {cns}, not {name!r}")
    if hosts is None:
        try:
            ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            hosts = [*(str(ip) for ip in ext.get_values_for_type(x509.IPAddress)),
                     *ext.get_values_for_type(x509.DNSName)]
        except x509.ExtensionNotFound:
            hosts = []
    ca_key, ca_cert = _load_ca(ca_dir)
    now = _now()
    not_after = min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca_cert.subject)
        .public_key(csr.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # both ends of a route or leaf link: it listens, and it dials
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if hosts:
        builder = builder.add_extension(_san(hosts), critical=False)
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def issue(ca_dir: Path, out_dir: Path, *, name: str, hosts: list[str], days: int = SERVER_DAYS) -> Path:
    """Key, certificate and the CA's certificate for server `name`, in `out_dir`
    (server.key mode 0600, server.crt, ca.crt): what nats-config's TLS blocks name."""
    if not hosts:
        raise ConfigError("name at least one --host the other servers reach this one at")
    for h in hosts:
        if not h or any(c in h for c in " /,"):
            raise ConfigError(f"--host {h!r} is not a host name or IP address")
    key_pem, csr_pem = make_csr(name, hosts)
    cert = sign_csr(ca_dir, csr_pem, name=name, hosts=hosts, days=days)
    install(out_dir, key_pem, cert, (ca_dir / "ca.crt").read_bytes())
    return out_dir / "server.crt"


def install(out_dir: Path, key_pem: bytes, cert_pem: bytes, ca_pem: bytes) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    out_dir.chmod(0o700)
    write_private(out_dir / "server.key", key_pem)
    (out_dir / "server.crt").write_bytes(cert_pem)
    (out_dir / "ca.crt").write_bytes(ca_pem)


def expiry(cert_file: Path) -> dt.datetime | None:
    """When a certificate file's certificate stops being valid; None if there is none."""
    try:
        return x509.load_pem_x509_certificate(cert_file.read_bytes()).not_valid_after_utc
    except (FileNotFoundError, ValueError):
        return None
