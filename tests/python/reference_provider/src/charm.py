#!/usr/bin/env python3
"""Python reference of the Synapse charm's matrix_auth provider and ``database`` requirer,
for the hook benchmark.

Built the way the upstream Synapse charm is: ops framework events all lead to one reconcile
that validates the configuration with pydantic, reads the server secrets, every
requirer's registration (decrypted with ``cryptography``'s Fernet) and the PostgreSQL
credentials (inspecting a database before Synapse first uses it), configures Synapse
through Pebble (``Container.push``, ``exec`` of Synapse's config check, ``add_layer`` and
``replan``) and, on the leader, publishes the matrix_auth data. It keeps the upstream
structure but not its known defects: it restarts Synapse only when a file or the layer
changed (including a registration's content), and it skips bad registrations instead of
failing the hook. Scaled out (more than one planned unit, ``src/scale.py``), it does what
upstream does: every unit lists every worker, and every hook upstream reconciles in
restarts Synapse's processes (upstream's reconcile always finds homeserver.yaml changed).
"""

from __future__ import annotations

import logging
import os
import pathlib

import ops
import pydantic

import database
import matrix_auth
import scale
from models import SynapseConfig, invalid_fields
from workload import CONTAINER, DIGEST_VARIABLE, HTTP_PORT, ServerSecrets, Synapse, desired

logger = logging.getLogger(__name__)

# The hooks upstream reconciles in (spec §3.6: config-changed, pebble-ready, leader-elected,
# peer relation-changed and -departed, the database, redis and matrix-auth relation events);
# scaled out, each restarts Synapse's processes there.
_UPSTREAM_RECONCILES = (
    ops.ConfigChangedEvent,
    ops.PebbleReadyEvent,
    ops.LeaderElectedEvent,
    ops.RelationChangedEvent,
    ops.RelationDepartedEvent,
)


def _upstream_reconciles(event: ops.EventBase) -> bool:
    """Also the redis lib's `redis_relation_updated` on relation-joined and -broken."""
    if isinstance(event, (ops.RelationJoinedEvent, ops.RelationBrokenEvent)):
        return event.relation.name == scale.REDIS_ENDPOINT
    return isinstance(event, _UPSTREAM_RECONCILES)


class SynapseReferenceCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        relation = self.on[matrix_auth.ENDPOINT]
        db = self.on[database.ENDPOINT]
        peers = self.on[scale.PEER_RELATION]
        redis = self.on[scale.REDIS_ENDPOINT]
        # Registered first, so the request is written before the reconcile of the same event.
        framework.observe(db.relation_created, self._request_database)
        for event in (
            self.on.install,
            self.on.start,
            self.on.config_changed,
            self.on.upgrade_charm,
            self.on.update_status,
            self.on.leader_elected,
            self.on.leader_settings_changed,
            self.on[CONTAINER].pebble_ready,
            relation.relation_created,
            relation.relation_joined,
            relation.relation_changed,
            relation.relation_departed,
            relation.relation_broken,
            db.relation_created,
            db.relation_joined,
            db.relation_changed,
            db.relation_departed,
            db.relation_broken,
            peers.relation_changed,
            peers.relation_departed,
            # The redis lib's `redis_relation_updated`.
            redis.relation_joined,
            redis.relation_changed,
            redis.relation_broken,
            self.on.secret_changed,
        ):
            framework.observe(event, self._reconcile)

    def _request_database(self, event: ops.RelationCreatedEvent) -> None:
        """The leader asks postgresql-k8s for the database when the relation is created."""
        if self.unit.is_leader():
            database.request(self.model, event.relation)

    def _reconcile(self, event: ops.EventBase) -> None:
        status = self._converge(event)
        self.unit.status = status
        if self.unit.is_leader():
            self.app.status = status

    def _converge(self, event: ops.EventBase) -> ops.StatusBase:
        if isinstance(event, (ops.InstallEvent, ops.StartEvent, ops.UpgradeCharmEvent)):
            self.unit.set_ports(HTTP_PORT)
        try:
            config = SynapseConfig.model_validate(dict(self.config))
        except pydantic.ValidationError as error:
            return ops.BlockedStatus(f"invalid configuration: {', '.join(invalid_fields(error))}")
        server = self._server_secrets(config)
        if server is None:
            return ops.WaitingStatus("Waiting for leader to generate secrets")
        if server.server_name != config.server_name:
            logger.error("server_name cannot change from %r to %r", server.server_name, config.server_name)
            return ops.BlockedStatus("The server_name modification is not allowed, please check the logs")
        relations = matrix_auth.live_relations(self.model, event)
        registrations = matrix_auth.read_registrations(self.model, relations)
        for problem in registrations.rejected:
            logger.warning("matrix-auth: %s", problem)
        related = database.read(self.model, event)
        topology = scale.topology(self)
        if topology.scaled and topology.main is None:
            return ops.WaitingStatus("Waiting for the leader to record the main unit")
        redis = scale.read_redis(self.model)
        if topology.scaled and redis is None:
            return ops.BlockedStatus("Redis integration is required.")
        restart = topology.services if topology.scaled and _upstream_reconciles(event) else ()
        status = self._configure_synapse(config, server, registrations.accepted, related, topology, redis, restart)
        if self.unit.is_leader():
            matrix_auth.publish(self.model, relations, config.homeserver, server.registration_shared_secret)
        if registrations.rejected and isinstance(status, ops.ActiveStatus):
            return ops.BlockedStatus(f"matrix-auth: {'; '.join(registrations.rejected)}")
        if registrations.pending and isinstance(status, ops.ActiveStatus):
            return ops.ActiveStatus(f"matrix-auth: {'; '.join(registrations.pending)}")
        return status

    def _server_secrets(self, config: SynapseConfig) -> ServerSecrets | None:
        """The shared server secrets; the leader creates them on first use."""
        try:
            return ServerSecrets.from_content(self.model.get_secret(label=ServerSecrets.LABEL).get_content())
        except ops.SecretNotFoundError:
            if not self.unit.is_leader():
                return None
        server = ServerSecrets.generate(config.server_name)
        self.app.add_secret(server.to_content(), label=ServerSecrets.LABEL)
        return server

    def _configure_synapse(
        self,
        config: SynapseConfig,
        server: ServerSecrets,
        registrations: list[matrix_auth.Accepted],
        related: database.Related | None,
        topology: scale.Topology,
        redis: dict | None,
        restart: tuple[str, ...],
    ) -> ops.StatusBase:
        container = self.unit.get_container(CONTAINER)
        if not container.can_connect():
            return ops.WaitingStatus("Waiting for Synapse pebble")
        synapse = Synapse(container)
        applied = synapse.applied_environment()
        chosen = database.choose(container, related, applied.get(database.IN_USE_VARIABLE))
        if chosen.section is None:
            # Keep Synapse's running configuration (its PostgreSQL database is not usable).
            return chosen.status or ops.WaitingStatus("database: waiting")
        want = desired(config, server, registrations, chosen, topology, redis)
        if restart or applied.get(DIGEST_VARIABLE) != want.digest:
            self.unit.status = ops.MaintenanceStatus("Configuring Synapse")
            if not synapse.configure(want, restart):
                return ops.BlockedStatus("Validate config failed, please check the logs")
        elif not synapse.is_running():
            container.replan()
        return chosen.status or ops.ActiveStatus()


def use_containers_dir() -> None:
    """Finds container sockets under ``$CHARM_CONTAINERS_DIR`` when it is set, as the Rust
    charm does (Juju's own location, which ops hardcodes, is ``/charm/containers``)."""
    directory = os.environ.get("CHARM_CONTAINERS_DIR")
    if not directory:
        return

    def get_pebble(_backend: object, socket_path: str) -> ops.pebble.Client:
        container = pathlib.PurePath(socket_path).parent.name
        return ops.pebble.Client(socket_path=os.path.join(directory, container, "pebble.socket"))

    ops.model._ModelBackend.get_pebble = get_pebble  # the one seam ops offers for the socket


if __name__ == "__main__":
    use_containers_dir()
    ops.main(SynapseReferenceCharm)
