//! The databag keys of `nginx-route` (`charms.nginx_ingress_integrator.v0.nginx_route`,
//! LIBPATCH 7).
//!
//! Only the requirer's leader writes, in its application bag; the provider answers nothing.
//! Values are plain strings, as Python's `str()` makes them: integers as digits, booleans
//! `True`/`False` (except [`ENABLE_ACCESS_LOG`], sent lower-case).

/// The interface name in `metadata.yaml`.
pub const INTERFACE: &str = "nginx-route";
/// The endpoint name Synapse uses.
pub const ENDPOINT: &str = "nginx-route";

/// Required: the host name to serve. The integrator's own config overrides it.
pub const SERVICE_HOSTNAME: &str = "service-hostname";
/// Required: the Kubernetes Service to route to (Juju creates `<app>`).
pub const SERVICE_NAME: &str = "service-name";
/// Required: the Service port, digits.
pub const SERVICE_PORT: &str = "service-port";
/// The Service's namespace; the library always sends it (the model name by default).
pub const SERVICE_NAMESPACE: &str = "service-namespace";

/// Comma-separated further host names.
pub const ADDITIONAL_HOSTNAMES: &str = "additional-hostnames";
/// `HTTP`, `HTTPS`, `GRPC`, `GRPCS`, `AJP` or `FCGI` (LIBPATCH 6 on).
pub const BACKEND_PROTOCOL: &str = "backend-protocol";
/// `true`/`false`, lower-case (LIBPATCH 6 on).
pub const ENABLE_ACCESS_LOG: &str = "enable-access-log";
/// Requests per second per client, digits.
pub const LIMIT_RPS: &str = "limit-rps";
/// Comma-separated CIDRs exempt from the rate limit.
pub const LIMIT_WHITELIST: &str = "limit-whitelist";
/// The maximum request body in MB, digits.
pub const MAX_BODY_SIZE: &str = "max-body-size";
/// Enables the OWASP ModSecurity core rule set.
pub const OWASP_MODSECURITY_CRS: &str = "owasp-modsecurity-crs";
/// Custom ModSecurity rules.
pub const OWASP_MODSECURITY_CUSTOM_RULES: &str = "owasp-modsecurity-custom-rules";
/// Comma-separated paths to route.
pub const PATH_ROUTES: &str = "path-routes";
/// Comma-separated upstream errors to retry on.
pub const RETRY_ERRORS: &str = "retry-errors";
/// The rewrite target, when rewriting is enabled.
pub const REWRITE_TARGET: &str = "rewrite-target";
/// `True`/`False`; the provider compares it case-insensitively with `true`.
pub const REWRITE_ENABLED: &str = "rewrite-enabled";
/// The session cookie's max age in seconds, digits.
pub const SESSION_COOKIE_MAX_AGE: &str = "session-cookie-max-age";
/// The Kubernetes TLS secret to serve with.
pub const TLS_SECRET_NAME: &str = "tls-secret-name";
