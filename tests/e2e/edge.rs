//! Synapse's edge on real parts: the pod's real nginx with the ingress URL (from a passive
//! traefik-k8s) as public_baseurl, the well-known documents, real client addresses through
//! `X-Forwarded-For`; and mail through a real SMTP server (aiosmtpd with STARTTLS and AUTH
//! PLAIN, `support::smtp`, on the host's address on the test's pod network) that a passive
//! smtp-integrator publishes, with its password in a Juju secret.
//!
//! Every test's name starts with `edge_`, so `tests/e2e/run edge` runs them all.

use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{json, Value};
use synapse_admin::{generate_password, AdminClient, UserId};
use test_support::{assert_hooks_succeeded, poll_until};

use crate::http;
use crate::model::{load_with_pyyaml, loopback_config, E2e, Services};
use crate::support::edge_providers::{SmtpIntegrator, SmtpRelay, Traefik};
use crate::support::smtp::{Security, SmtpServer};
use crate::support::{APP, SERVER_NAME};

const UNIT: &str = "synapse/0";
const NGINX_PORT: u16 = 8080;
const URL: &str = "https://chat.example.net/matrix";

/// Deploys Synapse on one unit and waits until it answers; the checks go through its pod's
/// nginx.
fn deploy(e2e: &mut E2e, config: &[(&str, Value)]) {
    let mut options = loopback_config();
    options.extend(config.iter().map(|(key, value)| (*key, value.clone())));
    e2e.deploy(&[Services::Real], &options);
    e2e.wait_for_synapse(UNIT);
    http::set_entry_point(e2e.pod_address(UNIT), NGINX_PORT);
}

fn shared_secret(e2e: &E2e) -> SecretString {
    let config = load_with_pyyaml(&e2e.container_path(UNIT, "/data/homeserver.yaml"));
    SecretString::from(config["registration_shared_secret"].as_str().expect("a string").to_string())
}

/// Registers `localpart` through nginx: its token.
fn register(e2e: &E2e, localpart: &str, admin: bool) -> String {
    let client = AdminClient::new(&http::synapse_url()).expect("a client");
    let user = UserId::new(localpart, SERVER_NAME).expect("a user id");
    let registered =
        client.register(&shared_secret(e2e), &user, &generate_password(), admin).expect("registration");
    registered.access_token.expose_secret().to_string()
}

fn get(path: &str, token: Option<&str>) -> http::Response {
    http::synapse("GET", path, token, None).unwrap_or_else(|error| panic!("GET {path}: {error}"))
}

#[test]
fn edge_ingress_url_well_known_and_real_client_addresses() {
    let mut e2e = E2e::new();
    deploy(&mut e2e, &[]);
    let traefik = Traefik::deploy(&mut e2e.harness.sim);
    let (relation, runs) = traefik.integrate(&mut e2e.harness.sim, APP);
    assert_hooks_succeeded(&runs);
    assert_hooks_succeeded(&traefik.answer(&mut e2e.harness.sim, relation, Some(URL)));
    e2e.wait_for_synapse(UNIT);
    http::set_entry_point(e2e.pod_address(UNIT), NGINX_PORT);
    let homeserver = load_with_pyyaml(&e2e.container_path(UNIT, "/data/homeserver.yaml"));
    assert_eq!(homeserver["public_baseurl"], URL);

    // nginx answers the well-known documents and the health check. It re-reads its
    // configuration on the charm's SIGHUP, a moment after the signal.
    assert_eq!(get("/health", None).status, 204);
    let reloaded = std::time::Instant::now();
    let client = loop {
        let client = get("/.well-known/matrix/client", None);
        if client.status != 200 || client.json() == json!({"m.homeserver": {"base_url": URL}}) {
            break client;
        }
        assert!(reloaded.elapsed() < std::time::Duration::from_secs(5), "nginx still says {}", client.text());
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(client.status, 200);
    assert_eq!(client.json(), json!({"m.homeserver": {"base_url": URL}}));
    assert_eq!(get("/.well-known/matrix/server", None).json(), json!({"m.server": "chat.example.net:443"}));
    // Synapse itself, behind nginx, says the same to clients.
    let versions = get("/_matrix/client/versions", None);
    assert_eq!(versions.status, 200, "{}", versions.text());

    // A request through nginx is recorded with the client's address, not nginx's.
    let token = register(&e2e, "root", true);
    let whoami = get("/_matrix/client/v3/account/whoami", Some(&token));
    assert_eq!(whoami.status, 200, "{}", whoami.text());
    let (client_address, _) = e2e.host_on_network();
    let path = format!("/_synapse/admin/v1/whois/{}", "%40root%3Aexample.com");
    let recorded = poll_until(Duration::from_secs(30), Duration::from_millis(500), || {
        let whois = get(&path, Some(&token)).json();
        let ips: Vec<String> = whois["devices"]
            .as_object()
            .into_iter()
            .flat_map(|devices| devices.values())
            .flat_map(|device| device["sessions"].as_array().cloned().unwrap_or_default())
            .flat_map(|session| session["connections"].as_array().cloned().unwrap_or_default())
            .filter_map(|connection| connection["ip"].as_str().map(str::to_string))
            .collect();
        (!ips.is_empty()).then_some(ips)
    });
    let ips = recorded.expect("Synapse recorded the client's connection");
    assert!(ips.contains(&client_address.to_string()), "recorded {ips:?}, not the client {client_address}");
    assert!(!ips.iter().any(|ip| ip == "127.0.0.1" || ip == "::1"), "nginx's address recorded: {ips:?}");
}

const SMTP_USER: &str = "synapse@example.org";
const SMTP_PASSWORD: &str = "relay-password-42";

fn relay(server: &SmtpServer, password: &str, transport: &'static str) -> SmtpRelay {
    SmtpRelay {
        host: server.address().to_string(),
        port: server.port(),
        user: SMTP_USER.into(),
        password: password.into(),
        transport_security: transport,
        skip_ssl_verify: false,
    }
}

/// Asks for a password-reset e-mail for `email`: Synapse's answer.
fn request_reset(email: &str, attempt: u32) -> http::Response {
    let body = json!({"client_secret": "edge-secret-1", "email": email, "send_attempt": attempt});
    http::synapse("POST", "/_matrix/client/v3/account/password/email/requestToken", None, Some(&body))
        .expect("Synapse answers")
}

#[test]
fn edge_smtp_password_reset_mail_arrives_and_a_wrong_password_is_named() {
    let mut e2e = E2e::new();
    let (host, _) = e2e.host_on_network();
    let server = SmtpServer::start_on(host.into(), SMTP_USER, SMTP_PASSWORD, Security::StartTls);
    // The container trusts the relay's CA, as an image trusts a public CA (Pebble passes
    // its environment on to what it runs).
    std::env::set_var("SSL_CERT_FILE", server.ca_path());
    deploy(&mut e2e, &[("notif_from", json!("Matrix <noreply@example.com>"))]);
    let mut smtp = SmtpIntegrator::deploy(&mut e2e.harness.sim);
    let (relation, runs) = smtp.integrate(&mut e2e.harness.sim, APP);
    assert_hooks_succeeded(&runs);
    assert_hooks_succeeded(&smtp.publish(
        &mut e2e.harness.sim,
        relation,
        APP,
        &relay(&server, SMTP_PASSWORD, "starttls"),
    ));
    e2e.wait_for_synapse(UNIT);
    http::set_entry_point(e2e.pod_address(UNIT), NGINX_PORT);
    assert_eq!(e2e.harness.status(UNIT), ("active".into(), String::new()), "{}", e2e.charm_problems(UNIT));

    // A user with an e-mail address asks for a password reset through the client API.
    let admin = register(&e2e, "root", true);
    register(&e2e, "alice", false);
    let threepids = json!({"threepids": [{"medium": "email", "address": "alice@example.org"}]});
    let bound = http::synapse(
        "PUT",
        "/_synapse/admin/v2/users/%40alice%3Aexample.com",
        Some(&admin),
        Some(&threepids),
    )
    .expect("Synapse answers");
    assert_eq!(bound.status, 200, "{}", bound.text());
    let answer = request_reset("alice@example.org", 1);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let mails = server.wait_for_mails(1, Duration::from_secs(60));
    assert_eq!(mails.len(), 1, "no mail arrived; the relay's log:\n{}", server.log());
    let mail = &mails[0];
    assert_eq!(mail.rcpt_tos, ["alice@example.org"]);
    assert_eq!(mail.mail_from, "noreply@example.com");
    assert_eq!(mail.header("From").as_deref(), Some("Matrix <noreply@example.com>"));
    assert_eq!(mail.header("To").as_deref(), Some("alice@example.org"));
    assert_eq!(mail.auth_user.as_deref(), Some(SMTP_USER));
    assert!(mail.tls, "sent over STARTTLS");

    // A wrong password: the charm names it, and Synapse's answer shows it.
    assert_hooks_succeeded(&smtp.publish(
        &mut e2e.harness.sim,
        relation,
        APP,
        &relay(&server, "not-the-password", "starttls"),
    ));
    e2e.wait_for_synapse(UNIT);
    http::set_entry_point(e2e.pod_address(UNIT), NGINX_PORT);
    let (kind, message) = e2e.harness.status(UNIT);
    assert_eq!(kind, "blocked", "{message}");
    assert!(
        message.starts_with(&format!("SMTP: {}:{} refuses the credentials: 535", host, server.port())),
        "{message}"
    );
    assert!(e2e.charm_problems(UNIT).contains("535"), "{}", e2e.charm_problems(UNIT));
    let refused = request_reset("alice@example.org", 2);
    assert_eq!(refused.status, 500, "{}", refused.text());
    assert_eq!(server.mails().len(), 1, "nothing else was sent");

    // Transport security none: Blocked in upstream's words.
    assert_hooks_succeeded(&smtp.publish(
        &mut e2e.harness.sim,
        relation,
        APP,
        &relay(&server, SMTP_PASSWORD, "none"),
    ));
    assert_eq!(
        e2e.harness.status(UNIT),
        ("blocked".into(), "Transport security NONE is not supported for SMTP".into())
    );
}
