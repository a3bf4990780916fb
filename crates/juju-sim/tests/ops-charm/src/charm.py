#!/usr/bin/env python3
"""A charm that drives every hook tool through the real ops library (2.x and 3.x)."""

import hashlib
import logging

import ops

logger = logging.getLogger(__name__)

SECRET_LABEL = "db-password"


def fingerprint(text):
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class ConformanceCharm(ops.CharmBase):
    _stored = ops.StoredState()

    def __init__(self, framework):
        super().__init__(framework)
        self._stored.set_default(events=[])
        for event in (
            self.on.install,
            self.on.start,
            self.on.config_changed,
            self.on.update_status,
            self.on.leader_settings_changed,
        ):
            framework.observe(event, self._on_lifecycle)
        framework.observe(self.on.leader_elected, self._on_leader_elected)
        framework.observe(self.on.cluster_relation_changed, self._on_cluster_changed)
        framework.observe(self.on.api_relation_created, self._on_api_created)
        framework.observe(self.on.api_relation_changed, self._on_api_changed)
        framework.observe(self.on.db_relation_changed, self._on_db_changed)
        framework.observe(self.on.db_relation_broken, self._on_db_broken)
        framework.observe(self.on.secret_changed, self._on_secret_changed)
        framework.observe(self.on.secret_remove, self._on_secret_remove)
        framework.observe(self.on.greet_action, self._on_greet)
        framework.observe(self.on.fail_me_action, self._on_fail_me)
        framework.observe(self.on.rotate_password_action, self._on_rotate_password)
        framework.observe(self.on.inspect_action, self._on_inspect)

    def _remember(self, name):
        self._stored.events = list(self._stored.events) + [name]

    def _on_lifecycle(self, event):
        self._remember(type(event).__name__)
        greeting = self.config["greeting"]
        if not isinstance(self.config["replicas"], int) or not isinstance(self.config["verbose"], bool):
            raise RuntimeError("config types were not preserved")
        if isinstance(event, ops.StartEvent):
            self.unit.open_port("tcp", 8080)
            self.unit.set_workload_version("1.2.3")
        if self.model.get_relation("db") is None or self.unit.status.name != "blocked":
            self.unit.status = ops.ActiveStatus(f"ready: {greeting}")
        if self.unit.is_leader():
            self.app.status = ops.ActiveStatus(f"leader is {self.unit.name}")

    def _on_leader_elected(self, event):
        self._remember("leader_elected")
        peers = self.model.get_relation("cluster")
        peers.data[self.app]["leader"] = self.unit.name
        self.app.status = ops.ActiveStatus(f"leader is {self.unit.name}")

    def _on_cluster_changed(self, event):
        leader = event.relation.data[self.app].get("leader")
        if leader:
            event.relation.data[self.unit]["seen-leader"] = leader

    def _password_secret(self):
        return self.model.get_secret(label=SECRET_LABEL)

    def _on_api_created(self, event):
        if not self.unit.is_leader():
            return
        secret = self.app.add_secret({"password": "initial-pw"}, label=SECRET_LABEL)
        secret.grant(event.relation)
        event.relation.data[self.app]["secret-id"] = secret.id
        event.relation.data[self.app]["endpoint"] = f"http://{self.unit.name}"

    def _on_api_changed(self, event):
        ready = event.relation.data[event.app].get("client-ready")
        if ready:
            event.relation.data[self.unit]["client-ready-seen"] = ready

    def _on_db_changed(self, event):
        relation = event.relation
        binding = self.model.get_binding(relation)
        relation.data[self.unit]["bind-address"] = str(binding.network.bind_address)
        relation.data[self.unit]["remote-app"] = event.app.name
        if self.unit.is_leader():
            relation.data[self.app]["client-ready"] = "true"
        secret_id = relation.data[event.app].get("secret-id")
        if not secret_id:
            self.unit.status = ops.WaitingStatus("waiting for secret")
            return
        secret = self.model.get_secret(id=secret_id, label=SECRET_LABEL)
        password = secret.get_content()["password"]
        relation.data[self.unit]["password-fingerprint"] = fingerprint(password)
        self.unit.status = ops.ActiveStatus(f"ready: {self.config['greeting']}")

    def _on_db_broken(self, event):
        self.unit.status = ops.BlockedStatus("db relation removed")

    def _on_secret_changed(self, event):
        relation = self.model.get_relation("db")
        content = event.secret.get_content(refresh=True)
        if relation is not None:
            relation.data[self.unit]["password-fingerprint"] = fingerprint(content["password"])
            relation.data[self.unit]["secret-label"] = event.secret.label or ""

    def _on_secret_remove(self, event):
        event.remove_revision()

    def _on_greet(self, event):
        event.log("greeting in progress")
        name = event.params["name"]
        event.set_results(
            {"message": f"{self.config['greeting']} {name}", "detail": {"unit": self.unit.name}}
        )

    def _on_fail_me(self, event):
        event.set_results({"partial": "yes"})
        event.fail("deliberate failure")

    def _on_rotate_password(self, event):
        secret = self._password_secret()
        info = secret.get_info()
        secret.set_content({"password": "rotated-pw"})
        event.set_results({"old-revision": str(info.revision), "label": info.label})

    def _on_inspect(self, event):
        ports = sorted(f"{p.port}/{p.protocol}" for p in self.unit.opened_ports())
        results = {
            "ports": ",".join(ports),
            "planned-units": str(self.app.planned_units()),
            "leader": str(self.unit.is_leader()),
            "unit-status": self.unit.status.name,
            "events": ",".join(self._stored.events),
        }
        if self.unit.is_leader():
            results["app-status"] = self.app.status.message
        peers = self.model.get_relation("cluster")
        results["peer-units"] = ",".join(sorted(u.name for u in peers.units))
        event.set_results(results)


if __name__ == "__main__":
    ops.main(ConformanceCharm, use_juju_for_storage=True)
