//! The `matrix_auth` Juju interface (Synapse appservice registration), wire-compatible with
//! the Python library `charms.synapse.v1.matrix_auth` (LIBPATCH 6) and its v0 requirers.
//!
//! - [`protocol`]: endpoint, secret labels, content keys and databag keys.
//! - [`crypto`]: Fernet, interoperable with Python's `cryptography`.
//! - [`registration`] and [`conflict`]: appservice registrations checked the way Synapse
//!   loads them, and registrations that cannot be loaded together.
//! - [`provider`]: Synapse's side; read everything once, publish (leader), get one
//!   [`RegistrationOutcome`] per relation (every unit).
//! - [`published`]: the leader's record of what it published, which saves reads.
//! - [`requirer`]: the bridges' and bots' side; read the provider's data, send a registration.

pub mod conflict;
pub mod crypto;
pub mod data;
mod overlap;
pub mod protocol;
pub mod provider;
pub mod published;
mod pyregex;
mod pyyaml;
pub mod registration;
pub mod requirer;

pub use conflict::{find_conflict, resolve_conflicts, Conflict, ConflictWith, Resolution};
pub use crypto::{decrypt_string, encrypt_string, generate_key, CryptoError};
pub use data::{ProviderData, ProviderDataError};
pub use provider::{
    EventRelation, NotReady, OwnedSecret, ProviderContext, ProviderRelation, ProviderSecrets, ProviderState,
    PublishOutcome, PublishPlan, PublishReport, RegistrationOutcome, Rejection,
};
pub use published::PublicationStore;
pub use pyregex::PatternError;
pub use pyyaml::YamlError;
pub use registration::{Namespace, NamespaceKind, Registration, RegistrationError, MAX_REGISTRATION_BYTES};
pub use requirer::{
    publish_registration, ProviderInfo, ProviderNotReady, ProviderView, PublishError, RegistrationPublish,
    RequirerEvent,
};
