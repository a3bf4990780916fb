#!/usr/bin/env python3
"""A matrix_auth requirer on the real ops library, written from the interface specification.

Bidirectional mode works like the IRC bridge: the leader encrypts an appservice registration
with the provider's Fernet key (``Fernet(key.encode()).encrypt(text.encode()).decode()``) and
writes the token as ``registration_secret`` in its application databag, only when the
plaintext differs from what is already there. The registration holds non-ASCII text, so any
str/bytes or encoding slip between this side and the Rust provider changes the bytes Synapse
gets. Unidirectional mode works like maubot: it only reads the homeserver and the shared
secret (``get_content(refresh=True)``).

Each unit records what it received in its Juju unit state (``state-set``) under the same keys
as the Rust example requirer: ``provider-app``, ``homeserver``, ``shared-secret-sha256`` and,
on the leader in bidirectional mode, ``registration-sha256`` (SHA-256 of the UTF-8 bytes it
encrypted). Incomplete provider data is reported as Waiting; hooks never fail on it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import subprocess
import urllib.parse

import ops
import pydantic
import yaml
from cryptography.fernet import Fernet, InvalidToken

logger = logging.getLogger(__name__)

ENDPOINT = "matrix-auth"
SHARED_SECRET_CONTENT = "shared-secret-content"
ENCRYPTION_KEY_CONTENT = "encryption-key-content"
REGISTRATION_KEY = "registration_secret"
TOKENS_LABEL = "appservice-tokens"
TOKEN_KEYS = ("appservice-id", "as-token", "hs-token")

MISSING = "matrix-auth relation missing"
WAITING = "waiting for matrix-auth provider data"
REPORT_KEYS = ("provider-app", "homeserver", "shared-secret-sha256", "registration-sha256")

# Non-ASCII on purpose: 2-, 3- and 4-byte UTF-8 sequences.
HEADER = "# Registrierung der Brücke — Grüße aus Python ✓ 🌉\n"


class ProviderData(pydantic.BaseModel):
    """The provider's application databag (absent and empty values are the same)."""

    homeserver: str
    shared_secret_id: str | None = None
    encryption_key_secret_id: str | None = None

    @classmethod
    def from_databag(cls, bag: ops.RelationDataContent) -> ProviderData | None:
        values = {key: value for key, value in bag.items() if value}
        try:
            return cls.model_validate(values)
        except pydantic.ValidationError:
            return None


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record(wanted: dict[str, str]) -> None:
    """Makes the unit state hold exactly ``wanted`` among the report keys."""
    output = subprocess.run(["state-get", "--format=json"], capture_output=True, text=True, check=True)
    current = json.loads(output.stdout) or {}
    for key in REPORT_KEYS:
        if key in current and key not in wanted:
            subprocess.run(["state-delete", key], check=True)
    changed = {key: value for key, value in wanted.items() if current.get(key) != value}
    if changed:
        subprocess.run(["state-set", "--file", "-"], input=json.dumps(changed), text=True, check=True)


class NotReady(Exception):
    """The provider's data is incomplete; the reason is logged, the status is Waiting."""


class RequirerCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        relation_events = self.on[ENDPOINT]
        for event in (
            self.on.install,
            self.on.start,
            self.on.config_changed,
            self.on.upgrade_charm,
            self.on.update_status,
            self.on.leader_elected,
            self.on.leader_settings_changed,
            self.on.secret_changed,
            relation_events.relation_created,
            relation_events.relation_joined,
            relation_events.relation_changed,
            relation_events.relation_departed,
            relation_events.relation_broken,
        ):
            framework.observe(event, self._reconcile)

    def _reconcile(self, event: ops.EventBase) -> None:
        logger.debug("ops %s handles %s", ops.__version__, type(event).__name__)
        status = self._status(event)
        self.unit.status = status
        if self.unit.is_leader():
            self.app.status = status

    def _status(self, event: ops.EventBase) -> ops.StatusBase:
        mode = self.config["mode"]
        if mode not in ("bidirectional", "unidirectional"):
            return ops.BlockedStatus(f"invalid config: unknown mode {mode!r}")
        relation = self.model.get_relation(ENDPOINT)
        if isinstance(event, ops.RelationBrokenEvent) and relation is not None:
            if relation.id == event.relation.id:
                relation = None
        if relation is None:
            record({})
            return ops.BlockedStatus(MISSING)
        try:
            provider, shared_secret = self._read_provider(relation)
        except NotReady as reason:
            logger.info("matrix-auth provider not ready: %s", reason)
            record({})
            return ops.WaitingStatus(WAITING)
        received = {
            "provider-app": relation.app.name,
            "homeserver": provider.homeserver,
            "shared-secret-sha256": sha256(shared_secret),
        }
        status = ops.ActiveStatus(f"ready: {provider.homeserver}")
        if self.unit.is_leader():
            if mode == "bidirectional":
                try:
                    received["registration-sha256"] = self._send_registration(relation, provider)
                except NotReady as reason:
                    logger.info("cannot send the registration yet: %s", reason)
                    status = ops.WaitingStatus(WAITING)
            else:
                self._withdraw_registration(relation)
        record(received)
        return status

    def _read_provider(self, relation: ops.Relation) -> tuple[ProviderData, str]:
        if relation.app is None:
            raise NotReady("provider application unknown")
        provider = ProviderData.from_databag(relation.data[relation.app])
        if provider is None or not provider.shared_secret_id:
            raise NotReady("homeserver or shared_secret_id missing")
        try:
            secret = self.model.get_secret(id=provider.shared_secret_id)
            content = secret.get_content(refresh=True)
        except ops.SecretNotFoundError as error:
            raise NotReady(f"shared secret not found: {error}") from None
        except ops.ModelError as error:
            raise NotReady(f"shared secret not readable: {error}") from None
        shared_secret = content.get(SHARED_SECRET_CONTENT)
        if not shared_secret:
            raise NotReady("shared secret is empty")
        return provider, shared_secret

    def _send_registration(self, relation: ops.Relation, provider: ProviderData) -> str:
        """Encrypts and publishes the registration unless it is already there; returns its
        SHA-256."""
        if not provider.encryption_key_secret_id:
            raise NotReady("the provider offers no encryption key")
        try:
            content = self.model.get_secret(id=provider.encryption_key_secret_id).get_content(refresh=True)
        except (ops.SecretNotFoundError, ops.ModelError) as error:
            raise NotReady(f"encryption key not readable: {error}") from None
        key = content.get(ENCRYPTION_KEY_CONTENT, "")
        try:
            fernet = Fernet(key.encode())
        except ValueError:
            raise NotReady("the provider's encryption key is malformed") from None
        text = self._registration(provider.homeserver)
        bag = relation.data[self.app]
        current = bag.get(REGISTRATION_KEY)
        if current:
            try:
                if fernet.decrypt(current.encode()).decode() == text:
                    return sha256(text)
            except (InvalidToken, UnicodeDecodeError):
                logger.info("the published registration is stale: sending it again")
        bag[REGISTRATION_KEY] = fernet.encrypt(text.encode()).decode()
        logger.info("sent the registration to relation %d", relation.id)
        return sha256(text)

    def _withdraw_registration(self, relation: ops.Relation) -> None:
        bag = relation.data[self.app]
        if bag.get(REGISTRATION_KEY):
            del bag[REGISTRATION_KEY]
            logger.info("withdrew the registration from relation %d", relation.id)

    def _tokens(self) -> dict[str, str]:
        """The appservice id and tokens, kept in an application secret (leader only)."""
        fresh = {key: secrets.token_hex(32) for key in TOKEN_KEYS}
        try:
            secret = self.model.get_secret(label=TOKENS_LABEL)
        except ops.SecretNotFoundError:
            self.app.add_secret(fresh, label=TOKENS_LABEL)
            return fresh
        content = secret.get_content()
        if all(content.get(key) for key in TOKEN_KEYS):
            return content
        logger.warning("the %s secret is incomplete: storing new tokens", TOKENS_LABEL)
        secret.set_content(fresh)
        return fresh

    def _registration(self, homeserver: str) -> str:
        tokens = self._tokens()
        domain = urllib.parse.urlsplit(homeserver).hostname or ""
        prefix = re.escape(self.config["namespace-prefix"])
        document = {
            "id": tokens["appservice-id"],
            "hs_token": tokens["hs-token"],
            "as_token": tokens["as-token"],
            "url": f"http://{self.app.name}.{self.model.name}.svc.cluster.local:8090/brücke",
            "sender_localpart": f"{self.app.name}-bot",
            "de.sorunome.msc2409.push_ephemeral": True,
            "protocols": ["irc"],
            "namespaces": {
                "users": [{"exclusive": True, "regex": f"@{prefix}.*:{re.escape(domain)}"}],
                "aliases": [{"exclusive": True, "regex": f"#{prefix}.*:{re.escape(domain)}"}],
            },
            "rate_limited": False,
        }
        return HEADER + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


if __name__ == "__main__":
    ops.main(RequirerCharm)
