//! The admin access token promote-user-admin and anonymize-user call the admin API with.
//!
//! It lives in an application secret, so every unit can use it. The leader checks it with
//! Synapse before each use and replaces a missing or rejected one: it registers a fresh
//! admin user through the shared secret, stores that user's token, and deactivates the
//! charm's previous admin user. Other units cannot write the secret; when they find no
//! valid token they fail and point the operator at the leader, rather than registering
//! admin users nobody keeps track of.
//!
//! A deployment taken over from the upstream charm keeps its admin token: with no secret of
//! this charm yet, the token the upstream charm announced in the peer application bag
//! (`secret-id`, content key `secret-key`; or `secret-key` in plain text on Juju 2.9) is used
//! when Synapse still accepts it, and the leader stores it as this charm's.

use juju::{HookTools, NewSecret, ReadMode, SecretContent, SecretOwner, SecretRef, SecretUpdate};
use rand::Rng as _;
use secrecy::SecretString;
use synapse_admin::{generate_password, AdminClient, UserId};

use super::failure::{ActionError, Failure};
use super::synapse::Synapse;

/// The owner label of the application secret.
pub const LABEL: &str = "synapse-admin-token";
const USERNAME: &str = "username";
const ACCESS_TOKEN: &str = "access-token";
/// Admin users the charm registers are named `charm-admin-<32 hex digits>`.
const USERNAME_PREFIX: &str = "charm-admin-";
/// The user of an admin token taken over from the upstream charm (not retired by the charm).
const ADOPTED_USERNAME: &str = "upstream-charm-admin";
/// The upstream charm's peer application bag keys for its admin token.
const UPSTREAM_SECRET_ID_KEY: &str = "secret-id";
const UPSTREAM_TOKEN_KEY: &str = "secret-key";

/// The charm's admin user and its token.
struct AdminUser {
    username: String,
    token: SecretString,
}

impl AdminUser {
    fn from_content(content: &SecretContent) -> Option<Self> {
        use secrecy::ExposeSecret as _;
        Some(Self {
            username: content.get(USERNAME)?.expose_secret().to_string(),
            token: content.get(ACCESS_TOKEN)?.clone(),
        })
    }

    fn to_content(&self) -> SecretContent {
        SecretContent::from([
            (USERNAME.to_string(), SecretString::from(self.username.clone())),
            (ACCESS_TOKEN.to_string(), self.token.clone()),
        ])
    }
}

/// A valid admin access token: the stored one, or (leader only) a new one.
pub fn obtain(
    tools: &HookTools,
    app: &str,
    client: &AdminClient,
    synapse: &Synapse,
    leader: bool,
) -> Result<SecretString, ActionError> {
    let stored = read(tools)?;
    let previous = stored.as_ref().and_then(AdminUser::from_content);
    if let Some(admin) = &previous {
        if client.is_admin_token_valid(&admin.token)? {
            return Ok(admin.token.clone());
        }
    }
    if stored.is_none() {
        if let Some(token) = upstream_token(tools, app)? {
            if client.is_admin_token_valid(&token)? {
                if leader {
                    let adopted = AdminUser { username: ADOPTED_USERNAME.to_string(), token: token.clone() };
                    store(tools, &adopted, false)?;
                    tracing::info!("took over the upstream charm's admin access token");
                }
                return Ok(token);
            }
        }
    }
    if !leader {
        return Err(
            if previous.is_some() { Failure::AdminTokenInvalid } else { Failure::NoAdminToken }.into()
        );
    }
    tracing::info!(
        "registering a new admin user for the charm: the stored admin access token is missing or invalid"
    );
    let fresh = register_admin(client, synapse)?;
    store(tools, &fresh, stored.is_some())?;
    let charms_own = |admin: &AdminUser| admin.username.starts_with(USERNAME_PREFIX);
    if let Some(previous) =
        previous.filter(|previous| previous.username != fresh.username && charms_own(previous))
    {
        retire(client, synapse, &previous.username, &fresh.token);
    }
    Ok(fresh.token)
}

/// The admin token the upstream charm left: its secret named in the peer application bag, or
/// the token there in plain text (Juju 2.9). `None` when there is none.
fn upstream_token(tools: &HookTools, app: &str) -> Result<Option<SecretString>, ActionError> {
    use secrecy::ExposeSecret as _;
    let Some(peer) = tools.relation_ids(crate::deployment::PEER_RELATION)?.into_iter().next() else {
        return Ok(None);
    };
    let bag = tools.relation_get_app(&peer, app)?;
    if let Some(uri) = bag.get(UPSTREAM_SECRET_ID_KEY).and_then(|id| juju::SecretUri::parse(id)) {
        match tools.secret_get(&SecretRef::Id(uri), ReadMode::Tracked) {
            Ok(content) => {
                return Ok(content
                    .get(UPSTREAM_TOKEN_KEY)
                    .filter(|token| !token.expose_secret().is_empty())
                    .cloned())
            }
            Err(error) if error.is_secret_not_found() => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(bag
        .get(UPSTREAM_TOKEN_KEY)
        .filter(|token| !token.is_empty())
        .map(|token| SecretString::from(token.clone())))
}

/// The secret's content, `None` if it does not exist yet.
fn read(tools: &HookTools) -> Result<Option<SecretContent>, ActionError> {
    match tools.secret_get(&SecretRef::Label(LABEL.to_string()), ReadMode::Tracked) {
        Ok(content) => Ok(Some(content)),
        Err(error) if error.is_secret_not_found() => Ok(None),
        Err(error) => Err(error.into()),
    }
}

fn register_admin(client: &AdminClient, synapse: &Synapse) -> Result<AdminUser, ActionError> {
    let suffix: [u8; 16] = rand::rng().random();
    let username = suffix.iter().fold(USERNAME_PREFIX.to_string(), |mut name, byte| {
        name.push_str(&format!("{byte:02x}"));
        name
    });
    let user = UserId::new(&username, &synapse.server_name)?;
    let registered = client.register(&synapse.shared_secret, &user, &generate_password(), true)?;
    tracing::info!("registered the charm's admin user {}", registered.user_id);
    Ok(AdminUser { username, token: registered.access_token })
}

/// Writes `admin` into the secret, creating it if it does not exist.
fn store(tools: &HookTools, admin: &AdminUser, exists: bool) -> Result<(), ActionError> {
    if exists {
        let id = tools.secret_info_get(&SecretRef::Label(LABEL.to_string()))?.id;
        tools.secret_set(
            &id,
            &SecretUpdate { content: Some(admin.to_content()), ..SecretUpdate::default() },
        )?;
    } else {
        tools.secret_add(&NewSecret {
            content: admin.to_content(),
            label: Some(LABEL.to_string()),
            description: Some("Synapse admin access token of the charm's user actions".to_string()),
            owner: SecretOwner::Application,
            ..NewSecret::default()
        })?;
    }
    Ok(())
}

/// Deactivates the charm's previous admin user, whose token no longer works; a failure only
/// leaves an unused account behind, so it is logged, not raised.
fn retire(client: &AdminClient, synapse: &Synapse, username: &str, token: &SecretString) {
    let outcome = UserId::new(username, &synapse.server_name)
        .and_then(|user| client.deactivate(token, &user, false).map(|()| user));
    match outcome {
        Ok(user) => tracing::info!("deactivated the charm's previous admin user {user}"),
        Err(synapse_admin::Error::UserNotFound { .. }) => {}
        Err(error) => {
            tracing::warn!("could not deactivate the charm's previous admin user {username}: {error}")
        }
    }
}
