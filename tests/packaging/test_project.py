"""charmcraft's own project model accepts charmcraft.yaml with metadata, config and actions files.

charmcraft 4 merges name, summary and description from metadata.yaml, `config` from
config.yaml and `actions` from actions.yaml into charmcraft.yaml's data, and copies
metadata.yaml into the charm verbatim. The remaining metadata keys are checked here by
feeding them to the same model, which forbids unknown keys.
"""

from __future__ import annotations

import shutil
import tempfile
import unittest
from pathlib import Path

import pydantic
from charmcraft.models.config import JujuConfig
from charmcraft.models.metadata import CharmMetadataLegacy
from charmcraft.models.project import CharmcraftProject, PlatformCharm
from craft_application.errors import CraftValidationError

from common import METADATA_FILES, ROOT, load_yaml

PROJECT_FILES = ("charmcraft.yaml", *METADATA_FILES)

# Upstream option names, types and defaults (upstream-synapse-charm.md §1.3); None = no default.
EXPECTED_CONFIG = {
    "server_name": ("string", None),
    "public_baseurl": ("string", None),
    "allow_public_rooms_over_federation": ("boolean", False),
    "backup_passphrase": ("string", None),
    "block_non_admin_invites": ("boolean", False),
    "enable_email_notifs": ("boolean", False),
    "enable_mjolnir": ("boolean", False),
    "enable_password_config": ("boolean", True),
    "enable_room_list_search": ("boolean", True),
    "federation_domain_whitelist": ("string", None),
    "ip_range_whitelist": ("string", None),
    "invite_checker_blocklist_allowlist_url": ("string", None),
    "invite_checker_policy_rooms": ("string", None),
    "limit_remote_rooms_complexity": ("float", None),
    "notif_from": ("string", None),
    "experimental_alive_check": ("string", "2m,5,20s"),
    "rc_joins_remote_burst_count": ("int", 10),
    "rc_joins_remote_per_second": ("float", 0.01),
    "report_stats": ("boolean", False),
    "publish_rooms_allowlist": ("string", None),
    "trusted_key_servers": ("string", None),
    "workers_ignore_list": ("string", None),
    # The charm's own, not upstream's: what happens to SQLite data when PostgreSQL arrives.
    "port_sqlite_data": ("boolean", True),
    "delegate_server_name": ("boolean", False),
    "well_known_server": ("string", None),
    "additional_homeserver_config": ("string", None),
}

# action -> {param: (JSON type, default)}, and the required params.
EXPECTED_ACTIONS = {
    "register-user": ({"username": ("string", None), "admin": ("boolean", False)}, ["username"]),
    "promote-user-admin": ({"username": ("string", None)}, ["username"]),
    "anonymize-user": ({"username": ("string", None)}, ["username"]),
    "create-backup": ({}, []),
    "list-backups": ({}, []),
    "restore-backup": ({"backup-id": ("string", None)}, ["backup-id"]),
    "delete-backup": ({"backup-id": ("string", None)}, ["backup-id"]),
    # The charm's own, not upstream's.
    "retry-database-port": ({}, []),
}

# endpoint -> (interface, limit); every `requires` endpoint is optional.
EXPECTED_PROVIDES = {
    "matrix-auth": "matrix_auth",
    "metrics-endpoint": "prometheus_scrape",
    "grafana-dashboard": "grafana_dashboard",
}
EXPECTED_REQUIRES = {
    "database": ("postgresql_client", 1),
    "redis": ("redis", 1),
    "smtp": ("smtp", 1),
    "media": ("s3", 1),
    "backup": ("s3", 1),
    "ingress": ("ingress", 2),
    "nginx-route": ("nginx-route", 1),
    "logging": ("loki_push_api", 1),
}
JSON_TYPES = {"string": str, "boolean": bool, "integer": int, "number": (int, float)}


def copy_project(destination: Path) -> Path:
    """Copy the files charmcraft reads into `destination`."""
    for name in PROJECT_FILES:
        shutil.copy(ROOT / name, destination / name)
    return destination


# metadata.yaml's link keys and their place under `links` in charmcraft.yaml (the reverse of
# charmcraft's CharmMetadata.from_charm).
LINK_KEYS = {
    "docs": "documentation",
    "issues": "issues",
    "source": "source",
    "website": "website",
    "maintainers": "contact",
}
REPOSITORY = "https://github.com/synapse-k8s/synapse-k8s"


def full_project(charmcraft: dict, metadata: dict) -> PlatformCharm:
    """Validate every metadata.yaml key with charmcraft's model, as if written in charmcraft.yaml."""
    data = {**charmcraft, **metadata}
    if "display-name" in data:
        data["title"] = data.pop("display-name")
    links = {LINK_KEYS[key]: data.pop(key) for key in list(data) if key in LINK_KEYS}
    if links:
        data["links"] = links
    data["config"] = load_yaml(ROOT / "config.yaml")
    data["actions"] = load_yaml(ROOT / "actions.yaml")
    return CharmcraftProject.unmarshal(data)


class ProjectModelTest(unittest.TestCase):
    """The repository's files, read the way `charmcraft pack` reads them."""

    @classmethod
    def setUpClass(cls):
        cls.metadata = load_yaml(ROOT / "metadata.yaml")
        cls.project = CharmcraftProject.from_yaml_file(ROOT / "charmcraft.yaml")

    def test_charmcraft_loads_the_project_with_the_separate_files(self):
        project = self.project
        self.assertIsInstance(project, PlatformCharm)
        self.assertEqual(project.name, "synapse")
        self.assertEqual(project.summary, self.metadata["summary"])
        self.assertEqual(project.description, self.metadata["description"])
        self.assertEqual(project.config, load_yaml(ROOT / "config.yaml"))
        self.assertEqual(project.actions, load_yaml(ROOT / "actions.yaml"))
        self.assertIn(project.base, ("ubuntu@22.04", "ubuntu@24.04"))
        self.assertEqual(
            {name: p.build_for for name, p in project.platforms.items()}, {"amd64": ["amd64"]}
        )
        [part] = project.parts.values()
        self.assertEqual(part["plugin"], "rust")

    def test_every_metadata_key_is_valid_for_charmcraft(self):
        project = full_project(load_yaml(ROOT / "charmcraft.yaml"), self.metadata)
        self.assertEqual(project.title, "Synapse")
        self.assertEqual(project.assumes, ["k8s-api"])
        self.assertEqual(CharmMetadataLegacy.unmarshal(dict(self.metadata)).name, "synapse")

    def test_metadata_links_to_the_project(self):
        legacy = CharmMetadataLegacy.unmarshal(dict(self.metadata))
        self.assertEqual(str(legacy.source), REPOSITORY)
        self.assertEqual(str(legacy.issues), f"{REPOSITORY}/issues")
        self.assertTrue(str(legacy.docs).startswith(f"{REPOSITORY}/"), legacy.docs)
        links = full_project(load_yaml(ROOT / "charmcraft.yaml"), self.metadata).links
        self.assertEqual(str(links.documentation), str(legacy.docs))

    def test_license_file_is_the_apache_license_cargo_declares(self):
        license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
        self.assertIn("Apache License\n                           Version 2.0", license_text)
        self.assertIn('license = "Apache-2.0"', (ROOT / "Cargo.toml").read_text(encoding="utf-8"))

    def test_config_options_have_upstream_names_types_and_defaults(self):
        config = JujuConfig.model_validate(load_yaml(ROOT / "config.yaml"))
        actual = {name: (option.type, option.default) for name, option in config.options.items()}
        self.assertEqual(actual, EXPECTED_CONFIG)
        for name, option in config.options.items():
            self.assertTrue(option.description and option.description.strip(), name)
        server_name = config.options["server_name"].description.lower()
        self.assertIn("required", server_name)
        self.assertIn("cannot be changed", server_name)

    def test_actions_declare_params_consistently(self):
        actions = load_yaml(ROOT / "actions.yaml")
        self.assertEqual(set(actions), set(EXPECTED_ACTIONS))
        for name, action in actions.items():
            expected_params, expected_required = EXPECTED_ACTIONS[name]
            self.assertTrue(action["description"].strip(), name)
            self.assertNotIn("properties", action, f"{name}: arguments belong under params")
            self.assertIs(action["additionalProperties"], False, name)
            self.assertEqual(action["required"], expected_required, name)
            params = action["params"]
            actual = {param: (spec["type"], spec.get("default")) for param, spec in params.items()}
            self.assertEqual(actual, expected_params, name)
            for param, spec in params.items():
                self.assertTrue(spec["description"].strip(), f"{name}.{param}")
                if "default" in spec:
                    self.assertIsInstance(spec["default"], JSON_TYPES[spec["type"]])

    def test_metadata_declares_the_upstream_interfaces(self):
        metadata = self.metadata
        self.assertEqual(metadata["assumes"], ["k8s-api"])
        self.assertEqual(
            {name: spec["interface"] for name, spec in metadata["provides"].items()},
            EXPECTED_PROVIDES,
        )
        self.assertEqual(
            {
                name: (spec["interface"], spec["limit"])
                for name, spec in metadata["requires"].items()
            },
            EXPECTED_REQUIRES,
        )
        for name, spec in metadata["requires"].items():
            self.assertIs(spec["optional"], True, name)
        self.assertEqual(metadata["peers"], {"synapse-peers": {"interface": "synapse-instance"}})
        endpoints = [name for key in ("provides", "requires", "peers") for name in metadata[key]]
        self.assertEqual(len(endpoints), len(set(endpoints)), "endpoint names must be unique")

    def test_container_mounts_the_declared_storage_and_image(self):
        metadata = self.metadata
        container = metadata["containers"]["synapse"]
        self.assertEqual(metadata["resources"][container["resource"]]["type"], "oci-image")
        self.assertEqual(container["mounts"], [{"storage": "data", "location": "/data"}])
        self.assertEqual(metadata["storage"]["data"]["type"], "filesystem")
        self.assertEqual(metadata["storage"]["data"]["location"], "/data")


class BrokenProjectTest(unittest.TestCase):
    """The same checks reject broken variants, so a pass above means something."""

    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(prefix="synapse-k8s-project-"))
        self.addCleanup(shutil.rmtree, self.dir)
        copy_project(self.dir)

    def test_name_in_both_charmcraft_and_metadata_yaml_is_rejected(self):
        charmcraft = self.dir / "charmcraft.yaml"
        charmcraft.write_text(charmcraft.read_text() + "name: synapse\n")
        with self.assertRaisesRegex(CraftValidationError, "cannot be duplicated"):
            CharmcraftProject.from_yaml_file(charmcraft)

    def test_misspelled_part_property_is_rejected(self):
        charmcraft = self.dir / "charmcraft.yaml"
        charmcraft.write_text(charmcraft.read_text().replace("rust-channel:", "rust-chanel:"))
        with self.assertRaisesRegex(CraftValidationError, "rust-chanel"):
            CharmcraftProject.from_yaml_file(charmcraft)

    def test_unknown_metadata_key_is_rejected(self):
        metadata = load_yaml(ROOT / "metadata.yaml")
        metadata["require"] = metadata.pop("requires")
        with self.assertRaisesRegex(pydantic.ValidationError, "require\n.*Extra inputs"):
            full_project(load_yaml(ROOT / "charmcraft.yaml"), metadata)

    def test_default_of_the_wrong_type_is_rejected(self):
        config = load_yaml(ROOT / "config.yaml")
        config["options"]["rc_joins_remote_burst_count"]["default"] = "10"
        with self.assertRaisesRegex(pydantic.ValidationError, "rc_joins_remote_burst_count"):
            JujuConfig.model_validate(config)


if __name__ == "__main__":
    unittest.main()
