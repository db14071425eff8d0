"""The embedded broker's own certificate authority: a CA, the broker's certificate and one
client certificate per partner, as PEM files under the broker's data directory.

Layout of ``<data dir>/tls``::

    ca.key                the CA's private key (0600): only the launcher reads it
    ca.pem                the CA certificate, what every client trusts
    broker.pem            the broker's key and certificate chain (0600), for its keystore
    clients/<name>.key    a partner's private key (0600)
    clients/<name>.pem    its certificate (subject CN=<name>, the broker's principal)

Keys are ECDSA P-256. Rotation is re-issuing: :meth:`LocalCA.issue_client` with
``renew=True`` replaces a client's key and certificate (the old one keeps working until it
expires, as nothing revokes it on a local stack); removing the ``tls`` directory of a
stopped broker makes a new CA at the next start, after which every client needs the new
``ca.pem``.
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

from liaison.errors import ConfigurationError

__all__ = ["ClientCertificate", "LocalCA", "write_private"]

_CA_DAYS = 3650
_LEAF_DAYS = 397  # what public CAs may issue at most; a local stack needs no more
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# The names the broker is reached by: its certificate must carry them.
_BROKER_HOSTS = ("localhost",)
_BROKER_ADDRESSES = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class ClientCertificate:
    """Where a client's key and certificate are, for ``ssl.key.location`` and
    ``ssl.certificate.location``."""

    name: str
    key: Path
    certificate: Path


def write_private(path: Path, data: bytes) -> None:
    """Written under a temporary name with mode 0600 from the start, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    partial.replace(path)


def _write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(data)
    partial.replace(path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # PKCS#8, unencrypted: what Kafka's PEM keystore and librdkafka both read.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class LocalCA:
    """A certificate authority in one directory, made on first use."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def broker_file(self) -> Path:
        return self.directory / "broker.pem"

    def _ca(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key_file = self.directory / "ca.key"
        if key_file.is_file() and self.ca_file.is_file():
            key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ConfigurationError(f"{key_file} is not the EC key this CA makes")
            return key, x509.load_pem_x509_certificate(self.ca_file.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Liaison local stack"),
                x509.NameAttribute(NameOID.COMMON_NAME, "Liaison local CA"),
            ]
        )
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=_CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        write_private(key_file, _key_pem(key))
        _write_public(self.ca_file, _cert_pem(cert))
        return key, cert

    def _issue(
        self, common_name: str, usage: x509.ObjectIdentifier, names: list[x509.GeneralName]
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        ca_key, ca_cert = self._ca()
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=_LEAF_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return key, builder.sign(ca_key, hashes.SHA256())

    def issue_broker(self) -> Path:
        """The broker's key and chain in one file (Kafka's PEM keystore), issued anew at each
        start; returns its path."""
        names: list[x509.GeneralName] = [x509.DNSName(host) for host in _BROKER_HOSTS]
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in _BROKER_ADDRESSES]
        key, cert = self._issue("liaison-embedded-kafka", ExtendedKeyUsageOID.SERVER_AUTH, names)
        write_private(self.broker_file, _key_pem(key) + _cert_pem(cert) + self.ca_file.read_bytes())
        return self.broker_file

    def issue_client(self, name: str, *, renew: bool = False) -> ClientCertificate:
        """The client certificate for ``name`` (its subject CN, and so its Kafka principal
        ``User:<name>``): the one issued before unless ``renew``."""
        if not _NAME.fullmatch(name):
            raise ConfigurationError(f"{name!r} cannot be a certificate name")
        issued = ClientCertificate(
            name,
            self.directory / "clients" / f"{name}.key",
            self.directory / "clients" / f"{name}.pem",
        )
        if not renew and issued.key.is_file() and issued.certificate.is_file():
            return issued
        key, cert = self._issue(name, ExtendedKeyUsageOID.CLIENT_AUTH, [])
        write_private(issued.key, _key_pem(key))
        _write_public(issued.certificate, _cert_pem(cert))
        return issued
