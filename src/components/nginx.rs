//! nginx, the pod's entry point on port 8080: `/health` answers 204; the paths a generic
//! worker serves go to this unit's own Synapse process, everything else to the main unit's
//! (at its pod DNS name); on the main unit everything goes to its own process. Requests reach
//! Synapse with `X-Forwarded-For`, so Synapse records the client's address.
//!
//! The configuration is a file nginx re-reads on `SIGHUP`: a change is checked with
//! `nginx -t` through Pebble first and then reloads nginx, restarting no process (see
//! [`crate::component::Reload`]).

use std::collections::BTreeMap;

use pebble::{Check, CheckLevel, HttpCheck, Override, Service, Startup};

use crate::component::{ComponentPlan, Facts, Reload};
use crate::components::scale::{unit_address, Role};
use crate::layer::ServicePlan;
use crate::workload::{ContainerFile, HTTP_PORT};
use ingress_client::IngressUrl;

pub const NAME: &str = "nginx";
/// The Pebble service and its readiness check (upstream's names).
pub const SERVICE: &str = "synapse-nginx";
pub const READY_CHECK: &str = "synapse-nginx-ready";
/// The pod's entry point.
pub const PORT: u16 = 8080;
/// nginx's configuration, written by the charm whole.
pub const CONFIG_PATH: &str = "/etc/nginx/synapse-k8s.conf";
const NGINX: &str = "/usr/sbin/nginx";

/// The paths `synapse.app.generic_worker` serves (Synapse's worker documentation), sent to
/// this unit's own process on a worker unit.
const WORKER_PATHS: &[&str] = &[
    // Sync.
    r"^/_matrix/client/(r0|v3)/sync$",
    r"^/_matrix/client/(api/v1|r0|v3)/events$",
    r"^/_matrix/client/(api/v1|r0|v3)/initialSync$",
    r"^/_matrix/client/(api/v1|r0|v3)/rooms/[^/]+/initialSync$",
    // Federation.
    r"^/_matrix/federation/v1/event/",
    r"^/_matrix/federation/v1/state/",
    r"^/_matrix/federation/v1/state_ids/",
    r"^/_matrix/federation/v1/backfill/",
    r"^/_matrix/federation/v1/get_missing_events/",
    r"^/_matrix/federation/v1/publicRooms",
    r"^/_matrix/federation/v1/query/",
    r"^/_matrix/federation/v1/make_join/",
    r"^/_matrix/federation/v1/make_leave/",
    r"^/_matrix/federation/(v1|v2)/send_join/",
    r"^/_matrix/federation/(v1|v2)/send_leave/",
    r"^/_matrix/federation/(v1|v2)/invite/",
    r"^/_matrix/federation/v1/event_auth/",
    r"^/_matrix/federation/v1/timestamp_to_event/",
    r"^/_matrix/federation/v1/exchange_third_party_invite/",
    r"^/_matrix/federation/v1/user/devices/",
    r"^/_matrix/key/v2/query",
    r"^/_matrix/federation/v1/hierarchy/",
    r"^/_matrix/federation/v1/send/",
    // Client API.
    r"^/_matrix/client/(api/v1|r0|v3|unstable)/createRoom$",
    r"^/_matrix/client/(api/v1|r0|v3|unstable)/publicRooms$",
    r"^/_matrix/client/(api/v1|r0|v3|unstable)/rooms/.*/joined_members$",
    r"^/_matrix/client/(api/v1|r0|v3|unstable)/rooms/.*/context/.*$",
    r"^/_matrix/client/(api/v1|r0|v3|unstable)/rooms/.*/members$",
    r"^/_matrix/client/(api/v1|r0|v3|unstable)/rooms/.*/state$",
    r"^/_matrix/client/v1/rooms/.*/hierarchy$",
    r"^/_matrix/client/(v1|unstable)/rooms/.*/relations/",
    r"^/_matrix/client/v1/rooms/.*/threads$",
    r"^/_matrix/client/(api/v1|r0|v3|unstable)/login$",
    r"^/_matrix/client/(r0|v3|unstable)/account/3pid$",
    r"^/_matrix/client/(r0|v3|unstable)/account/whoami$",
    r"^/_matrix/client/versions$",
    r"^/_matrix/client/(api/v1|r0|v3|unstable)/voip/turnServer$",
    r"^/_matrix/client/(r0|v3|unstable)/register$",
    r"^/_matrix/client/(r0|v3|unstable)/register/available$",
    r"^/_matrix/client/(r0|v3|unstable)/auth/.*/fallback/web$",
    r"^/_matrix/client/(api/v1|r0|v3|unstable)/rooms/.*/messages$",
    r"^/_matrix/client/(api/v1|r0|v3|unstable)/rooms/.*/event",
    r"^/_matrix/client/(api/v1|r0|v3|unstable)/joined_rooms",
    r"^/_matrix/client/(api/v1|r0|v3|unstable/.*)/rooms/.*/aliases",
    r"^/_matrix/client/(api/v1|r0|v3|unstable)/search",
    r"^/_matrix/client/(r0|v3|unstable)/user/.*/filter(/|$)",
    r"^/_matrix/client/(api/v1|r0|v3|unstable)/directory/room/.*$",
    r"^/_matrix/client/(r0|v3|unstable)/capabilities$",
    r"^/_matrix/client/(r0|v3|unstable)/notifications$",
    r"^/_matrix/client/(api/v1|r0|v3|unstable)/profile/",
    // Event sending (every worker is an events stream writer).
    r"^/_matrix/client/(api/v1|r0|v3|unstable)/rooms/.*/redact",
    r"^/_matrix/client/(api/v1|r0|v3|unstable)/rooms/.*/send",
    r"^/_matrix/client/(api/v1|r0|v3|unstable)/rooms/.*/state/",
    r"^/_matrix/client/(api/v1|r0|v3|unstable)/rooms/.*/(join|invite|leave|ban|unban|kick)$",
    r"^/_matrix/client/(api/v1|r0|v3|unstable)/join/",
    r"^/_matrix/client/(api/v1|r0|v3|unstable)/knock/",
];

/// What the hook found: nginx's configuration as it is in the container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NginxState {
    /// `None` when there is none (or Pebble is unreachable).
    pub config: Option<Vec<u8>>,
}

/// One Pebble request (when Pebble answered the workload's load).
pub fn load(pebble: &pebble::Client, reachable: bool) -> pebble::Result<NginxState> {
    if !reachable {
        return Ok(NginxState::default());
    }
    match pebble.pull(CONFIG_PATH) {
        Ok(config) => Ok(NginxState { config: Some(config) }),
        Err(error) if error.is_not_found() => Ok(NginxState::default()),
        Err(error) => Err(error),
    }
}

/// nginx for this unit's `role`, with `main` the main unit; nothing while no main is known.
pub fn plan(state: &NginxState, facts: &Facts, role: &Role, main: Option<&str>) -> ComponentPlan {
    let mut plan = ComponentPlan::default();
    let Some(main) = main else { return plan };
    if facts.deployment.departing {
        return plan;
    }
    let main_upstream = if matches!(role, Role::Main { .. }) {
        format!("127.0.0.1:{HTTP_PORT}")
    } else {
        format!("{}:{HTTP_PORT}", unit_address(facts.app, main))
    };
    let local = matches!(role, Role::Worker { .. }).then(|| format!("127.0.0.1:{HTTP_PORT}"));
    let Some((public_baseurl, config)) = facts.public_baseurl.zip(facts.config) else { return plan };
    let well_known = WellKnown::new(public_baseurl, config.well_known_server.as_deref());
    let config = render(&main_upstream, local.as_deref(), &well_known);
    plan.services.push(service());
    if state.config.as_deref() != Some(config.as_bytes()) {
        plan.reloads.push(Reload {
            service: SERVICE,
            file: ContainerFile::public(CONFIG_PATH, config),
            check: vec![NGINX.into(), "-t".into(), "-q".into(), "-c".into()],
            signal: "SIGHUP",
            first: state.config.is_none(),
        });
    }
    plan
}

fn service() -> ServicePlan {
    let service = Service {
        override_: Override::Replace,
        summary: Some("nginx, the pod's entry point to Synapse".into()),
        command: Some(format!("{NGINX} -c {CONFIG_PATH}")),
        startup: Some(Startup::Enabled),
        ..Service::default()
    };
    let ready = Check {
        override_: Override::Replace,
        level: Some(CheckLevel::Ready),
        period: Some("1m".into()),
        threshold: Some(3),
        timeout: Some("10s".into()),
        http: Some(HttpCheck { url: format!("http://localhost:{PORT}/health"), headers: BTreeMap::new() }),
        ..Check::default()
    };
    ServicePlan { name: SERVICE, service, checks: BTreeMap::from([(READY_CHECK.to_string(), ready)]) }
}

/// What `/.well-known/matrix/` answers: for other servers, where federation goes
/// (`m.server`); for clients, the base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WellKnown {
    pub server: String,
    pub client: String,
}

impl WellKnown {
    /// `server` when given, else the host of `public_baseurl` with its port (443 for https).
    pub fn new(public_baseurl: &str, server: Option<&str>) -> Self {
        let server = server.map(str::to_string).unwrap_or_else(|| match IngressUrl::parse(public_baseurl) {
            Ok(url) => format!("{}:{}", url.host(), url.port_or_default()),
            Err(_) => public_baseurl.to_string(),
        });
        Self { server, client: public_baseurl.to_string() }
    }

    /// The two JSON documents, as nginx single-quoted strings.
    fn documents(&self) -> (String, String) {
        let quote = |value: serde_json::Value| value.to_string().replace('\\', "\\\\").replace('\'', "\\'");
        (
            quote(serde_json::json!({"m.server": self.server})),
            quote(serde_json::json!({"m.homeserver": {"base_url": self.client}})),
        )
    }
}

/// The whole configuration: `main` gets what the worker paths do not, and `local` (a
/// worker's own process) gets the worker paths; `/.well-known/matrix/` is answered here.
fn render(main: &str, local: Option<&str>, well_known: &WellKnown) -> String {
    let (server, client) = well_known.documents();
    let proxy = |upstream: &str| {
        format!(
            "proxy_pass http://{upstream};\n            \
             proxy_set_header Host $host;\n            \
             proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n            \
             proxy_set_header X-Forwarded-Proto $scheme;"
        )
    };
    let mut locations = String::new();
    if let Some(local) = local {
        for path in WORKER_PATHS {
            locations.push_str(&format!(
                "        location ~ {path} {{\n            {}\n        }}\n",
                proxy(local)
            ));
        }
    }
    format!(
        "# Written by the synapse-k8s charm; changes are overwritten.\n\
         daemon off;\n\
         worker_processes 2;\n\
         pid /tmp/synapse-nginx.pid;\n\
         error_log stderr warn;\n\
         events {{\n    worker_connections 1024;\n}}\n\
         http {{\n    \
             access_log off;\n    \
             default_type application/octet-stream;\n    \
             server_tokens off;\n    \
             client_body_temp_path /tmp/synapse-nginx-client-body;\n    \
             proxy_temp_path /tmp/synapse-nginx-proxy;\n    \
             fastcgi_temp_path /tmp/synapse-nginx-fastcgi;\n    \
             uwsgi_temp_path /tmp/synapse-nginx-uwsgi;\n    \
             scgi_temp_path /tmp/synapse-nginx-scgi;\n    \
             client_max_body_size 50M;\n    \
             proxy_http_version 1.1;\n    \
             proxy_read_timeout 300s;\n    \
             proxy_send_timeout 300s;\n    \
             gzip on;\n    \
             gzip_types application/json;\n    \
             add_header X-Content-Type-Options nosniff always;\n    \
             add_header X-Frame-Options SAMEORIGIN always;\n    \
             server {{\n        \
                 listen {PORT};\n        \
                 listen [::]:{PORT};\n        \
                 location = /health {{\n            return 204;\n        }}\n        \
                 location = /.well-known/matrix/server {{\n            \
                     default_type application/json;\n            \
                     return 200 '{server}';\n        \
                 }}\n        \
                 location = /.well-known/matrix/client {{\n            \
                     default_type application/json;\n            \
                     add_header Access-Control-Allow-Origin * always;\n            \
                     add_header X-Content-Type-Options nosniff always;\n            \
                     return 200 '{client}';\n        \
                 }}\n\
         {locations}        \
                 location / {{\n            {}\n        }}\n    \
             }}\n\
         }}\n",
        proxy(main)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::tests::facts;
    use crate::deployment::Deployment;

    fn worker() -> Role {
        Role::Worker { name: "worker1".into(), config_path: "/data/worker-0.yaml".into() }
    }

    fn config_of(plan: &ComponentPlan) -> String {
        String::from_utf8(plan.reloads[0].file.content.clone()).unwrap()
    }

    #[test]
    fn a_worker_sends_worker_paths_to_itself_and_the_rest_to_the_main() {
        let deployment = Deployment::single();
        let plan = plan(
            &NginxState::default(),
            &facts(&deployment, "synapse/1", false),
            &worker(),
            Some("synapse/0"),
        );
        let config = config_of(&plan);
        assert!(config.contains(
            "location ~ ^/_matrix/client/(r0|v3)/sync$ {\n            proxy_pass http://127.0.0.1:8008;"
        ));
        assert!(
            config.contains("location / {\n            proxy_pass http://synapse-0.synapse-endpoints:8008;")
        );
        assert!(config.contains("X-Forwarded-For $proxy_add_x_forwarded_for"));
        assert!(config.contains("location = /health {\n            return 204;"));
        assert_eq!(plan.services[0].name, SERVICE);
        assert_eq!(plan.reloads[0].check, ["/usr/sbin/nginx", "-t", "-q", "-c"]);
    }

    #[test]
    fn the_main_serves_everything_itself_and_nothing_reloads_when_the_file_is_current() {
        let deployment = Deployment::single();
        let facts = facts(&deployment, "synapse/0", true);
        let main = Role::Main { federation_sender: None };
        let first = plan(&NginxState::default(), &facts, &main, Some("synapse/0"));
        let config = config_of(&first);
        assert!(!config.contains("location ~"), "no worker paths on the main");
        assert!(config.contains("location / {\n            proxy_pass http://127.0.0.1:8008;"));
        let current = NginxState { config: Some(config.into_bytes()) };
        let again = plan(&current, &facts, &main, Some("synapse/0"));
        assert!(again.reloads.is_empty());
        assert_eq!(again.services.len(), 1, "the service is still wanted");
        assert!(plan(&current, &facts, &main, None).services.is_empty(), "no main known: no nginx");
    }

    #[test]
    fn the_well_known_documents_follow_public_baseurl_or_the_option() {
        let well_known = WellKnown::new("https://matrix.example.com/", None);
        assert_eq!(well_known.server, "matrix.example.com:443");
        let (server, client) = well_known.documents();
        assert_eq!(server, r#"{"m.server":"matrix.example.com:443"}"#);
        assert_eq!(client, r#"{"m.homeserver":{"base_url":"https://matrix.example.com/"}}"#);
        assert_eq!(WellKnown::new("https://m.example.com:8448", None).server, "m.example.com:8448");
        assert_eq!(
            WellKnown::new("https://m.example.com", Some("fed.example.com:443")).server,
            "fed.example.com:443"
        );
        let quoted = WellKnown { server: "a'b\\c".into(), client: String::new() }.documents().0;
        assert_eq!(quoted, r#"{"m.server":"a\'b\\\\c"}"#, "nginx single-quoted string escapes");
        let deployment = Deployment::single();
        let config = config_of(&plan(
            &NginxState::default(),
            &facts(&deployment, "synapse/0", true),
            &Role::Main { federation_sender: None },
            Some("synapse/0"),
        ));
        assert!(config.contains("location = /.well-known/matrix/server {\n            default_type application/json;\n            return 200 '{\"m.server\":\"example.com:443\"}';"), "{config}");
        assert!(config.contains("add_header Access-Control-Allow-Origin * always;"));
    }

    #[test]
    fn an_idle_unit_sends_everything_to_the_main() {
        let deployment = Deployment::single();
        let plan = plan(
            &NginxState::default(),
            &facts(&deployment, "synapse/2", false),
            &Role::Idle,
            Some("synapse/0"),
        );
        let config = config_of(&plan);
        assert!(!config.contains("location ~"));
        assert!(config.contains("proxy_pass http://synapse-0.synapse-endpoints:8008;"));
    }
}
