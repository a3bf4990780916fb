//! The requirer side of the `redis` Juju interface, wire-compatible with
//! `charms.redis_k8s.v0.redis` (`RedisRequires`, LIBPATCH 6 and 7) and redis-k8s.
//!
//! - [`view`]: every unit reads where Redis is: [`RedisView::read`] gives a
//!   [`RedisEndpoint`] (the provider's `leader-host`, else the `hostname` of the remote unit
//!   with the lowest number, with that unit's `port`) or the [`NotReady`] reason.
//! - [`plan_requirer`]: what the requirer writes, as [`juju::Effect`]s: nothing, the
//!   interface has no request.
//! - [`protocol`]: the databag keys.
//!
//! There is no password: a `redis` relation makes redis-k8s turn authentication off.
//!
//! ```no_run
//! use juju::{HookTools, RelationId};
//! use redis_client::{RedisView, ReadError};
//!
//! fn redis(tools: &HookTools, relation: &RelationId) -> Result<(), ReadError> {
//!     match RedisView::read(tools, relation)? {
//!         RedisView::Ready(endpoint) => println!("connect to {}", endpoint.url()),
//!         RedisView::NotReady(reason) => println!("waiting: {reason}"),
//!     }
//!     Ok(())
//! }
//! ```

pub mod protocol;
pub mod view;

pub use view::{plan_requirer, NotReady, ReadError, RedisEndpoint, RedisView};
