//! Real PostgreSQL 15 (Debian's `postgresql-15`, which `scripts/test` installs) for tests:
//! [`PostgresServer::start`] makes a throw-away cluster in a temporary directory and serves it
//! on a free port of 127.0.0.1 with password (SCRAM) authentication;
//! [`PostgresServer::create_database_like_postgresql_k8s`] makes the user and the database
//! that postgresql-k8s makes for a `database` relation; [`PostgresServer::query`] reads data
//! back as the superuser (through `psql`, so no client crate is needed).
//!
//! The server refuses to run as root. When the tests run as root (as in CI), `initdb`,
//! `postgres` and `pg_ctl` run as the `postgres` system user of the Debian package, through
//! `setpriv`, and the cluster directory belongs to that user; otherwise they run as the
//! current user. Every server has its own directory and port, so parallel tests may each
//! start their own. Dropping the server stops it (`pg_ctl stop -m fast`) and removes the
//! directory.

use std::fs;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use rand::distr::{Alphanumeric, SampleString};

/// Where Debian's `postgresql-15` puts the server programs (and its own `psql`).
pub const BIN_DIR: &str = "/usr/lib/postgresql/15/bin";
/// The cluster's superuser role.
pub const SUPERUSER: &str = "postgres";
/// The system user that runs the server when the tests run as root (Debian's package makes it).
const SERVICE_USER: &str = "postgres";
/// The address every server listens on.
pub const HOST: &str = "127.0.0.1";
/// How many free ports [`PostgresServer::start`] tries before giving up (another process may
/// take a port between our probe and the server's bind).
const START_ATTEMPTS: usize = 8;
/// How long `pg_ctl` waits for the server to start or stop.
const PG_CTL_TIMEOUT_SECS: &str = "60";
/// Length of the generated passwords (postgresql-k8s's `new_password` makes 16 letters and
/// digits).
const PASSWORD_LENGTH: usize = 16;

/// `LC_COLLATE` and `LC_CTYPE` of a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    /// `C`: what Synapse requires.
    C,
    /// A UTF-8 locale that is not `C`, as a database made with a cluster's default locale
    /// has: `en_US.UTF-8` when the machine has it (`scripts/test` generates it), else
    /// `C.UTF-8`, which every glibc has. Either one makes Synapse refuse the database unless
    /// `allow_unsafe_locale` is set.
    EnUtf8,
}

impl Locale {
    /// The locale name as PostgreSQL stores it in `pg_database.datcollate` / `datctype`.
    pub fn name(self) -> &'static str {
        match self {
            Locale::C => "C",
            Locale::EnUtf8 => utf8_locale(),
        }
    }
}

/// `en_US.UTF-8` if `locale -a` lists it, else `C.UTF-8` (said once on stderr).
fn utf8_locale() -> &'static str {
    static LOCALE: OnceLock<&'static str> = OnceLock::new();
    LOCALE.get_or_init(|| {
        let listed =
            Command::new("locale").arg("-a").output().map(|output| output.stdout).unwrap_or_default();
        let listed = String::from_utf8_lossy(&listed);
        if listed.lines().any(|line| matches!(line.trim(), "en_US.utf8" | "en_US.UTF-8")) {
            "en_US.UTF-8"
        } else {
            eprintln!(
                "postgres: locale en_US.UTF-8 is not generated (scripts/test makes it); \
                 Locale::EnUtf8 uses C.UTF-8"
            );
            "C.UTF-8"
        }
    })
}

/// A database user as postgresql-k8s hands it to a related application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseUser {
    /// `relation_id_<relation id>`.
    pub username: String,
    pub password: String,
    pub database: String,
    pub host: String,
    pub port: u16,
}

impl DatabaseUser {
    /// `host:port`, as in the `endpoints` relation key.
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `postgresql://<user>:<password>@<host>:<port>/<database>`, as in the `uris` secret field.
    pub fn uri(&self) -> String {
        format!("postgresql://{}:{}@{}/{}", self.username, self.password, self.endpoint(), self.database)
    }

    /// Runs `sql` (one statement) as this user with psycopg2 in `python` (the Synapse venv's
    /// interpreter), the password passed in the environment: the rows as text (`NULL` as
    /// `None`), or psycopg2's error.
    pub fn query_with_psycopg2(&self, python: &Path, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
        const SCRIPT: &str = r#"
import json, os, sys
import psycopg2
connection = psycopg2.connect(
    host=os.environ["TEST_DB_HOST"], port=int(os.environ["TEST_DB_PORT"]),
    user=os.environ["TEST_DB_USER"], password=os.environ["TEST_DB_PASSWORD"],
    dbname=os.environ["TEST_DB_NAME"], connect_timeout=10,
)
try:
    with connection.cursor() as cursor:
        cursor.execute(sys.stdin.read())
        rows = cursor.fetchall() if cursor.description else []
    connection.commit()
finally:
    connection.close()
print(json.dumps([[None if value is None else str(value) for value in row] for row in rows]))
"#;
        let output = run_with_stdin(
            Command::new(python)
                .args(["-c", SCRIPT])
                .env("TEST_DB_HOST", &self.host)
                .env("TEST_DB_PORT", self.port.to_string())
                .env("TEST_DB_USER", &self.username)
                .env("TEST_DB_PASSWORD", &self.password)
                .env("TEST_DB_NAME", &self.database),
            sql,
        );
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        Ok(serde_json::from_str(stdout.trim())
            .unwrap_or_else(|error| panic!("psycopg2 printed {stdout:?}: {error}")))
    }
}

/// A running PostgreSQL 15 cluster of its own, stopped and deleted on drop.
pub struct PostgresServer {
    /// Holds `data/` (the cluster), `socket/` and `server.log`.
    dir: tempfile::TempDir,
    port: u16,
    /// The host the users it creates are given (127.0.0.1 unless started for pods).
    advertised: String,
    password: String,
    /// The uid and gid the server runs as when the tests run as root.
    run_as: Option<(u32, u32)>,
}

impl PostgresServer {
    /// A fresh cluster on a free port of 127.0.0.1, accepting connections.
    pub fn start() -> Self {
        Self::start_listening_on(&[])
    }

    /// [`PostgresServer::start`] also listening on `extra` addresses (which must be local), with
    /// password authentication from them too.
    pub fn start_listening_on(extra: &[IpAddr]) -> Self {
        Self::start_with(extra, &[], HOST)
    }

    /// [`PostgresServer::start`] for clients in simulated pods: it also listens on `address`
    /// (the host's address on the pods' network), accepts passwords from the `clients`
    /// subnet (such as `198.18.3.0/24`) too, and gives `address` as the host of the users
    /// it creates, so that their endpoints and URIs work from the pods.
    pub fn start_for_pods(address: IpAddr, clients: &str) -> Self {
        Self::start_with(&[address], &[clients], &address.to_string())
    }

    fn start_with(extra: &[IpAddr], clients: &[&str], advertised: &str) -> Self {
        let bin = Path::new(BIN_DIR);
        assert!(
            bin.join("postgres").exists() && bin.join("initdb").exists(),
            "PostgreSQL 15 server programs are missing in {BIN_DIR}: \
             install postgresql-15 (scripts/test unit does)"
        );
        let run_as = service_user();
        let dir = tempfile::Builder::new().prefix("synapse-k8s-pg-").tempdir().expect("temporary directory");
        let mut server =
            Self { dir, port: 0, advertised: advertised.to_string(), password: new_password(), run_as };
        server.give_to_service_user(server.dir.path());
        fs::create_dir(server.socket_dir()).expect("socket directory");
        server.give_to_service_user(&server.socket_dir());
        server.init(extra, clients);
        server.start_on_free_port(extra);
        let what = format!("PostgreSQL on {} to accept the superuser's password", server.endpoint());
        test_support::eventually(&what, Duration::from_secs(30), Duration::from_millis(100), || {
            server.try_query("postgres", "SELECT 1").is_ok()
        });
        server
    }

    /// `initdb` with the superuser's password, UTF-8 and the `C` locale, then our settings.
    fn init(&self, extra: &[IpAddr], clients: &[&str]) {
        let password_file = self.dir.path().join("superuser-password");
        fs::write(&password_file, &self.password).expect("write the password file");
        self.give_to_service_user(&password_file);
        let output = self
            .as_service_user(Path::new(BIN_DIR).join("initdb"))
            .arg("--pgdata")
            .arg(self.data_dir())
            .args(["--username", SUPERUSER, "--auth-host=scram-sha-256", "--auth-local=scram-sha-256"])
            .args(["--encoding=UTF8", "--locale=C", "--no-sync"])
            .arg(format!("--pwfile={}", password_file.display()))
            .output()
            .expect("run initdb");
        let _ = fs::remove_file(&password_file);
        assert!(output.status.success(), "initdb failed:\n{}", text(&output));
        // Replaces initdb's pg_hba.conf: passwords from everywhere, nothing trusted.
        let mut hba = String::from(
            "# TYPE DATABASE USER ADDRESS METHOD\nlocal all all scram-sha-256\n\
             host all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n",
        );
        for address in extra {
            let bits = if address.is_ipv4() { 32 } else { 128 };
            hba.push_str(&format!("host all all {address}/{bits} scram-sha-256\n"));
        }
        for subnet in clients {
            hba.push_str(&format!("host all all {subnet} scram-sha-256\n"));
        }
        // Writing the files initdb made keeps their owner.
        fs::write(self.data_dir().join("pg_hba.conf"), hba).expect("write pg_hba.conf");
        let listen: Vec<String> =
            std::iter::once(HOST.to_string()).chain(extra.iter().map(IpAddr::to_string)).collect();
        let settings = format!(
            "\n# synapse-k8s tests\nlisten_addresses = '{}'\nunix_socket_directories = '{}'\n\
             password_encryption = 'scram-sha-256'\nmax_connections = 100\nshared_buffers = '32MB'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n",
            listen.join(","),
            self.socket_dir().display()
        );
        let mut conf = fs::OpenOptions::new()
            .append(true)
            .open(self.data_dir().join("postgresql.conf"))
            .expect("open postgresql.conf");
        conf.write_all(settings.as_bytes()).expect("write postgresql.conf");
    }

    /// `pg_ctl start` on a free port, with another port when the one probed was taken meanwhile.
    fn start_on_free_port(&mut self, extra: &[IpAddr]) {
        for _ in 0..START_ATTEMPTS {
            let port = free_port(extra);
            let output = self
                .pg_ctl()
                .arg("--log")
                .arg(self.log_path())
                .args(["--wait", "--timeout", PG_CTL_TIMEOUT_SECS, "-o"])
                .arg(format!("-p {port}"))
                .arg("start")
                .output()
                .expect("run pg_ctl start");
            if output.status.success() {
                self.port = port;
                return;
            }
            let log = self.log();
            if !log.contains("could not bind") && !log.contains("Address already in use") {
                panic!("pg_ctl start failed:\n{}\nserver log:\n{log}", text(&output));
            }
        }
        panic!("PostgreSQL found no free port in {START_ATTEMPTS} attempts:\n{}", self.log());
    }

    /// Turns TLS on, as postgresql-k8s does when it says `tls: True`: a new CA signs a
    /// server certificate for 127.0.0.1 (made with `openssl`), the server reloads; returns
    /// the CA certificate (PEM), what the provider publishes as `tls-ca`.
    pub fn enable_tls(&self) -> String {
        let dir = self.dir.path().join("tls");
        fs::create_dir_all(&dir).expect("TLS directory");
        let openssl = |args: &[&str]| {
            let output = Command::new("openssl").args(args).current_dir(&dir).output().expect("run openssl");
            assert!(output.status.success(), "openssl {args:?} failed:\n{}", text(&output));
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=synapse-k8s test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        fs::write(dir.join("san.ext"), "subjectAltName = IP:127.0.0.1\n").expect("write the SAN extension");
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ]);
        for (name, mode) in [("server.crt", 0o644), ("server.key", 0o600)] {
            let target = self.data_dir().join(name);
            fs::copy(dir.join(name), &target).expect("copy the server's certificate");
            fs::set_permissions(&target, fs::Permissions::from_mode(mode)).expect("certificate mode");
            self.give_to_service_user(&target);
        }
        let mut conf = fs::OpenOptions::new()
            .append(true)
            .open(self.data_dir().join("postgresql.conf"))
            .expect("open postgresql.conf");
        conf.write_all(b"ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
            .expect("write postgresql.conf");
        let output = self.pg_ctl().arg("reload").output().expect("run pg_ctl reload");
        assert!(output.status.success(), "pg_ctl reload failed:\n{}", text(&output));
        let what = "PostgreSQL to serve TLS";
        test_support::eventually(what, Duration::from_secs(30), Duration::from_millis(100), || {
            self.try_query("postgres", "SHOW ssl").is_ok_and(|rows| rows == vec![vec!["on".to_string()]])
        });
        fs::read_to_string(dir.join("ca.crt")).expect("read the CA certificate")
    }

    /// The address clients connect to (127.0.0.1).
    pub fn host(&self) -> &str {
        HOST
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port`.
    pub fn endpoint(&self) -> String {
        format!("{HOST}:{}", self.port)
    }

    /// The password of the superuser [`SUPERUSER`].
    pub fn superuser_password(&self) -> &str {
        &self.password
    }

    /// The cluster directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("socket")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The server version as postgresql-k8s publishes it (`version` key): `15.18`.
    pub fn version(&self) -> String {
        let rows = self.query("postgres", "SHOW server_version");
        let full = &rows[0][0];
        full.split_whitespace().next().unwrap_or(full).to_string()
    }

    /// Makes the role `relation_id_<relation_id>` (LOGIN, a fresh random password) and
    /// `database` with the given collation, as postgresql-k8s does when a related application
    /// asks for `database`: the database's privileges are revoked from PUBLIC and granted to
    /// the user. Unlike on PostgreSQL 14, where postgresql-k8s's users create tables in the
    /// `public` schema that everybody may write, on 15 only the database owner may, so the
    /// user owns the database. When `database` already exists (a relation removed and made
    /// again) it is kept, with its collation, and handed over to the new user with its tables,
    /// sequences, views and functions, as postgresql-k8s does for a database with one relation.
    pub fn create_database_like_postgresql_k8s(
        &self,
        relation_id: u32,
        database: &str,
        locale: Locale,
    ) -> DatabaseUser {
        self.create_database_like_postgresql_k8s_with_roles(relation_id, database, locale, "")
    }

    /// [`PostgresServer::create_database_like_postgresql_k8s`] for a request with
    /// `extra-user-roles` (comma-separated, such as `SUPERUSER` as Synapse's charm asks):
    /// postgresql-k8s 14 lower-cases them and gives them as role attributes.
    pub fn create_database_like_postgresql_k8s_with_roles(
        &self,
        relation_id: u32,
        database: &str,
        locale: Locale,
        extra_user_roles: &str,
    ) -> DatabaseUser {
        let user = DatabaseUser {
            username: format!("relation_id_{relation_id}"),
            password: new_password(),
            database: database.to_string(),
            host: self.advertised.clone(),
            port: self.port,
        };
        let (role, db) = (quote_ident(&user.username), quote_ident(database));
        let attributes: String = extra_user_roles
            .split(',')
            .map(str::trim)
            .filter(|attribute| !attribute.is_empty())
            .map(|attribute| {
                assert!(
                    attribute.chars().all(|c| c.is_ascii_alphabetic()),
                    "extra user role {attribute:?} is not a role attribute"
                );
                format!(" {}", attribute.to_ascii_lowercase())
            })
            .collect();
        self.query(
            "postgres",
            &format!(
                "CREATE ROLE {role} WITH LOGIN ENCRYPTED PASSWORD {}{attributes}",
                quote_literal(&user.password)
            ),
        );
        let exists = !self
            .query(
                "postgres",
                &format!("SELECT 1 FROM pg_database WHERE datname = {}", quote_literal(database)),
            )
            .is_empty();
        if exists {
            self.query("postgres", &format!("ALTER DATABASE {db} OWNER TO {role}"));
            self.query(database, &hand_over_objects(&user.username));
        } else {
            let collation = quote_literal(locale.name());
            self.query(
                "postgres",
                &format!(
                    "CREATE DATABASE {db} OWNER {role} TEMPLATE template0 ENCODING 'UTF8' \
                     LC_COLLATE {collation} LC_CTYPE {collation}"
                ),
            );
        }
        self.query("postgres", &format!("REVOKE ALL PRIVILEGES ON DATABASE {db} FROM PUBLIC"));
        self.query("postgres", &format!("GRANT ALL PRIVILEGES ON DATABASE {db} TO {role}"));
        user
    }

    /// `ALTER ROLE <username> PASSWORD <new_password>`: the old password stops working.
    pub fn set_password(&self, username: &str, new_password: &str) {
        self.query(
            "postgres",
            &format!(
                "ALTER ROLE {} WITH ENCRYPTED PASSWORD {}",
                quote_ident(username),
                quote_literal(new_password)
            ),
        );
    }

    /// What postgresql-k8s does on `relation-broken`: in every database, whatever `username`
    /// owns goes to the superuser and its privileges are dropped; then the role is dropped.
    /// Nothing happens if the role does not exist.
    pub fn drop_user_like_postgresql_k8s(&self, username: &str) {
        if !self.role_exists(username) {
            return;
        }
        let role = quote_ident(username);
        for row in self.query("postgres", "SELECT datname FROM pg_database WHERE NOT datistemplate") {
            self.query(&row[0], &format!("REASSIGN OWNED BY {role} TO {SUPERUSER}; DROP OWNED BY {role}"));
        }
        self.query("postgres", &format!("DROP ROLE {role}"));
    }

    pub fn role_exists(&self, username: &str) -> bool {
        !self
            .query("postgres", &format!("SELECT 1 FROM pg_roles WHERE rolname = {}", quote_literal(username)))
            .is_empty()
    }

    /// `(datcollate, datctype)` of `database`.
    pub fn locale_of(&self, database: &str) -> (String, String) {
        let rows = self.query(
            "postgres",
            &format!(
                "SELECT datcollate, datctype FROM pg_database WHERE datname = {}",
                quote_literal(database)
            ),
        );
        let row = rows.first().unwrap_or_else(|| panic!("no database {database:?}"));
        (row[0].clone(), row[1].clone())
    }

    /// Runs `sql` in `database` as the superuser through `psql` (statements separated by `;`
    /// run one after the other, each committed) and returns the rows of the last one, every
    /// value as text (`NULL` as ""). Panics with psql's error if a statement fails.
    pub fn query(&self, database: &str, sql: &str) -> Vec<Vec<String>> {
        self.try_query(database, sql)
            .unwrap_or_else(|error| panic!("psql in {database} failed: {error}\nSQL: {sql}"))
    }

    /// [`PostgresServer::query`] that returns psql's error instead of panicking.
    pub fn try_query(&self, database: &str, sql: &str) -> Result<Vec<Vec<String>>, String> {
        psql(HOST, self.port, SUPERUSER, &self.password, database, sql)
    }

    /// Why `username` with `password` cannot connect to `database` over TCP, or `None` if it can.
    pub fn login_error(&self, username: &str, password: &str, database: &str) -> Option<String> {
        psql(HOST, self.port, username, password, database, "SELECT 1").err()
    }

    /// `pg_ctl --pgdata <data>` as the server's user.
    fn pg_ctl(&self) -> Command {
        let mut command = self.as_service_user(Path::new(BIN_DIR).join("pg_ctl"));
        command.arg("--pgdata").arg(self.data_dir());
        command
    }

    /// `program`, run as the service user when we are root, in the server's directory.
    fn as_service_user(&self, program: PathBuf) -> Command {
        let mut command = match self.run_as {
            Some((uid, gid)) => {
                let mut command = Command::new("setpriv");
                command
                    .arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .args(["--clear-groups", "--"])
                    .arg(program);
                command
            }
            None => Command::new(program),
        };
        command.current_dir(self.dir.path()).env_remove("PGDATA").env("LC_ALL", "C");
        command
    }

    fn give_to_service_user(&self, path: &Path) {
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .unwrap_or_else(|error| panic!("chown {} to {SERVICE_USER}: {error}", path.display()));
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if self.data_dir().join("postmaster.pid").exists() {
            let stopped = self
                .pg_ctl()
                .args(["--mode", "fast", "--wait", "--timeout", PG_CTL_TIMEOUT_SECS, "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if !stopped.is_ok_and(|status| status.success()) {
                eprintln!("postgres: pg_ctl stop failed for {}", self.data_dir().display());
            }
        }
    }
}

/// The service user's uid and gid when we are root (the server refuses to run as root),
/// `None` otherwise.
fn service_user() -> Option<(u32, u32)> {
    let euid = fs::metadata("/proc/self").expect("/proc/self").uid();
    if euid != 0 {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let output = Command::new("id").args([flag, SERVICE_USER]).output().expect("run id");
        assert!(
            output.status.success(),
            "there is no {SERVICE_USER} user to run PostgreSQL as (the tests run as root): \
             install postgresql-15 (scripts/test unit does)"
        );
        String::from_utf8_lossy(&output.stdout).trim().parse().expect("a numeric id")
    };
    Some((id("-u"), id("-g")))
}

/// A port that is free on 127.0.0.1 and on `extra` right now.
fn free_port(extra: &[IpAddr]) -> u16 {
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
        let port = listener.local_addr().expect("local address").port();
        if extra.iter().all(|address| TcpListener::bind((*address, port)).is_ok()) {
            return port;
        }
    }
}

/// `psql` over TCP with `password` (from the environment, not argv), `sql` on stdin.
fn psql(
    host: &str,
    port: u16,
    user: &str,
    password: &str,
    database: &str,
    sql: &str,
) -> Result<Vec<Vec<String>>, String> {
    let output = run_with_stdin(
        Command::new(Path::new(BIN_DIR).join("psql"))
            .args(["--no-psqlrc", "--quiet", "--no-align", "--tuples-only", "--set", "ON_ERROR_STOP=1"])
            .args(["--field-separator", "\x1f", "--record-separator", "\x1e"])
            .args(["--host", host, "--port", &port.to_string(), "--username", user, "--dbname", database])
            .args(["--file", "-"])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "10")
            .env("PGSSLMODE", "disable")
            .env_remove("PGSERVICE")
            .env_remove("PGOPTIONS"),
        sql,
    );
    if !output.status.success() {
        return Err(text(&output));
    }
    let stdout = String::from_utf8(output.stdout).expect("psql prints UTF-8");
    let stdout = stdout.strip_suffix('\n').unwrap_or(&stdout);
    if stdout.is_empty() {
        return Ok(Vec::new());
    }
    Ok(stdout.split('\x1e').map(|row| row.split('\x1f').map(str::to_string).collect()).collect())
}

/// Runs `command` with `input` on its stdin and collects its output.
fn run_with_stdin(command: &mut Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let output = child.wait_with_output().expect("wait for the command");
    let _ = writer.join();
    output
}

/// The SQL of postgresql-k8s's hand-over of a database's objects to its only user.
fn hand_over_objects(username: &str) -> String {
    let role = quote_ident(username).replace('\'', "''");
    format!(
        "DO $$ DECLARE r RECORD; BEGIN FOR r IN (\
         SELECT 1 AS i, format('ALTER TABLE %I.%I OWNER TO {role}', schemaname, tablename) AS s \
         FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') \
         UNION ALL SELECT 2, format('ALTER SEQUENCE %I.%I OWNER TO {role}', sequence_schema, sequence_name) \
         FROM information_schema.sequences WHERE sequence_schema NOT IN ('pg_catalog', 'information_schema') \
         UNION ALL SELECT 3, format('ALTER FUNCTION %I.%I(%s) OWNER TO {role}', n.nspname, p.proname, \
         pg_get_function_identity_arguments(p.oid)) \
         FROM pg_proc p JOIN pg_namespace n ON p.pronamespace = n.oid \
         WHERE p.prokind = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
         UNION ALL SELECT 4, format('ALTER VIEW %I.%I OWNER TO {role}', schemaname, viewname) \
         FROM pg_views WHERE schemaname NOT IN ('pg_catalog', 'information_schema') \
         ORDER BY 1) LOOP EXECUTE r.s; END LOOP; END $$"
    )
}

/// A random password of letters and digits, as postgresql-k8s makes.
pub fn new_password() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), PASSWORD_LENGTH)
}

/// `name` as an SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `value` as an SQL string literal (standard_conforming_strings is on).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn text(output: &Output) -> String {
    format!(
        "{}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
