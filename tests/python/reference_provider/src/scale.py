"""Scale-out the way the upstream charm does it (``shared/specs/upstream-synapse-charm.md``
§3.5-3.7), for the hook benchmark's multi-unit events.

- The peer application bag records the main unit under ``main_unit_id``: a leader finds none
  recorded (or the recorded unit gone) and records itself, as upstream's reconcile does first.
- With more than one planned unit, every unit renders ``instance_map`` with the main
  (replication port 8035), the federation sender beside it (8034) and *every* worker
  ``worker<N>`` at its own pod address (8034), and ``stream_writers.events`` = the sorted
  worker names; the main adds ``send_federation`` and ``federation_sender_instances``. Every
  non-main unit runs ``synapse.app.generic_worker`` with ``/data/worker.yaml`` (its name and
  listeners), and the main runs the federation sender as a second service with its own
  ``worker.yaml``.
- Redis is read the way ``charms.redis_k8s.v0.redis`` (``RedisRequires.relation_data``) and
  upstream's ``RedisObserver`` do: the bag of the first remote unit of the ``redis`` relation,
  its ``hostname`` and ``port``; homeserver.yaml gets ``redis: {enabled, host, port}``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import ops
import yaml

logger = logging.getLogger(__name__)

PEER_RELATION = "synapse-peers"
MAIN_UNIT_KEY = "main_unit_id"
REDIS_ENDPOINT = "redis"
MAIN_REPLICATION_PORT = 8035
WORKER_REPLICATION_PORT = 8034
FEDERATION_SENDER = "federationsender1"
FEDERATION_SENDER_SERVICE = "synapse-federation-sender"
WORKER_CONFIG_PATH = "/data/worker.yaml"
WORKER_COMMAND = (
    "/start.py run -m synapse.app.generic_worker --config-path /data/homeserver.yaml "
    f"--config-path {WORKER_CONFIG_PATH}"
)


def unit_number(unit: str) -> int:
    return int(unit.rsplit("/", 1)[1])


def unit_address(app: str, unit: str) -> str:
    """The pod's name in the headless service, as upstream addresses units."""
    return f"{app}-{unit_number(unit)}.{app}-endpoints"


def worker_name(unit: str) -> str:
    return f"worker{unit_number(unit)}"


@dataclasses.dataclass(frozen=True)
class Topology:
    """This unit's part in the application."""

    main: str | None
    is_main: bool
    scaled: bool
    # homeserver.yaml keys for scale-out (instance_map, stream_writers, ...); empty alone.
    homeserver: dict[str, Any]
    # This unit's worker.yaml (a worker's, or the main's federation sender), None alone.
    worker_config: str | None
    # The Pebble services this unit runs Synapse processes in.
    services: tuple[str, ...]


def read_redis(model: ops.Model) -> dict[str, Any] | None:
    """The first remote unit's ``hostname`` and ``port`` (the redis lib's ``relation_data``)."""
    relation = model.get_relation(REDIS_ENDPOINT)
    if relation is None or not relation.units:
        return None
    data = relation.data[next(iter(relation.units))]
    try:
        return {"enabled": True, "host": str(data.get("hostname")), "port": int(data.get("port"))}
    except (TypeError, ValueError):
        logger.info("Redis databag is empty")
        return None


def topology(charm: ops.CharmBase) -> Topology:
    """Records the main unit (leader) and works out this unit's role."""
    relation = charm.model.get_relation(PEER_RELATION)
    unit = charm.unit.name
    units = {unit, *(peer.name for peer in relation.units)} if relation else {unit}
    main = relation.data[charm.app].get(MAIN_UNIT_KEY) if relation else None
    if relation is not None and charm.unit.is_leader() and main not in units:
        logger.info("%s becomes the main unit (recorded: %s)", unit, main)
        relation.data[charm.app][MAIN_UNIT_KEY] = unit
        main = unit
    if charm.app.planned_units() <= 1:
        return Topology(main, True, False, {}, None, ("synapse",))
    if main is None:
        return Topology(None, False, True, {}, None, ())
    is_main = main == unit
    app = charm.app.name
    main_address = unit_address(app, main)
    instance_map: dict[str, Any] = {
        "main": {"host": main_address, "port": MAIN_REPLICATION_PORT},
        FEDERATION_SENDER: {"host": main_address, "port": WORKER_REPLICATION_PORT},
    }
    for other in sorted(units - {main}, key=unit_number):
        instance_map[worker_name(other)] = {"host": unit_address(app, other), "port": WORKER_REPLICATION_PORT}
    homeserver: dict[str, Any] = {
        "instance_map": instance_map,
        "stream_writers": {"events": sorted(name for name in instance_map if name not in ("main", FEDERATION_SENDER))},
    }
    if is_main:
        homeserver["send_federation"] = True
        homeserver["federation_sender_instances"] = [FEDERATION_SENDER]
        return Topology(
            main, True, True, homeserver, worker_config(FEDERATION_SENDER, client=False),
            ("synapse", FEDERATION_SENDER_SERVICE),
        )
    return Topology(main, False, True, homeserver, worker_config(worker_name(unit), client=True), ("synapse",))


def worker_config(name: str, client: bool) -> str:
    """worker.yaml: the generic worker's name, listeners and logging."""
    listeners: list[dict[str, Any]] = [
        {"type": "http", "port": WORKER_REPLICATION_PORT, "resources": [{"names": ["replication"]}]},
    ]
    if client:
        listeners += [
            {"type": "http", "port": 8008, "x_forwarded": True, "bind_addresses": ["::"],
             "resources": [{"names": ["client", "federation"]}]},
            {"type": "metrics", "port": 9000, "bind_addresses": ["::"]},
        ]
    document = {
        "worker_app": "synapse.app.generic_worker",
        "worker_name": name,
        "worker_listeners": listeners,
        "worker_log_config": "/data/log.config",
    }
    return yaml.safe_dump(document, sort_keys=False)
