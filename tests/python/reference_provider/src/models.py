"""Typed inputs, validated with pydantic: the charm configuration, the provider's matrix_auth
application data and the appservice registrations requirers send."""

from __future__ import annotations

import re

import pydantic
import yaml

# A DNS name, an IPv4 address or a bracketed IPv6 address, with an optional port.
_SERVER_NAME = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")


class SynapseConfig(pydantic.BaseModel):
    """The charm options the reference supports (names and defaults of config.yaml)."""

    model_config = pydantic.ConfigDict(frozen=True, extra="ignore")

    server_name: str
    public_baseurl: str | None = None
    allow_public_rooms_over_federation: bool = False
    block_non_admin_invites: bool = False
    enable_password_config: bool = True
    enable_room_list_search: bool = True
    rc_joins_remote_burst_count: int = pydantic.Field(default=10, ge=0)
    rc_joins_remote_per_second: float = pydantic.Field(default=0.01, ge=0)
    report_stats: bool = False

    @pydantic.field_validator("server_name")
    @classmethod
    def _server_name(cls, value: str) -> str:
        if not _SERVER_NAME.match(value):
            raise ValueError("not a server name")
        return value

    @pydantic.field_validator("public_baseurl")
    @classmethod
    def _public_baseurl(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("not an http(s) URL")
        return value

    @property
    def homeserver(self) -> str:
        """The URL published to requirers: public_baseurl, else https://<server_name>."""
        return self.public_baseurl or f"https://{self.server_name}"


def invalid_fields(error: pydantic.ValidationError) -> list[str]:
    """The option names a validation error is about, sorted and without duplicates."""
    return sorted({str(detail["loc"][0]) for detail in error.errors() if detail["loc"]})


class ProviderData(pydantic.BaseModel):
    """What the provider leader writes into its application databag (v1 wire format)."""

    homeserver: str
    shared_secret_id: str
    encryption_key_secret_id: str


class Namespace(pydantic.BaseModel):
    """One namespace entry; Synapse compiles the regex when it loads the registration."""

    exclusive: bool
    regex: str

    @pydantic.field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"invalid regex: {error}") from None
        return value


class Namespaces(pydantic.BaseModel):
    users: list[Namespace] = []
    aliases: list[Namespace] = []
    rooms: list[Namespace] = []


class Registration(pydantic.BaseModel):
    """An appservice registration with the fields Synapse requires to load it."""

    model_config = pydantic.ConfigDict(extra="allow")

    id: str = pydantic.Field(min_length=1)
    url: str | None
    as_token: str = pydantic.Field(min_length=1)
    hs_token: str = pydantic.Field(min_length=1)
    sender_localpart: str = pydantic.Field(min_length=1)
    namespaces: Namespaces = Namespaces()
    rate_limited: bool = True
    protocols: list[str] | None = None

    @classmethod
    def from_yaml(cls, text: str) -> Registration:
        """Parses and validates the YAML text; raises ValueError when Synapse would not load it."""
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ValueError(f"not YAML: {error}") from None
        if not isinstance(document, dict):
            raise ValueError("not a mapping")
        try:
            return cls.model_validate(document)
        except pydantic.ValidationError as error:
            fields = ", ".join(".".join(map(str, detail["loc"])) for detail in error.errors())
            raise ValueError(f"invalid fields: {fields}") from None

    def claims(self) -> dict[str, str]:
        """The values no two registrations loaded together may share."""
        return {"id": self.id, "as_token": self.as_token, "sender_localpart": self.sender_localpart}
