"""The matrix_auth provider (``charms.synapse.v1.matrix_auth`` wire format).

Every unit decrypts each requirer's ``registration_secret`` with the provider's Fernet key
(looked up by label) and validates it; the leader publishes ``homeserver``,
``shared_secret_id`` and ``encryption_key_secret_id``, creating the two secrets once and
granting them to every relation on every run, as the library (LIBPATCH 6) does: ops cannot
list a secret's grants, and a grant that exists already is a no-op in Juju.
"""

from __future__ import annotations

import dataclasses
import logging

import ops
from cryptography.fernet import Fernet, InvalidToken

from models import ProviderData, Registration

logger = logging.getLogger(__name__)

ENDPOINT = "matrix-auth"
SHARED_SECRET_LABEL = "shared-secret"
SHARED_SECRET_CONTENT = "shared-secret-content"
ENCRYPTION_KEY_LABEL = "encryption-key-secret"
ENCRYPTION_KEY_CONTENT = "encryption-key-content"
REGISTRATION_KEY = "registration_secret"


def registration_path(relation_id: int) -> str:
    """Where Synapse reads the registration of a relation (the upstream path)."""
    return f"/data/appservice-registration-{ENDPOINT}-{relation_id}.yaml"


@dataclasses.dataclass(frozen=True)
class Accepted:
    """A registration Synapse will load."""

    relation_id: int
    text: str

    @property
    def path(self) -> str:
        return registration_path(self.relation_id)


@dataclasses.dataclass
class Registrations:
    """What became of the requirers' registrations."""

    accepted: list[Accepted] = dataclasses.field(default_factory=list)
    rejected: list[str] = dataclasses.field(default_factory=list)
    pending: list[str] = dataclasses.field(default_factory=list)


def live_relations(model: ops.Model, event: ops.EventBase) -> list[ops.Relation]:
    """The endpoint's relations with a known remote application, minus one being broken."""
    broken = event.relation.id if isinstance(event, ops.RelationBrokenEvent) else None
    return [
        relation
        for relation in model.relations[ENDPOINT]
        if relation.id != broken and relation.app is not None
    ]


def _provider_fernet(model: ops.Model) -> Fernet | None:
    """The provider's own key, by label; None while the leader has not created it."""
    try:
        content = model.get_secret(label=ENCRYPTION_KEY_LABEL).get_content()
    except ops.SecretNotFoundError:
        return None
    try:
        return Fernet(content[ENCRYPTION_KEY_CONTENT].encode())
    except (KeyError, ValueError):
        logger.error("the %s secret does not hold a Fernet key", ENCRYPTION_KEY_LABEL)
        return None


def read_registrations(model: ops.Model, relations: list[ops.Relation]) -> Registrations:
    """Decrypts and validates every relation's registration, in relation order; a registration
    clashing with an earlier one is rejected."""
    result = Registrations()
    fernet: Fernet | None = None
    claimed: dict[tuple[str, str], str] = {}
    for relation in relations:
        app = relation.app.name
        token = relation.data[relation.app].get(REGISTRATION_KEY)
        if not token:
            continue
        if fernet is None:
            fernet = _provider_fernet(model)
            if fernet is None:
                result.pending.append(f"registration from {app} waits for the encryption key")
                continue
        try:
            text = fernet.decrypt(token.encode()).decode()
            registration = Registration.from_yaml(text)
        except (InvalidToken, UnicodeDecodeError):
            result.rejected.append(f"registration from {app} rejected: does not decrypt")
            continue
        except ValueError as error:
            result.rejected.append(f"registration from {app} rejected: {error}")
            continue
        clashes = [name for name, value in registration.claims().items() if (name, value) in claimed]
        if clashes:
            owner = claimed[(clashes[0], registration.claims()[clashes[0]])]
            result.rejected.append(f"registration from {app} rejected: {clashes[0]} already used by {owner}")
            continue
        claimed.update({(name, value): app for name, value in registration.claims().items()})
        result.accepted.append(Accepted(relation.id, text))
    return result


def _get_or_create(model: ops.Model, label: str, content: dict[str, str]) -> ops.Secret:
    try:
        return model.get_secret(label=label)
    except ops.SecretNotFoundError:
        return model.app.add_secret(content, label=label)


def publish(model: ops.Model, relations: list[ops.Relation], homeserver: str, shared_secret: str) -> None:
    """Leader only: makes every relation's application bag carry the homeserver and the IDs of
    the two secrets, and grants them to the relation. ops sends only changed keys."""
    if not relations:
        return
    shared = _get_or_create(model, SHARED_SECRET_LABEL, {SHARED_SECRET_CONTENT: shared_secret})
    key = _get_or_create(model, ENCRYPTION_KEY_LABEL, {ENCRYPTION_KEY_CONTENT: Fernet.generate_key().decode()})
    for relation in relations:
        # The first grant also looks up the ID of a secret found by its label.
        shared.grant(relation)
        key.grant(relation)
        data = ProviderData(homeserver=homeserver, shared_secret_id=shared.id, encryption_key_secret_id=key.id)
        relation.data[model.app].update(data.model_dump())
