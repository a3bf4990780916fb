//! The requirer side of the `postgresql_client` Juju interface, wire-compatible with
//! `charms.data_platform_libs.v0.data_interfaces` (`DatabaseRequires`) and the providers of
//! postgresql-k8s 14 and 16.
//!
//! - [`request`]: the leader asks for a database: [`plan_request`] plans writing
//!   `requested-secrets`, `database` and `extra-user-roles` (only what is missing) as
//!   [`juju::Effect`]s.
//! - [`view`]: every unit reads the answer: [`DatabaseView::read`] gives
//!   [`DatabaseCredentials`] or the [`NotReady`] reason, from Juju secrets or, for providers
//!   answering without secrets, from the databag.
//! - [`endpoint`]: `host:port` lists.
//!
//! ```no_run
//! use juju::{HookContext, HookTools, RelationId};
//! use postgresql_client::{plan_request, DatabaseRequest, DatabaseView};
//!
//! fn database(
//!     tools: &HookTools,
//!     context: &HookContext,
//!     relation: &RelationId,
//!     postgresql_app: &str,
//! ) -> Result<(), Box<dyn std::error::Error>> {
//!     if tools.is_leader()? {
//!         let request = DatabaseRequest::new(&context.app_name)?;
//!         let own = tools.relation_get_app(relation, &context.app_name)?;
//!         juju::effects::execute(tools, &plan_request(relation, &own, &request).effects)?;
//!     }
//!     match DatabaseView::read(tools, relation, postgresql_app)? {
//!         DatabaseView::Ready(credentials) => println!("connect to {}", credentials.primary),
//!         DatabaseView::NotReady(reason) => println!("waiting: {reason}"),
//!     }
//!     Ok(())
//! }
//! ```

pub mod endpoint;
pub mod protocol;
pub mod request;
pub mod view;

pub use endpoint::{Endpoint, EndpointError};
pub use request::{plan_request, DatabaseRequest, InvalidRequest, RequestConflict, RequestPlan};
pub use view::{DatabaseCredentials, DatabaseView, FieldSource, NotReady, ReadError, SecretGroup, Tls};
