//! System information and connectivity.

use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::Result;

/// Pebble's identity, from [`Client::system_info`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SystemInfo {
    /// Changes on every boot of the container.
    pub boot_id: String,
    /// Pebble's version, e.g. `v1.10.0`.
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_address: Option<String>,
}

impl Client {
    /// Pebble's version and boot id.
    pub fn system_info(&self) -> Result<SystemInfo> {
        self.get("/v1/system-info")
    }

    /// Whether Pebble answers (ops' `Container.can_connect`).
    pub fn can_connect(&self) -> bool {
        self.system_info().is_ok()
    }
}
