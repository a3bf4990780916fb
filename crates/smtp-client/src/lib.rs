//! The requirer side of the `smtp` Juju interface, wire-compatible with
//! `charms.smtp_integrator.v0.smtp` (`SmtpRequires`, LIBPATCH 11 to 21) and both endpoints of
//! smtp-integrator: `smtp` (the password in a Juju secret) and `smtp-legacy` (in plain text).
//!
//! - [`view`]: every unit reads the relay's settings: [`SmtpView::read`] gives
//!   [`SmtpSettings`] (the password from the `password_id` secret at its latest revision, else
//!   the plain `password`) or the [`NotReady`] reason, such as a user secret that still has to
//!   be granted. [`SmtpSettings::synapse_problem`] says what Synapse would refuse, and
//!   [`secret_matches`] / [`SmtpSettings::uses_secret`] match `secret-changed` by unique id.
//! - [`plan_requirer`]: what the requirer writes, as [`juju::Effect`]s: nothing, the
//!   interface has no request.
//! - [`protocol`]: the databag keys and their values.
//!
//! ```no_run
//! use juju::{HookContext, HookTools, RelationId};
//! use smtp_client::SmtpView;
//!
//! fn smtp(
//!     tools: &HookTools,
//!     context: &HookContext,
//!     relation: &RelationId,
//! ) -> Result<(), Box<dyn std::error::Error>> {
//!     let provider = tools.relation_remote_app(relation)?;
//!     match SmtpView::read(tools, relation, provider.as_deref(), &context.app_name)? {
//!         SmtpView::Ready(settings) => match settings.synapse_problem() {
//!             Some(problem) => println!("blocked: {problem}"),
//!             None => println!("send through {}:{}", settings.host, settings.port),
//!         },
//!         SmtpView::NotReady(reason) => println!("waiting: {reason}"),
//!     }
//!     Ok(())
//! }
//! ```

pub mod protocol;
pub mod view;

pub use protocol::{AuthType, TransportSecurity};
pub use view::{plan_requirer, secret_matches, NotReady, ReadError, SmtpSettings, SmtpView};
