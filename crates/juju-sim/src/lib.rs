//! A simulated Juju unit agent for testing charms.

pub mod charm;
pub mod context;
pub mod model;
mod time;
pub mod tools;
