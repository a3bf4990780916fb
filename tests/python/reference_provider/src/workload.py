"""The Synapse container: the files the charm renders (homeserver.yaml, log config, signing
key, appservice registrations, worker.yaml when scaled), the Pebble layer, and applying them
through ops' Container.

The layer's service environment carries a digest of the layer and every file, so a plan with
the desired digest needs nothing pushed and nothing restarted, and a changed digest makes
``replan`` restart Synapse once (the same scheme as the Rust charm). A scaled application
follows upstream instead (``Synapse.configure`` with ``restart``): see ``src/charm.py``.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
import secrets
import string
from typing import Any

import ops
import yaml

import scale
from database import IN_USE_VARIABLE, Choice
from matrix_auth import Accepted
from models import SynapseConfig

logger = logging.getLogger(__name__)

CONTAINER = "synapse"
SERVICE = "synapse"
LAYER_LABEL = "synapse"
DATA_DIR = "/data"
CONFIG_PATH = "/data/homeserver.yaml"
CANDIDATE_PATH = "/data/homeserver.yaml.candidate"
LOG_CONFIG_PATH = "/data/log.config"
REGISTRATION_PATTERN = "appservice-registration-matrix-auth-*.yaml"
SYNAPSE_UID = SYNAPSE_GID = 991
HTTP_PORT = 8008
DIGEST_VARIABLE = "CHARM_CONFIG_DIGEST"
VALIDATE_TIMEOUT = 120.0


@dataclasses.dataclass(frozen=True)
class ServerSecrets:
    """The secrets every unit's Synapse shares, kept in one application secret."""

    server_name: str
    registration_shared_secret: str
    macaroon_secret_key: str
    form_secret: str
    signing_key: str

    LABEL = "synapse-secrets"

    @classmethod
    def generate(cls, server_name: str) -> ServerSecrets:
        alphabet = string.ascii_letters + string.digits

        def text() -> str:
            return "".join(secrets.choice(alphabet) for _ in range(64))

        key_id = "".join(secrets.choice(alphabet) for _ in range(4))
        seed = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        return cls(server_name, text(), text(), text(), f"ed25519 a_{key_id} {seed}")

    def to_content(self) -> dict[str, str]:
        return {field.name.replace("_", "-"): getattr(self, field.name) for field in dataclasses.fields(self)}

    @classmethod
    def from_content(cls, content: dict[str, str]) -> ServerSecrets:
        return cls(**{field.name: content[field.name.replace("_", "-")] for field in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class File:
    """A file the charm writes into the container, owned by the synapse user."""

    path: str
    content: str
    secret: bool = True

    @property
    def permissions(self) -> int:
        return 0o600 if self.secret else 0o644


def homeserver_yaml(
    config: SynapseConfig,
    server: ServerSecrets,
    database: dict[str, Any],
    app_service_config_files: list[str],
    extra: dict[str, Any],
) -> str:
    """``extra``: the scale-out keys and ``redis`` (see ``src/scale.py``)."""
    listener = {"tls": False, "bind_addresses": ["::"]}
    document = {
        "server_name": config.server_name,
        "public_baseurl": config.homeserver,
        "pid_file": f"{DATA_DIR}/homeserver.pid",
        "listeners": [
            {
                "port": HTTP_PORT,
                "type": "http",
                **listener,
                "x_forwarded": True,
                "resources": [{"names": ["client"], "compress": True}, {"names": ["federation"], "compress": False}],
            },
            {"port": 8035, "type": "http", **listener, "x_forwarded": False,
             "resources": [{"names": ["replication"], "compress": False}]},
            {"port": 9000, "type": "metrics", **listener, "x_forwarded": False},
        ],
        "database": database,
        "log_config": LOG_CONFIG_PATH,
        "media_store_path": f"{DATA_DIR}/media",
        "max_upload_size": "50M",
        "enable_registration": False,
        "registration_shared_secret": server.registration_shared_secret,
        "macaroon_secret_key": server.macaroon_secret_key,
        "form_secret": server.form_secret,
        "report_stats": config.report_stats,
        "signing_key_path": signing_key_path(config.server_name),
        "trusted_key_servers": [{"server_name": "matrix.org"}],
        "suppress_key_server_warning": True,
        "enable_metrics": True,
        "serve_server_wellknown": True,
        "forgotten_room_retention_period": "28d",
        "media_retention": {"local_media_lifetime": "28d", "remote_media_lifetime": "14d"},
        "delete_stale_devices_after": "1y",
        "rc_joins": {
            "remote": {
                "per_second": config.rc_joins_remote_per_second,
                "burst_count": config.rc_joins_remote_burst_count,
            }
        },
        "allow_public_rooms_over_federation": config.allow_public_rooms_over_federation,
        "block_non_admin_invites": config.block_non_admin_invites,
        "enable_room_list_search": config.enable_room_list_search,
        "password_config": {"enabled": config.enable_password_config},
    }
    if app_service_config_files:
        document["app_service_config_files"] = app_service_config_files
    document.update(extra)
    return yaml.safe_dump(document, sort_keys=False)


def log_config() -> str:
    document = {
        "version": 1,
        "formatters": {
            "precise": {"format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s"}
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "precise"}},
        "loggers": {"synapse.storage.SQL": {"level": "INFO"}},
        "root": {"level": "INFO", "handlers": ["console"]},
        "disable_existing_loggers": False,
    }
    return yaml.safe_dump(document, sort_keys=False)


def signing_key_path(server_name: str) -> str:
    return f"{DATA_DIR}/{server_name}.signing.key"


@dataclasses.dataclass(frozen=True)
class Desired:
    """Everything Synapse should run with."""

    support_files: list[File]
    config: File
    layer: ops.pebble.LayerDict
    digest: str


def desired(
    config: SynapseConfig,
    server: ServerSecrets,
    registrations: list[Accepted],
    database: Choice,
    topology: scale.Topology,
    redis: dict[str, Any] | None,
) -> Desired:
    """``database`` must have a section (not one that keeps the running configuration)."""
    assert database.section is not None
    support_files = [
        File(signing_key_path(config.server_name), server.signing_key + "\n"),
        File(LOG_CONFIG_PATH, log_config(), secret=False),
        *(File(path, content, secret=False) for path, content in database.files),
        *(File(registration.path, registration.text) for registration in registrations),
    ]
    if topology.worker_config is not None:
        support_files.append(File(scale.WORKER_CONFIG_PATH, topology.worker_config, secret=False))
    extra = dict(topology.homeserver)
    if redis is not None:
        extra["redis"] = redis
    config_file = File(
        CONFIG_PATH, homeserver_yaml(config, server, database.section, [r.path for r in registrations], extra)
    )
    environment = {
        "SYNAPSE_CONFIG_DIR": DATA_DIR,
        "SYNAPSE_CONFIG_PATH": CONFIG_PATH,
        "SYNAPSE_DATA_DIR": DATA_DIR,
        "SYNAPSE_REPORT_STATS": "yes" if config.report_stats else "no",
        "SYNAPSE_SERVER_NAME": config.server_name,
        "SYNAPSE_NO_TLS": "True",
        IN_USE_VARIABLE: database.in_use,
    }
    services: dict[str, Any] = {
        SERVICE: {
            "override": "replace",
            "summary": "Synapse Matrix homeserver",
            "command": "/start.py" if topology.is_main else scale.WORKER_COMMAND,
            "startup": "enabled",
            "environment": environment,
        }
    }
    if scale.FEDERATION_SENDER_SERVICE in topology.services:
        services[scale.FEDERATION_SENDER_SERVICE] = {
            "override": "replace",
            "summary": "Synapse federation sender",
            "command": scale.WORKER_COMMAND,
            "startup": "enabled",
            "environment": environment,
        }
    layer: ops.pebble.LayerDict = {
        "summary": "Synapse",
        "description": "Synapse, configured by the Python reference charm",
        "services": services,
        "checks": {
            "synapse-alive": {
                "override": "replace", "level": "alive", "period": "2m", "threshold": 5, "timeout": "20s",
                "tcp": {"port": HTTP_PORT},
            },
            "synapse-ready": {
                "override": "replace", "level": "ready", "period": "2m", "threshold": 5, "timeout": "20s",
                "http": {"url": f"http://localhost:{HTTP_PORT}/health"},
            },
        },
    }
    digest = hashlib.sha256(json.dumps(layer, sort_keys=True).encode())
    for file in [*support_files, config_file]:
        digest.update(f"\0{file.path}\0{file.permissions:o}\0".encode())
        digest.update(file.content.encode())
    environment[DIGEST_VARIABLE] = digest.hexdigest()
    return Desired(support_files, config_file, layer, digest.hexdigest())


class Synapse:
    """Synapse's container, through ops."""

    def __init__(self, container: ops.Container):
        self.container = container

    def applied_environment(self) -> dict[str, str]:
        """The service environment of the plan: the applied digest and the database in use."""
        service = self.container.get_plan().services.get(SERVICE)
        return dict(service.environment) if service else {}

    def is_running(self) -> bool:
        try:
            return self.container.get_service(SERVICE).is_running()
        except ops.ModelError:
            return False

    def configure(self, want: Desired, restart: tuple[str, ...] = ()) -> bool:
        """Writes the files, checks the candidate configuration with Synapse's own loader,
        then applies the layer (which restarts Synapse). False if Synapse rejects it.

        With ``restart`` (a scaled application), as upstream's ``restart_synapse``: adds the
        layer and restarts those services whether or not anything changed."""
        self._own_data_dir()
        for file in want.support_files:
            self._push(file.path, file)
        self._push(CANDIDATE_PATH, want.config)
        try:
            self.container.exec(
                ["python3", "-m", "synapse.config", "-c", CANDIDATE_PATH],
                working_dir=DATA_DIR,
                user_id=SYNAPSE_UID,
                group_id=SYNAPSE_GID,
                timeout=VALIDATE_TIMEOUT,
            ).wait_output()
        except ops.pebble.ExecError as error:
            self.container.remove_path(CANDIDATE_PATH)
            logger.error("Synapse rejected the new configuration (exit code %s)", error.exit_code)
            return False
        self._push(CONFIG_PATH, want.config)
        self.container.remove_path(CANDIDATE_PATH)
        self._remove_stale_registrations({file.path for file in want.support_files})
        self.container.add_layer(LAYER_LABEL, want.layer, combine=True)
        if restart:
            self.container.restart(*restart)
        else:
            self.container.replan()
        logger.info("Synapse configuration updated (digest %s)", want.digest)
        return True

    def _own_data_dir(self) -> None:
        info = self.container.list_files(DATA_DIR, itself=True)[0]
        if (info.user_id, info.group_id) != (SYNAPSE_UID, SYNAPSE_GID):
            self.container.exec(["chown", f"{SYNAPSE_UID}:{SYNAPSE_GID}", DATA_DIR]).wait()

    def _push(self, path: str, file: File) -> None:
        self.container.push(
            path,
            file.content,
            make_dirs=True,
            permissions=file.permissions,
            user_id=SYNAPSE_UID,
            group_id=SYNAPSE_GID,
        )

    def _remove_stale_registrations(self, wanted: set[str]) -> None:
        for info in self.container.list_files(DATA_DIR, pattern=REGISTRATION_PATTERN):
            if info.path not in wanted:
                self.container.remove_path(info.path)
