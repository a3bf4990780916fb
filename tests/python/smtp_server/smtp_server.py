"""A real SMTP server for the tests (aiosmtpd), as a mail relay that smtp-integrator points at.

    smtp_server.py --host ADDRESS --dir DIR --user USER --password PASSWORD [--implicit-tls]

Makes a throw-away CA and a server certificate for ADDRESS in DIR (`ca.pem`, `server.pem`,
`server.key`), listens on a free port of ADDRESS with STARTTLS (required before AUTH and
MAIL) or, with `--implicit-tls`, TLS from the first byte, accepts AUTH PLAIN and LOGIN for
USER/PASSWORD only, and writes each message it accepts to DIR/messages/<n>.json (envelope
sender, recipients, the raw message). Prints `ready <port>` once it accepts connections and
runs until killed.
"""

import argparse
import datetime
import ipaddress
import json
import pathlib
import socket
import ssl
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_certificates(directory: pathlib.Path, address: str) -> None:
    """A CA, and a certificate for `address` (an IP SAN, and a DNS SAN when it is a name)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "synapse-k8s test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        san = x509.IPAddress(ipaddress.ip_address(address))
    except ValueError:
        san = x509.DNSName(address)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "server.pem").write_bytes(cert.public_bytes(pem))
    (directory / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


class Recorder:
    """Writes every accepted message to `messages/<n>.json`."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory / "messages"
        self.directory.mkdir(exist_ok=True)
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        with self.lock:
            self.count += 1
            number = self.count
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "auth_user": session.auth_data.login.decode() if session.auth_data else None,
            "tls": session.ssl is not None,
            "message": envelope.content.decode("utf-8", "replace"),
        }
        path = self.directory / f"{number}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record))
        temporary.rename(path)
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--dir", required=True, type=pathlib.Path)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--implicit-tls", action="store_true")
    args = parser.parse_args()
    make_certificates(args.dir, args.host)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.dir / "server.pem", args.dir / "server.key")

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == args.user
            and auth_data.password.decode() == args.password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    with socket.socket() as probe:
        probe.bind((args.host, 0))
        port = probe.getsockname()[1]
    options = {
        "hostname": args.host,
        "port": port,
        "authenticator": authenticate,
        "auth_require_tls": True,
        "auth_required": True,
        "server_hostname": "smtp.test",
    }
    if args.implicit_tls:
        options["ssl_context"] = context
    else:
        options["tls_context"] = context
        options["require_starttls"] = True
    controller = Controller(Recorder(args.dir), **options)
    controller.start()
    print(f"ready {port}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
