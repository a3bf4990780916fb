"""The ``database`` relation with postgresql-k8s (interface ``postgresql_client``, the
data_interfaces v0 wire format), written on plain ops from the integration spec.

- The leader asks for the database in ``relation-created``: ``requested-secrets`` (a JSON
  list, so the provider puts the credentials in Juju secrets), ``database`` (the application
  name) and ``extra-user-roles`` (``SUPERUSER``), all in one ``relation-set``.
- Every unit reads the provider's application bag (``endpoints``, ``database``, ``version``,
  ``secret-user`` and, when published, ``secret-tls``) and the secrets' content by URI with
  refresh, so a rotated password is seen at once.
- Before Synapse first uses a database (its address differs from the one the Pebble layer
  records in ``CHARM_DATABASE``), the database is inspected from Synapse's container with
  Synapse's own driver: ``python3 -c <script>`` through Pebble exec, the connection settings
  as JSON on stdin. The script is the Rust charm's (``src/components/database/inspect.py``),
  which the benchmark copies next to this charm as ``inspect-database.py``: one source.
- homeserver.yaml's ``database`` is then ``psycopg2`` with the connection arguments; without
  the relation (or before the provider answered) Synapse stays on SQLite. Once on
  PostgreSQL, a missing or unusable database keeps the running configuration.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import pathlib
import re
from typing import Any

import ops

logger = logging.getLogger(__name__)

ENDPOINT = "database"
# The service environment variable recording the database Synapse runs with: ``sqlite`` or
# ``postgresql://<user>@<host>:<port>/<database>`` (no password), as the Rust charm does.
IN_USE_VARIABLE = "CHARM_DATABASE"
SQLITE_IN_USE = "sqlite"
EXTRA_USER_ROLES = "SUPERUSER"
# What the current data_interfaces requirer asks the provider to keep in secrets.
REQUESTED_SECRETS = [
    "username", "password", "tls", "tls-ca", "uris", "read-only-uris", "entity-name", "entity-password"
]
SQLITE_PATH = "/data/homeserver.db"
CA_PATH = "/data/postgresql-ca.pem"
INSPECT_SCRIPT = pathlib.Path(__file__).resolve().parent.parent / "inspect-database.py"
INSPECT_TIMEOUT = 60.0
SYNAPSE_UID = SYNAPSE_GID = 991
_HOST = re.compile(r"^[A-Za-z0-9._-]+$")


def request(model: ops.Model, relation: ops.Relation) -> None:
    """The leader's request, in ``relation-created``: the three keys in one relation-set."""
    relation.data[model.app].update(
        {
            "requested-secrets": json.dumps(REQUESTED_SECRETS),
            "database": model.app.name,
            "extra-user-roles": EXTRA_USER_ROLES,
        }
    )


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What Synapse connects with."""

    host: str
    port: int
    database: str
    user: str
    password: str = dataclasses.field(repr=False)
    tls: bool
    ca: str | None = dataclasses.field(repr=False)

    @property
    def endpoint(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def address(self) -> str:
        """Which database, without the password (the layer's ``CHARM_DATABASE``)."""
        return f"postgresql://{self.user}@{self.endpoint}/{self.database}"

    @property
    def sslmode(self) -> str:
        if self.tls:
            return "verify-ca" if self.ca else "require"
        return "prefer"

    def settings(self, fix_locale: bool = False) -> dict[str, Any]:
        """The inspection's input, password included (sent on stdin only)."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "database": self.database,
            "sslmode": self.sslmode,
            "ca": self.ca,
            "fix_locale": fix_locale,
        }

    def homeserver_section(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "user": self.user,
            "password": self.password,
            "database": self.database,
            "host": self.host,
            "port": self.port,
            "cp_min": 5,
            "cp_max": 10,
            "keepalives_idle": 10,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "sslmode": self.sslmode,
        }
        if self.tls and self.ca:
            args["sslrootcert"] = CA_PATH
        return {"name": "psycopg2", "args": args}


@dataclasses.dataclass(frozen=True)
class Related:
    """The live relation: the credentials, or why there are none yet."""

    credentials: Credentials | None
    reason: str = ""


def parse_endpoint(text: str) -> tuple[str, int]:
    """The first ``host:port`` of a comma-separated list (IPv6 hosts in brackets)."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise ValueError("no endpoint")
    item = items[0]
    if item.startswith("["):
        host, _, port = item[1:].partition("]")
        ipaddress.IPv6Address(host)
        if not port.startswith(":"):
            raise ValueError(f"{item!r} has no port")
        port = port[1:]
    else:
        host, _, port = item.rpartition(":")
        if not _HOST.match(host):
            raise ValueError(f"{item!r} has no valid host and port")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{item!r} has an invalid port")
    return host, int(port)


def _secret_content(model: ops.Model, uri: str) -> dict[str, str] | str:
    """A provider secret's latest content, or why it cannot be read."""
    try:
        return model.get_secret(id=uri).get_content(refresh=True)
    except ops.SecretNotFoundError:
        return f"secret {uri} not found"
    except ops.ModelError as error:
        return f"secret {uri} cannot be read ({error})"


def read(model: ops.Model, event: ops.EventBase) -> Related | None:
    """The ``database`` relation (minus one being broken), None without one."""
    broken = event.relation.id if isinstance(event, ops.RelationBrokenEvent) else None
    relations = [relation for relation in model.relations[ENDPOINT] if relation.id != broken]
    if not relations:
        return None
    relation = relations[0]
    if relation.app is None:
        return Related(None, "the provider application is not known yet")
    bag = relation.data[relation.app]
    if not bag.get("endpoints", "").strip():
        return Related(None, "no endpoints published yet")
    try:
        host, port = parse_endpoint(bag["endpoints"])
    except ValueError as error:
        return Related(None, f"malformed endpoints: {error}")
    user_uri = bag.get("secret-user")
    if user_uri:
        user = _secret_content(model, user_uri)
        if isinstance(user, str):
            return Related(None, user)
    elif bag.get("username") or bag.get("password"):
        user = dict(bag)  # a relation older than secrets: the credentials are in the bag
    else:
        return Related(None, "no credentials published yet")
    database = bag.get("database")
    if not database:
        return Related(None, "no database published yet")
    tls_uri = bag.get("secret-tls")
    if tls_uri:
        tls = _secret_content(model, tls_uri)
        if isinstance(tls, str):
            return Related(None, tls)
    else:
        tls = dict(bag)
    if not user.get("username") or not user.get("password"):
        return Related(None, "no username or password")
    flag = tls.get("tls", "").strip().lower()
    if flag not in ("", "true", "false"):
        return Related(None, f"tls is {flag!r}, not True or False")
    return Related(
        Credentials(
            host=host,
            port=port,
            database=database,
            user=user["username"],
            password=user["password"],
            tls=flag == "true",
            ca=tls.get("tls-ca") or None,
        )
    )


def inspect(container: ops.Container, credentials: Credentials, fix_locale: bool = False) -> dict[str, Any]:
    """Runs the inspection script in Synapse's container; its one-line JSON report, or a
    ``problem`` of its own when it cannot run."""
    process = container.exec(
        ["python3", "-c", INSPECT_SCRIPT.read_text()],
        stdin=json.dumps(credentials.settings(fix_locale)),
        user_id=SYNAPSE_UID,
        group_id=SYNAPSE_GID,
        timeout=INSPECT_TIMEOUT,
    )
    try:
        stdout, _ = process.wait_output()
    except ops.pebble.ExecError as error:
        stderr = error.stderr if isinstance(error.stderr, str) else ""
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        return {"problem": "inspection", "detail": lines[-1] if lines else f"exit code {error.exit_code}"}
    except (ops.pebble.ChangeError, ops.pebble.APIError) as error:
        return {"problem": "inspection", "detail": str(error)}
    try:
        report = json.loads(stdout)
    except ValueError:
        return {"problem": "inspection", "detail": "no report"}
    return report if isinstance(report, dict) else {"problem": "inspection", "detail": "no report"}


@dataclasses.dataclass(frozen=True)
class Choice:
    """What Synapse runs with: the ``database`` section and the address recorded in the
    layer, or ``section`` None to keep the running configuration; ``status`` names a problem."""

    section: dict[str, Any] | None
    in_use: str
    status: ops.StatusBase | None = None
    files: tuple[tuple[str, str], ...] = ()


SQLITE = Choice({"name": "sqlite3", "args": {"database": SQLITE_PATH}}, SQLITE_IN_USE)


def choose(container: ops.Container, related: Related | None, in_use: str | None) -> Choice:
    """The database for Synapse, given the one it runs with (``in_use``, from the plan)."""
    on_postgresql = in_use is not None and in_use != SQLITE_IN_USE
    if related is None:
        if on_postgresql:
            logger.error("the database relation is gone, but Synapse's data is in PostgreSQL")
            status = ops.BlockedStatus("database: the data is in PostgreSQL but the relation is gone")
            return Choice(None, in_use, status)
        return SQLITE

    def keep(status: ops.StatusBase) -> Choice:
        if on_postgresql:
            return Choice(None, in_use, status)
        return dataclasses.replace(SQLITE, status=status)

    credentials = related.credentials
    if credentials is None:
        logger.info("database: not ready: %s", related.reason)
        return keep(ops.WaitingStatus(f"database: {related.reason}"))
    use = Choice(
        credentials.homeserver_section(),
        credentials.address,
        files=((CA_PATH, credentials.ca),) if credentials.tls and credentials.ca else (),
    )
    if credentials.address == in_use:
        return use
    report = inspect(container, credentials)
    if "problem" in report:
        logger.error(
            "database: %s cannot be used (%s): %s", credentials.address, report["problem"], report.get("detail")
        )
        return keep(ops.BlockedStatus(f"database: cannot use {credentials.endpoint}: {report.get('detail')}"))
    if not report.get("can_create"):
        return keep(ops.BlockedStatus(f"database: {credentials.user} may not create tables in schema public"))
    if (report.get("collate"), report.get("ctype")) != ("C", "C"):
        if report.get("tables") or not report.get("superuser"):
            return keep(ops.BlockedStatus(f"database: {credentials.database} does not have the C collation"))
        fixed = inspect(container, credentials, fix_locale=True)
        if not fixed.get("fixed"):
            return keep(ops.BlockedStatus(f"database: cannot give {credentials.database} the C collation"))
    logger.info("database: Synapse will use %s", credentials.address)
    return use
