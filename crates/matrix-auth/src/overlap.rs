//! Whether two namespace regexes can claim the same ID.
//!
//! Synapse tests an ID against a namespace with Python's `re.match`, which anchors at the
//! start only: a regex claims every ID that has a prefix it matches. Two regexes therefore
//! overlap when some ID has a prefix matching each. That is decided exactly by walking the
//! product of the two patterns' DFAs, each side done once it has matched. Patterns that do
//! not compile to a small DFA (lookaround, large Unicode classes) are compared as text: only
//! identical ones count as overlapping.
//!
//! Most pairs are told apart sooner: every ID a regex claims starts with one of its literal
//! prefixes (`@irc_` for `@irc_.*`), and two regexes none of whose prefixes is a prefix of the
//! other's claim no ID in common. The DFAs are built only for the pairs this leaves open.

use std::cell::OnceCell;
use std::collections::{HashSet, VecDeque};

use crate::pyregex::Pattern;

use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};

/// Memory allowed for building one DFA.
const DFA_BYTES: usize = 1 << 20;
/// Pairs of states explored before giving up (and comparing the text instead).
const MAX_PAIRS: usize = 20_000;

/// A namespace regex made ready for overlap checks: its literal prefixes are found once, and
/// its DFA built once when first needed, however many regexes it is compared with.
pub(crate) struct Claim {
    text: String,
    /// Its translation and literal prefixes.
    checked: Pattern,
    /// `None` inside when the regex has no small DFA (then only identical text overlaps).
    dfa: OnceCell<Option<Dfa>>,
}

impl Claim {
    /// The Python regex `python` as [`crate::pyregex::check`] found it.
    pub(crate) fn new(python: &str, checked: &Pattern) -> Self {
        Self { text: python.to_string(), checked: checked.clone(), dfa: OnceCell::new() }
    }

    /// Whether some ID is claimed by both regexes.
    pub(crate) fn overlaps(&self, other: &Claim) -> bool {
        if self.text == other.text {
            return true;
        }
        if let (Some(ours), Some(theirs)) = (&self.checked.prefixes, &other.checked.prefixes) {
            let compatible = |a: &Vec<u8>, b: &Vec<u8>| a.starts_with(b) || b.starts_with(a);
            if !ours.iter().any(|a| theirs.iter().any(|b| compatible(a, b))) {
                return false;
            }
        }
        match (self.dfa(), other.dfa()) {
            (Some(a), Some(b)) => product_overlap(a, b).unwrap_or(false),
            _ => false,
        }
    }

    fn dfa(&self) -> Option<&Dfa> {
        self.dfa.get_or_init(|| Dfa::compile(&self.checked.translated)).as_ref()
    }
}

/// A claim of a Python regex that passes [`crate::pyregex::check`].
#[cfg(test)]
fn claim(python: &str) -> Claim {
    Claim::new(python, &crate::pyregex::check(python).expect("a valid regex"))
}

/// Whether some ID is claimed by both Python regexes.
#[cfg(test)]
fn overlap(a: &str, b: &str) -> bool {
    claim(a).overlaps(&claim(b))
}

/// One pattern's progress along a common input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    Matching(StateID),
    /// A prefix of the input matched: the ID is claimed, whatever follows.
    Matched,
}

struct Dfa {
    dfa: dense::DFA<Vec<u32>>,
}

impl Dfa {
    fn compile(translated: &str) -> Option<Self> {
        let config = dense::Config::new()
            .match_kind(MatchKind::All)
            .start_kind(StartKind::Anchored)
            .dfa_size_limit(Some(DFA_BYTES))
            .determinize_size_limit(Some(DFA_BYTES));
        let dfa = dense::Builder::new().configure(config).build(translated).ok()?;
        Some(Self { dfa })
    }

    fn start(&self) -> Option<Side> {
        let state = self.dfa.start_state(&start::Config::new().anchored(Anchored::Yes)).ok()?;
        Some(Side::Matching(state))
    }

    /// The side after one more byte; `None` when no extension can match any more. Matches
    /// show one byte late: reaching a match state means the input before `byte` matched.
    fn step(&self, side: Side, byte: u8) -> Option<Side> {
        let Side::Matching(state) = side else { return Some(Side::Matched) };
        let next = self.dfa.next_state(state, byte);
        if self.dfa.is_match_state(next) {
            Some(Side::Matched)
        } else if self.dfa.is_dead_state(next) || self.dfa.is_quit_state(next) {
            None
        } else {
            Some(Side::Matching(next))
        }
    }

    /// Whether the input so far, as a whole ID, is claimed.
    fn claims_at_end(&self, side: Side) -> bool {
        match side {
            Side::Matched => true,
            Side::Matching(state) => self.dfa.is_match_state(self.dfa.next_eoi_state(state)),
        }
    }
}

/// Breadth-first search for an input both patterns claim; `None` when undecided.
fn product_overlap(a: &Dfa, b: &Dfa) -> Option<bool> {
    let bytes = representatives(a, b);
    let first = (a.start()?, b.start()?);
    let mut seen = HashSet::from([first]);
    let mut queue = VecDeque::from([first]);
    while let Some((x, y)) = queue.pop_front() {
        if a.claims_at_end(x) && b.claims_at_end(y) {
            return Some(true);
        }
        for &byte in &bytes {
            let (Some(x), Some(y)) = (a.step(x, byte), b.step(y, byte)) else { continue };
            if seen.insert((x, y)) {
                if seen.len() > MAX_PAIRS {
                    return None;
                }
                queue.push_back((x, y));
            }
        }
    }
    Some(false)
}

/// The bytes where the byte class of either DFA changes from the byte before: every pair
/// of classes the two DFAs tell apart starts at one of them, and a DFA treats every byte of a
/// class alike, so stepping the others would only reach pairs of states already reached.
fn representatives(a: &Dfa, b: &Dfa) -> Vec<u8> {
    let (classes_a, classes_b) = (a.dfa.byte_classes(), b.dfa.byte_classes());
    let differs = |byte: u8| {
        classes_a.get(byte) != classes_a.get(byte - 1) || classes_b.get(byte) != classes_b.get(byte - 1)
    };
    std::iter::once(0).chain((1..=u8::MAX).filter(|&byte| differs(byte))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_of_each_other_overlap() {
        assert!(overlap(r"@irc_.*", r"@irc_.*"));
        assert!(overlap(r"@irc_.*", r"@irc_libera_.*:example\.com"));
        assert!(overlap(r"@irc_libera_.*:example\.com", r"@irc_.*"));
        // re.match anchors at the start only: `@irc` claims `@irc_anything` too.
        assert!(overlap(r"@irc", r"@irc_bot:example\.com"));
        assert!(overlap(r"@[a-z]+_.*", r"@tg_.*"));
        assert!(overlap(r"(?i)@IRC_.*", r"@irc_x"));
        assert!(overlap(r"@.*:example\.com", r"@libera_.*:example\.com"));
    }

    #[test]
    fn distinct_prefixes_or_domains_do_not_overlap() {
        assert!(!overlap(r"@libera_.*:example\.com", r"@oftc_.*:example\.com"));
        assert!(!overlap(r"@irc_.*:example\.com$", r"@irc_.*:other\.org$"));
        // Without `$` the first claims `@irc_:example.com:other.org` too, as does the second.
        assert!(overlap(r"@irc_.*:example\.com", r"@irc_.*:other\.org$"));
        assert!(!overlap(r"@irc_[0-9]+$", r"@irc_[a-z]+$"));
        assert!(!overlap(r"#libera_.*", r"@libera_.*"));
    }

    #[test]
    fn end_anchors_are_respected() {
        assert!(!overlap(r"@a$", r"@ab"));
        assert!(overlap(r"@a$", r"@a"));
        assert!(overlap(r"@a\Z", r"@.*"));
    }

    #[test]
    fn distinct_literal_prefixes_decide_without_building_a_dfa() {
        let (irc, oftc) = (claim(r"@irc_.*:example\.com"), claim(r"@oftc_.*"));
        assert_eq!(irc.checked.prefixes, Some(vec![b"@irc_".to_vec()]));
        assert!(!irc.overlaps(&oftc));
        assert!(irc.dfa.get().is_none() && oftc.dfa.get().is_none());
        // Compatible prefixes leave it to the DFAs.
        let (any, bob) = (claim(r"@.*"), claim(r"@irc_bob:example\.com$"));
        assert!(any.overlaps(&irc) && irc.overlaps(&bob));
        assert!(irc.dfa.get().is_some_and(Option::is_some));
        // Alternatives and case-insensitive letters give several prefixes.
        let either = claim(r"(?i)@(IRC|tg)_.*");
        assert!(either.overlaps(&irc) && either.overlaps(&claim(r"@tG_x")));
        assert!(!either.overlaps(&oftc));
        // A class too large to list ends the prefix, or leaves it unknown.
        assert_eq!(claim(r"@\w+_bot").checked.prefixes, Some(vec![b"@".to_vec()]));
        assert_eq!(claim(r"\w+_bot").checked.prefixes, None);
    }

    #[test]
    fn the_prefix_shortcut_agrees_with_the_dfas_on_every_pair() {
        let patterns = [
            r"@irc_.*",
            r"@irc_libera_.*:example\.com",
            r"@irc",
            r"@i.*",
            r"@[a-z]+_.*",
            r"(?i)@IRC_.*",
            r"@(irc|tg)_[0-9]+$",
            r"@tg_.*",
            r"@\w+_bot",
            r"\w+_bot",
            r"#irc_.*",
            r"@.*:example\.com",
            r"@a$",
            r"@ab",
            r"@a?b.*",
            r"@(?:x|xy)z",
            r"@xy",
            r"",
        ];
        let claims: Vec<Claim> = patterns.iter().map(|pattern| claim(pattern)).collect();
        for (a, claim_a) in patterns.iter().zip(&claims) {
            for (b, claim_b) in patterns.iter().zip(&claims) {
                let by_dfa = a == b
                    || match (claim_a.dfa(), claim_b.dfa()) {
                        (Some(x), Some(y)) => product_overlap(x, y).unwrap_or(false),
                        _ => false,
                    };
                assert_eq!(claim_a.overlaps(claim_b), by_dfa, "{a:?} and {b:?}");
            }
        }
    }

    #[test]
    fn patterns_without_a_dfa_count_only_when_identical() {
        // A lookbehind has no DFA: the text decides.
        let lookbehind = r"@(?<=@)irc_.*";
        assert!(overlap(lookbehind, lookbehind));
        assert!(!overlap(lookbehind, r"@irc_x"));
    }
}
