//! The requirer side of the `s3` Juju interface, wire-compatible with both s3-integrator
//! tracks: track 1 (canonical/s3-integrator, `charms.data_platform_libs.v0.s3`, credentials in
//! plain text) and track 2 (canonical/object-storage-integrators, the s3 lib LIBAPI 1,
//! credentials in a Juju secret).
//!
//! - [`request`]: the leader asks for a bucket: [`plan_request`] plans writing `bucket`,
//!   `requested-secrets`, `lib-version` (and `path`) as [`juju::Effect`]s, only what differs.
//! - [`view`]: every unit reads the answer: [`S3View::read`] gives [`S3Settings`] (the keys
//!   from the track-2 `secret-extra` secret when there is one) or the [`NotReady`] reason,
//!   such as a track-2 integrator without a `bucket` option.
//! - [`protocol`]: the databag keys and values.
//!
//! ```no_run
//! use juju::{HookContext, HookTools, RelationId};
//! use s3_client::{plan_request, S3Request, S3View};
//!
//! fn s3(
//!     tools: &HookTools,
//!     context: &HookContext,
//!     relation: &RelationId,
//! ) -> Result<(), Box<dyn std::error::Error>> {
//!     if tools.is_leader()? {
//!         let own_app = tools.relation_get_app(relation, &context.app_name)?;
//!         let own_unit = tools.relation_get_unit(relation, &context.unit_name)?;
//!         let request = S3Request::for_relation(relation);
//!         juju::effects::execute(tools, &plan_request(relation, &own_app, &own_unit, &request))?;
//!     }
//!     let provider = tools.relation_remote_app(relation)?;
//!     match S3View::read(tools, relation, provider.as_deref(), &context.app_name)? {
//!         S3View::Ready(settings) => println!("bucket {} at {:?}", settings.bucket, settings.endpoint),
//!         S3View::NotReady(reason) if reason.needs_operator() => println!("blocked: {reason}"),
//!         S3View::NotReady(reason) => println!("waiting: {reason}"),
//!     }
//!     Ok(())
//! }
//! ```

pub mod protocol;
pub mod request;
pub mod view;

pub use protocol::UriStyle;
pub use request::{plan_request, InvalidRequest, S3Request};
pub use view::{NotReady, ReadError, S3Settings, S3View};
