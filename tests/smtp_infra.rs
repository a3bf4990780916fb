//! The SMTP test infrastructure itself (`support::smtp`): a real aiosmtpd server that
//! requires STARTTLS before AUTH, accepts AUTH PLAIN for its one user only, and keeps what
//! it accepts, checked with Python's own `smtplib` as a mail client.

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

use support::smtp::{Security, SmtpServer};
use test_support::PythonVenv;

const USER: &str = "synapse@example.com";
const PASSWORD: &str = "smtp-password-123";

/// Sends one message with `smtplib` (STARTTLS, or TLS from the start, verified against the
/// server's CA, then AUTH PLAIN): `Ok(())` or the client's error line.
fn send(server: &SmtpServer, password: &str, starttls: bool) -> Result<(), String> {
    let script = r#"
import smtplib, ssl, sys
host, port, ca, user, password, mode = sys.argv[1:7]
context = ssl.create_default_context(cafile=ca)
try:
    if mode == "tls":
        client = smtplib.SMTP_SSL(host, int(port), context=context, timeout=20)
    else:
        client = smtplib.SMTP(host, int(port), timeout=20)
        if mode == "starttls":
            client.starttls(context=context)
    client.login(user, password)
    client.sendmail("noreply@example.com", ["alice@example.org"], "From: noreply@example.com\r\nTo: alice@example.org\r\nSubject: hello\r\n\r\nbody\r\n")
    client.quit()
except Exception as error:
    print(f"{type(error).__name__}: {error}")
    sys.exit(1)
"#;
    let mode = if starttls { "starttls" } else { "plain" };
    let output = Command::new(PythonVenv::find("synapse").python())
        .args(["-c", script, &server.address().to_string(), &server.port().to_string()])
        .arg(server.ca_path())
        .args([USER, password, mode])
        .output()
        .expect("python runs");
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }
}

#[test]
fn the_server_takes_mail_over_starttls_from_its_user_only() {
    let server = SmtpServer::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), USER, PASSWORD, Security::StartTls);
    send(&server, PASSWORD, true).unwrap_or_else(|error| panic!("{error}\n{}", server.log()));
    let mails = server.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].mail_from, "noreply@example.com");
    assert_eq!(mails[0].rcpt_tos, ["alice@example.org"]);
    assert_eq!(mails[0].auth_user.as_deref(), Some(USER));
    assert!(mails[0].tls);
    assert_eq!(mails[0].header("Subject").as_deref(), Some("hello"));

    let refused = send(&server, "wrong", true).unwrap_err();
    assert!(refused.starts_with("SMTPAuthenticationError: (535"), "{refused}");
    let without_tls = send(&server, PASSWORD, false).unwrap_err();
    assert!(without_tls.contains("AUTH extension not supported"), "no AUTH before STARTTLS: {without_tls}");
    assert_eq!(server.mails().len(), 1, "nothing else was accepted");
}
