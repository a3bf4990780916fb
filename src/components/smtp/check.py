# Checks an SMTP relay from Synapse's container the way Synapse will use it: connects
# (TLS from the first byte, or STARTTLS), verifies the certificate unless told not to,
# and logs in. Settings arrive as JSON on stdin (the password is secret); prints one line
# of JSON: {"ok": true} or {"problem": "connect" | "tls" | "auth", "detail": "..."}.
import json
import smtplib
import socket
import ssl
import sys

settings = json.load(sys.stdin)
context = ssl.create_default_context()
if settings["skip_ssl_verify"]:
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
stage = "connect"
try:
    if settings["transport"] == "tls":
        stage = "tls"
        client = smtplib.SMTP_SSL(settings["host"], settings["port"], context=context, timeout=20)
    else:
        client = smtplib.SMTP(settings["host"], settings["port"], timeout=20)
        stage = "tls"
        client.starttls(context=context)
    stage = "auth"
    if settings.get("user") and settings.get("password") is not None:
        client.login(settings["user"], settings["password"])
    client.quit()
    print(json.dumps({"ok": True}))
except (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError) as error:
    detail = getattr(error, "smtp_error", b"") or str(error).encode()
    code = getattr(error, "smtp_code", "")
    text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    print(json.dumps({"problem": "auth", "detail": f"{code} {text}".strip()}))
except (ssl.SSLError, ssl.CertificateError) as error:
    print(json.dumps({"problem": "tls", "detail": str(error)}))
except (OSError, smtplib.SMTPException, socket.timeout) as error:
    print(json.dumps({"problem": stage, "detail": f"{type(error).__name__}: {error}"}))
