//! Failures real Synapse does not produce on demand: nothing listening, a server that never
//! answers, a misbehaving server that echoes requests (secrets included) into its errors, and
//! answers that are not JSON or not HTTP. The stand-in servers are plain loopback sockets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use secrecy::ExposeSecret;
use synapse_admin::{generate_password, AdminClient, Error, SecretString, UserId};

/// Serves one connection per entry of `answers`, each given the request's text (head and
/// body) and returning the whole raw response.
fn serve(answers: Vec<fn(&str) -> String>) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let server = thread::spawn(move || {
        for answer in answers {
            let (stream, _) = listener.accept().unwrap();
            let request = read_request(&stream);
            (&stream).write_all(answer(&request).as_bytes()).unwrap();
        }
    });
    (base_url, server)
}

fn read_request(stream: &TcpStream) -> String {
    let mut reader = BufReader::new(stream);
    let mut text = String::new();
    let mut content_length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap();
            }
        }
        text.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body).unwrap();
    text + &String::from_utf8(body).unwrap()
}

fn http_response(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A Synapse-style error whose message is the whole request, as a careless server might send.
fn echo_error(status: &str, request: &str) -> String {
    let body = serde_json::json!({"errcode": "M_UNKNOWN", "error": request}).to_string();
    http_response(status, &body)
}

fn user() -> UserId {
    UserId::new("alice", "example.com").unwrap()
}

#[test]
fn nothing_listening_is_synapse_unavailable() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = AdminClient::new(&format!("http://127.0.0.1:{port}")).unwrap();

    let error = client.server_version().unwrap_err();
    match &error {
        Error::SynapseUnavailable { url, .. } => {
            assert_eq!(url, &format!("http://127.0.0.1:{port}/_synapse/admin/v1/server_version"))
        }
        other => panic!("expected SynapseUnavailable, got {other:?}"),
    }
    assert!(error.to_string().starts_with("Synapse is not running"), "{error}");
}

#[test]
fn a_server_that_never_answers_is_synapse_unavailable() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    // The listener accepts (the kernel completes the handshake) but nobody ever answers.
    let client =
        AdminClient::with_timeouts(&base_url, Duration::from_secs(5), Duration::from_millis(500)).unwrap();

    let error = client.whoami(&SecretString::from("token")).unwrap_err();
    assert!(matches!(error, Error::SynapseUnavailable { .. }), "{error:?}");
    drop(listener);
}

#[test]
fn secrets_echoed_by_the_server_are_redacted_from_errors() {
    let (base_url, server) = serve(vec![|_| http_response("200 OK", r#"{"nonce":"n0nce"}"#), |request| {
        echo_error("400 Bad Request", request)
    }]);
    let client = AdminClient::new(&base_url).unwrap();
    let shared_secret = SecretString::from("the-shared-secret");
    let password = generate_password();

    let error = client.register(&shared_secret, &user(), &password, false).unwrap_err();
    server.join().unwrap();
    let Error::Api { status: 400, error: ref echoed, .. } = error else {
        panic!("expected Api, got {error:?}")
    };
    // The echo did arrive, with every secret replaced.
    assert!(echoed.contains(r#""username":"alice""#), "{echoed}");
    assert!(echoed.contains(r#""password":"[REDACTED]""#), "{echoed}");
    assert!(echoed.contains(r#""mac":"[REDACTED]""#), "{echoed}");
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains(password.expose_secret()), "{text}");
        assert!(!text.contains(shared_secret.expose_secret()), "{text}");
    }
}

#[test]
fn tokens_echoed_by_the_server_are_redacted_from_errors() {
    let (base_url, server) = serve(vec![|request| echo_error("403 Forbidden", request)]);
    let client = AdminClient::new(&base_url).unwrap();
    let token = SecretString::from("syt_secret_token_value");

    let error = client.set_admin(&token, &user(), true).unwrap_err();
    server.join().unwrap();
    let Error::Forbidden { error: ref echoed, .. } = error else {
        panic!("expected Forbidden, got {error:?}")
    };
    assert!(echoed.contains("Bearer [REDACTED]"), "{echoed}");
    assert!(!format!("{error} {error:?}").contains(token.expose_secret()));
}

#[test]
fn tokens_a_header_cannot_carry_are_refused_before_sending() {
    // Nothing listens: the client must fail before connecting.
    let client = AdminClient::new("http://127.0.0.1:9").unwrap();
    for token in ["", "line\nbreak", "with space"] {
        let error = client.whoami(&SecretString::from(token)).unwrap_err();
        assert!(matches!(error, Error::Unauthorized { .. }), "{token:?}: {error:?}");
    }
}

#[test]
fn answers_that_are_not_json_or_not_http_are_protocol_errors() {
    let (base_url, server) = serve(vec![|_| http_response("200 OK", "<html>not json</html>"), |_| {
        "SSH-2.0-OpenSSH_9.2\r\n".to_owned()
    }]);
    let client = AdminClient::new(&base_url).unwrap();

    let not_json = client.server_version().unwrap_err();
    assert!(
        matches!(&not_json, Error::Protocol { request, .. } if request == "GET /_synapse/admin/v1/server_version"),
        "{not_json:?}"
    );
    let not_http = client.server_version().unwrap_err();
    assert!(matches!(not_http, Error::Protocol { .. }), "{not_http:?}");
    server.join().unwrap();
}
