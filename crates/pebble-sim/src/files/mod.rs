//! The container filesystem behind `/v1/files`.

pub mod error;
pub mod fsops;
pub mod glob;
pub mod multipart;
pub mod owners;
pub mod paths;
