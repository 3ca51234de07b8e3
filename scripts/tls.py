"""A local certificate authority and server certificates, made with the `openssl` CLI.

`make run TLS=1` uses them for Mosquitto's TLS listener; tests use them to prove that a
client verifying the CA connects and one that does not is refused. For plants outside the
building, replace them with certificates from the bureau's own CA (docs/operations.md).

    ca = make_ca(folder)                                   # ca.crt, ca.key (kept if present)
    cert = make_server_cert(folder, ca, ["broker.example", "10.0.0.5"])
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CA_DAYS = 3650
SERVER_DAYS = 825  # the most browsers accept for a server certificate
KEY_ALGORITHM = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]


class TlsError(RuntimeError):
    """openssl is missing or refused to make a certificate."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A certificate and its private key (PEM files)."""

    cert: Path
    key: Path


def _openssl(*args: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise TlsError("openssl not found: install Debian's 'openssl' package")
    done = subprocess.run([openssl, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise TlsError(f"openssl {args[0]} failed: {done.stderr.strip()}")


def make_ca(folder: Path, name: str = "plantwatch local CA") -> KeyPair:
    """A self-signed CA in `folder` (`ca.crt`, `ca.key`); an existing one is kept."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = KeyPair(folder / "ca.crt", folder / "ca.key")
    if ca.cert.exists() and ca.key.exists():
        return ca
    _openssl(
        "req", "-x509", *KEY_ALGORITHM, "-nodes", "-days", str(CA_DAYS),
        "-subj", f"/CN={name}", "-keyout", str(ca.key), "-out", str(ca.cert),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    ca.key.chmod(0o600)
    return ca


def make_server_cert(
    folder: Path, ca: KeyPair, hostnames: Sequence[str], name: str = "server"
) -> KeyPair:
    """`<name>.crt`/`<name>.key` signed by `ca`, valid for each host name or IP address."""
    if not hostnames:
        raise TlsError("a server certificate needs at least one host name or address")
    folder.mkdir(parents=True, exist_ok=True)
    pair = KeyPair(folder / f"{name}.crt", folder / f"{name}.key")
    csr, ext = folder / f"{name}.csr", folder / f"{name}.ext"
    ext.write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName={','.join(_san(h) for h in hostnames)}\n"
    )
    _openssl(
        "req", "-new", *KEY_ALGORITHM, "-nodes", "-subj", f"/CN={hostnames[0]}",
        "-keyout", str(pair.key), "-out", str(csr),
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
        "-CAcreateserial", "-days", str(SERVER_DAYS), "-extfile", str(ext), "-out", str(pair.cert),
    )  # fmt: skip
    pair.key.chmod(0o600)
    csr.unlink()
    ext.unlink()
    return pair


def _san(host: str) -> str:
    try:
        return f"IP:{ipaddress.ip_address(host)}"
    except ValueError:
        return f"DNS:{host}"
