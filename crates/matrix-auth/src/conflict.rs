//! Registrations that cannot be loaded together.
//!
//! Synapse refuses to start when two appservice files share an `id` or an `as_token`. Two
//! bridges with the same `sender_localpart`, or with exclusive namespaces of one kind that can
//! claim the same ID (see [`crate::overlap`]), load but then fight over users and rooms.

use std::fmt;

use secrecy::ExposeSecret;

use crate::overlap::Claim;
use crate::registration::{NamespaceKind, Registration};

/// What a registration has in common with one accepted before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    DuplicateId,
    DuplicateAsToken,
    SameSenderLocalpart,
    OverlappingExclusiveNamespace(NamespaceKind),
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DuplicateId => f.write_str("duplicate id"),
            Self::DuplicateAsToken => f.write_str("duplicate as_token"),
            Self::SameSenderLocalpart => f.write_str("same sender_localpart"),
            Self::OverlappingExclusiveNamespace(kind) => write!(f, "overlapping exclusive {kind} namespace"),
        }
    }
}

/// The first conflict between `candidate` and any of `accepted`, with the index it clashes with.
pub fn find_conflict<'a>(
    accepted: impl IntoIterator<Item = &'a Registration>,
    candidate: &Registration,
) -> Option<(usize, Conflict)> {
    let claims = ExclusiveClaims::of(candidate);
    accepted.into_iter().enumerate().find_map(|(index, earlier)| {
        conflict((earlier, &ExclusiveClaims::of(earlier)), (candidate, &claims)).map(|c| (index, c))
    })
}

/// A registration's exclusive namespaces, compiled once for overlap checks.
struct ExclusiveClaims(Vec<(NamespaceKind, Claim)>);

impl ExclusiveClaims {
    fn of(registration: &Registration) -> Self {
        Self(
            registration
                .namespaces()
                .filter(|(_, namespace)| namespace.exclusive)
                .map(|(kind, namespace)| (kind, Claim::new(&namespace.regex, &namespace.checked)))
                .collect(),
        )
    }
}

fn conflict(
    (earlier, earlier_claims): (&Registration, &ExclusiveClaims),
    (later, later_claims): (&Registration, &ExclusiveClaims),
) -> Option<Conflict> {
    if earlier.id() == later.id() {
        return Some(Conflict::DuplicateId);
    }
    if earlier.as_token().expose_secret() == later.as_token().expose_secret() {
        return Some(Conflict::DuplicateAsToken);
    }
    if earlier.sender_localpart() == later.sender_localpart() {
        return Some(Conflict::SameSenderLocalpart);
    }
    later_claims.0.iter().find_map(|(kind, claim)| {
        earlier_claims
            .0
            .iter()
            .any(|(other_kind, other)| other_kind == kind && other.overlaps(claim))
            .then_some(Conflict::OverlappingExclusiveNamespace(*kind))
    })
}

/// A registration refused because of one accepted before it (known by its key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictWith<K> {
    pub conflict: Conflict,
    pub earlier: K,
}

/// Accepted, or in conflict with an earlier one.
pub type Resolution<K> = Result<Registration, ConflictWith<K>>;

/// Accepts registrations in the given (deterministic) order: each one is kept unless it
/// conflicts with one kept before it, in which case the key of that earlier one is returned.
pub fn resolve_conflicts<K: Clone>(candidates: Vec<(K, Registration)>) -> Vec<(K, Resolution<K>)> {
    let mut kept: Vec<(K, Registration, ExclusiveClaims)> = Vec::new();
    let mut results = Vec::with_capacity(candidates.len());
    for (key, registration) in candidates {
        let claims = ExclusiveClaims::of(&registration);
        let clash = kept.iter().find_map(|(earlier_key, earlier, earlier_claims)| {
            conflict((earlier, earlier_claims), (&registration, &claims)).map(|c| (earlier_key, c))
        });
        match clash {
            Some((earlier, conflict)) => {
                results.push((key, Err(ConflictWith { conflict, earlier: earlier.clone() })))
            }
            None => {
                kept.push((key.clone(), registration.clone(), claims));
                results.push((key, Ok(registration)));
            }
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(id: &str, as_token: &str, sender: &str, users: &str) -> Registration {
        Registration::parse(&format!(
            "id: {id}\nas_token: {as_token}\nhs_token: hs\nurl: null\nsender_localpart: {sender}\n\
             namespaces:\n  users:\n    - exclusive: true\n      regex: '{users}'\n  rooms:\n    - exclusive: false\n      regex: '!.*'\n"
        ))
        .unwrap()
    }

    #[test]
    fn later_duplicates_are_rejected_with_the_earlier_key() {
        let results = resolve_conflicts(vec![
            (3, registration("irc", "t1", "irc-bot", "@irc_.*")),
            (5, registration("irc", "t2", "bot2", "@two_.*")),
            (7, registration("tg", "t1", "bot3", "@tg_.*")),
            (8, registration("wa", "t4", "irc-bot", "@wa_.*")),
            (9, registration("sl", "t5", "bot5", "@irc_.*")),
            (11, registration("ok", "t6", "bot6", "@ok_.*")),
        ]);
        let verdicts: Vec<_> = results
            .iter()
            .map(|(key, result)| (*key, result.as_ref().err().map(|c| (c.conflict.to_string(), c.earlier))))
            .collect();
        assert_eq!(
            verdicts,
            [
                (3, None),
                (5, Some(("duplicate id".to_string(), 3))),
                (7, Some(("duplicate as_token".to_string(), 3))),
                (8, Some(("same sender_localpart".to_string(), 3))),
                (9, Some(("overlapping exclusive users namespace".to_string(), 3))),
                (11, None),
            ]
        );
    }

    #[test]
    fn exclusive_namespaces_that_can_claim_one_id_conflict() {
        let results = resolve_conflicts(vec![
            (1, registration("a", "ta", "a", "@irc_.*")),
            (2, registration("b", "tb", "b", "@irc_libera_.*")),
            (3, registration("c", "tc", "c", "@oftc_.*")),
        ]);
        let conflict = results[1].1.as_ref().unwrap_err();
        assert_eq!(conflict.conflict, Conflict::OverlappingExclusiveNamespace(NamespaceKind::Users));
        assert_eq!(conflict.earlier, 1);
        assert!(results[2].1.is_ok());
    }

    #[test]
    fn shared_non_exclusive_namespaces_are_fine() {
        // Both registrations list the same non-exclusive rooms regex.
        let results = resolve_conflicts(vec![
            ("a", registration("a", "ta", "a", "@a_.*")),
            ("b", registration("b", "tb", "b", "@b_.*")),
        ]);
        assert!(results.iter().all(|(_, result)| result.is_ok()));
    }

    #[test]
    fn a_rejected_registration_does_not_block_later_ones() {
        let results = resolve_conflicts(vec![
            (1, registration("a", "ta", "a", "@a_.*")),
            (2, registration("a", "tb", "b", "@b_.*")),
            (3, registration("c", "tc", "c", "@b_.*")),
        ]);
        assert!(results[1].1.is_err());
        assert!(results[2].1.is_ok(), "only accepted registrations count");
    }
}
