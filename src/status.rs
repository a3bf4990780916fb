//! The statuses this charm reports, with upstream's texts where upstream has one.

use juju::Status;

use crate::config::InvalidConfig;

pub fn invalid_config(error: &InvalidConfig) -> Status {
    Status::blocked(error.to_string())
}

pub fn server_name_changed() -> Status {
    Status::blocked("The server_name modification is not allowed, please check the logs")
}

pub fn validate_config_failed() -> Status {
    Status::blocked("Validate config failed, please check the logs")
}

pub fn waiting_for_secrets() -> Status {
    Status::waiting("Waiting for leader to generate secrets")
}

pub fn waiting_for_peer_relation() -> Status {
    Status::waiting("Waiting for the peer relation")
}

pub fn waiting_for_pebble() -> Status {
    Status::waiting("Waiting for Synapse pebble")
}

pub fn waiting_for_synapse() -> Status {
    Status::waiting("Waiting for Synapse")
}

pub fn configuring() -> Status {
    Status::maintenance("Configuring Synapse")
}

pub fn synapse_running() -> Status {
    Status::active("")
}
