//! Stable appservice tokens: generated once by the leader and kept in an application-owned
//! Juju secret, so every later leader sends the same registration.

use juju::{HookToolError, HookTools, NewSecret, ReadMode, SecretOwner, SecretRef, SecretUpdate};

use crate::registration::Tokens;

/// The owner label of the secret holding the tokens.
pub const LABEL: &str = "appservice-tokens";

/// Leader only: the kept tokens, created (or repaired, if incomplete) on first use.
pub fn load_or_create(tools: &HookTools) -> Result<Tokens, HookToolError> {
    let by_label = SecretRef::Label(LABEL.to_string());
    match tools.secret_get(&by_label, ReadMode::Tracked) {
        Ok(content) => {
            if let Some(tokens) = Tokens::from_content(&content) {
                return Ok(tokens);
            }
            let tokens = Tokens::generate();
            tracing::warn!("the {LABEL} secret is incomplete: storing new tokens");
            let id = tools.secret_info_get(&by_label)?.id;
            tools.secret_set(
                &id,
                &SecretUpdate { content: Some(tokens.to_content()), ..Default::default() },
            )?;
            Ok(tokens)
        }
        Err(error) if error.is_secret_not_found() => {
            let tokens = Tokens::generate();
            tools.secret_add(&NewSecret {
                content: tokens.to_content(),
                label: Some(LABEL.to_string()),
                description: Some("appservice id, as_token and hs_token".to_string()),
                owner: SecretOwner::Application,
                ..Default::default()
            })?;
            tracing::info!("generated the appservice tokens");
            Ok(tokens)
        }
        Err(error) => Err(error),
    }
}
