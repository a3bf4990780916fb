//! Python `re` patterns, checked the way Synapse will compile them.
//!
//! Synapse compiles every namespace regex with Python's `re`, and at start-up it also compiles
//! all exclusive user regexes joined as `(r1)|(r2)|…`; either failing stops the homeserver.
//! A pattern is translated from Python syntax to `fancy-regex` syntax (which adds lookaround,
//! atomic groups and possessive repeats to Rust's regex) and compiled. The translation follows
//! Python's parser for escapes, character sets, `{` repeats and `(?…)` extensions, so that a
//! pattern is accepted only if Python accepts it. A few rare Python features are refused
//! instead of translated: named groups and backreferences (they break when patterns are
//! joined), conditional groups, `\N{…}`, the ASCII (`a`) and verbose (`x`) flags.

use std::fmt::Write as _;

/// Why a namespace regex was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// Python would raise `re.error` (the reason is Python's wording where it has one).
    #[error("{0}")]
    Invalid(String),
    /// Valid in Python, but not accepted by this implementation.
    #[error("{0} are not supported")]
    Unsupported(&'static str),
}

/// What a valid pattern looks like once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    /// It starts with global inline flags such as `(?i)`, which Python refuses once the
    /// pattern is wrapped in a group (as Synapse does for exclusive user regexes).
    pub(crate) has_global_flags: bool,
    /// The same pattern in `fancy-regex` syntax (Rust's regex syntax where it uses no
    /// lookaround, atomic group or possessive repeat).
    pub(crate) translated: String,
    /// The literals every match starts with one of, when there are finitely many and the
    /// pattern is in Rust's regex syntax.
    pub(crate) prefixes: Option<Vec<Vec<u8>>>,
}

/// Checks that Python's `re.compile(pattern)` succeeds.
pub(crate) fn check(pattern: &str) -> Result<Pattern, PatternError> {
    let mut translator = Translator {
        chars: pattern.chars().collect(),
        pos: 0,
        out: String::new(),
        groups: Vec::new(),
        globals_only: true,
        has_global_flags: false,
    };
    translator.run()?;
    let invalid = |error: fancy_regex::Error| PatternError::Invalid(error.to_string());
    fancy_regex::Expr::parse_tree(&translator.out).map_err(invalid)?;
    // A translation in Rust's own regex syntax (most are) is checked by parsing it, which is
    // all Python does; only lookaround, atomic groups and possessive repeats need compiling
    // with `fancy-regex` (tens of microseconds each) to be checked.
    let prefixes = match regex_syntax::parse(&translator.out) {
        Ok(hir) => literal_prefixes(&hir),
        Err(_) => {
            fancy_regex::Regex::new(&translator.out).map_err(invalid)?;
            None
        }
    };
    Ok(Pattern { has_global_flags: translator.has_global_flags, translated: translator.out, prefixes })
}

/// The literals every match of `hir` starts with one of, when there are finitely many.
fn literal_prefixes(hir: &regex_syntax::hir::Hir) -> Option<Vec<Vec<u8>>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let prefixes = Extractor::new().kind(ExtractKind::Prefix).extract(hir);
    Some(prefixes.literals()?.iter().map(|literal| literal.as_bytes().to_vec()).collect())
}

fn invalid(reason: impl Into<String>) -> PatternError {
    PatternError::Invalid(reason.into())
}

struct Translator {
    chars: Vec<char>,
    pos: usize,
    out: String,
    /// Open groups: the output offset of a lookbehind's body, `None` for other groups.
    groups: Vec<Option<usize>>,
    /// Nothing but global flag groups has been seen so far.
    globals_only: bool,
    has_global_flags: bool,
}

impl Translator {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn eat(&mut self, expected: char) -> bool {
        let found = self.peek() == Some(expected);
        if found {
            self.pos += 1;
        }
        found
    }

    fn literal(&mut self, c: char) {
        let _ = write!(self.out, "\\x{{{:X}}}", c as u32);
    }

    fn run(&mut self) -> Result<(), PatternError> {
        while let Some(c) = self.next() {
            if c != '(' {
                self.globals_only = false;
            }
            match c {
                '\\' => self.escape(false)?,
                '[' => self.class()?,
                '(' => self.group()?,
                ')' => {
                    if let Some(Some(body)) = self.groups.pop() {
                        check_fixed_width(&self.out[body..])?;
                    }
                    self.out.push(')');
                }
                '{' => self.brace()?,
                '}' => self.out.push_str("\\}"),
                c => self.out.push(c),
            }
        }
        Ok(())
    }

    /// Up to `max` digits of `radix` as a code point, or an error naming the escape.
    fn code_point(&mut self, digits: usize, radix: u32, name: char) -> Result<char, PatternError> {
        let text: String = self.chars.iter().skip(self.pos).take(digits).collect();
        if text.chars().count() != digits || !text.chars().all(|c| c.is_digit(radix)) {
            return Err(invalid(format!("incomplete escape \\{name}")));
        }
        self.pos += digits;
        let value = u32::from_str_radix(&text, radix).map_err(|_| invalid(format!("bad escape \\{name}")))?;
        char::from_u32(value).ok_or(PatternError::Unsupported("surrogate or out-of-range code points"))
    }

    /// `\0`, `\01`, `\012`: octal, at most three digits, at most `\377`.
    fn octal(&mut self, first: char) -> Result<char, PatternError> {
        let mut value = first.to_digit(8).unwrap_or(0);
        for _ in 0..2 {
            match self.peek().and_then(|c| c.to_digit(8)) {
                Some(digit) => {
                    value = value * 8 + digit;
                    self.pos += 1;
                }
                None => break,
            }
        }
        if value > 0o377 {
            return Err(invalid("octal escape value outside of range 0-0o377"));
        }
        char::from_u32(value).ok_or_else(|| invalid("bad octal escape"))
    }

    fn escape(&mut self, in_class: bool) -> Result<(), PatternError> {
        let c = self.next().ok_or_else(|| invalid("bad escape (end of pattern)"))?;
        let translated = match c {
            'd' | 'D' | 's' | 'S' | 'w' | 'W' | 'f' | 'n' | 'r' | 't' => format!("\\{c}"),
            'A' | 'b' | 'B' if !in_class => format!("\\{c}"),
            'Z' if !in_class => "\\z".to_string(),
            'b' => "\\x{8}".to_string(),
            'a' => "\\x{7}".to_string(),
            'v' => "\\x{B}".to_string(),
            'x' => return self.code_point(2, 16, 'x').map(|c| self.literal(c)),
            'u' => return self.code_point(4, 16, 'u').map(|c| self.literal(c)),
            'U' => return self.code_point(8, 16, 'U').map(|c| self.literal(c)),
            'N' => return Err(PatternError::Unsupported("named Unicode escapes (\\N{...})")),
            '0' => return self.octal('0').map(|c| self.literal(c)),
            '1'..='7' if in_class => return self.octal(c).map(|c| self.literal(c)),
            '1'..='9' => {
                // Three octal digits make an octal escape; anything else is a group reference.
                let octal = c <= '7'
                    && self.chars.get(self.pos).is_some_and(|d| d.is_digit(8))
                    && self.chars.get(self.pos + 1).is_some_and(|d| d.is_digit(8));
                if octal {
                    return self.octal(c).map(|c| self.literal(c));
                }
                if in_class {
                    return Err(invalid(format!("bad escape \\{c}")));
                }
                return Err(PatternError::Unsupported("backreferences"));
            }
            c if c.is_ascii_alphanumeric() => return Err(invalid(format!("bad escape \\{c}"))),
            c => {
                self.literal(c);
                return Ok(());
            }
        };
        self.out.push_str(&translated);
        Ok(())
    }

    /// A `[...]` set: Python has no nested sets or set operations, so `[`, `&`, `~` are literal.
    fn class(&mut self) -> Result<(), PatternError> {
        self.out.push('[');
        if self.eat('^') {
            self.out.push('^');
        }
        if self.eat(']') {
            self.out.push_str("\\]");
        }
        loop {
            match self.next() {
                None => return Err(invalid("unterminated character set")),
                Some(']') => break,
                Some('\\') => self.escape(true)?,
                Some(c @ ('[' | '&' | '~' | '^')) => self.literal(c),
                Some(c) => self.out.push(c),
            }
        }
        self.out.push(']');
        Ok(())
    }

    /// Python reads `{m,n}`, `{m}`, `{,n}`, `{m,}` as repeats and any other `{` as a literal.
    fn brace(&mut self) -> Result<(), PatternError> {
        let start = self.pos;
        let digits = |t: &mut Self| {
            let mut text = String::new();
            while let Some(d) = t.peek().filter(char::is_ascii_digit) {
                text.push(d);
                t.pos += 1;
            }
            text
        };
        let low = digits(self);
        let high = if self.eat(',') { Some(digits(self)) } else { None };
        if (low.is_empty() && high.is_none()) || !self.eat('}') {
            self.pos = start;
            self.out.push_str("\\{");
            return Ok(());
        }
        // Python's limit is MAXREPEAT (2^32 - 1), exclusive.
        let count = |text: &str| match text.parse::<u64>() {
            Ok(n) if n < u64::from(u32::MAX) => Ok(Some(n)),
            Ok(_) | Err(_) if text.is_empty() => Ok(None),
            _ => Err(invalid("the repetition number is too large")),
        };
        let min = count(&low)?.unwrap_or(0);
        match high {
            None => {
                let _ = write!(self.out, "{{{min}}}");
            }
            Some(high) => match count(&high)? {
                Some(max) if max < min => return Err(invalid("min repeat greater than max repeat")),
                Some(max) => {
                    let _ = write!(self.out, "{{{min},{max}}}");
                }
                None => {
                    let _ = write!(self.out, "{{{min},}}");
                }
            },
        }
        Ok(())
    }

    fn group(&mut self) -> Result<(), PatternError> {
        let at_start = self.globals_only;
        self.globals_only = false;
        if !self.eat('?') {
            self.out.push('(');
            self.groups.push(None);
            return Ok(());
        }
        match self.next() {
            Some(c @ (':' | '=' | '!' | '>')) => {
                let _ = write!(self.out, "(?{c}");
                self.groups.push(None);
            }
            Some('<') => match self.next() {
                Some(c @ ('=' | '!')) => {
                    let _ = write!(self.out, "(?<{c}");
                    self.groups.push(Some(self.out.len()));
                }
                _ => return Err(invalid("unknown extension ?<")),
            },
            Some('P') => {
                return Err(match self.peek() {
                    Some('<') => PatternError::Unsupported("named groups"),
                    Some('=') => PatternError::Unsupported("backreferences"),
                    _ => invalid("unknown extension ?P"),
                })
            }
            Some('#') => {
                while let Some(c) = self.next() {
                    if c == ')' {
                        self.globals_only = at_start;
                        return Ok(());
                    }
                }
                return Err(invalid("missing ), unterminated comment"));
            }
            Some('(') => return Err(PatternError::Unsupported("conditional groups")),
            Some(c) if "aiLmsux-".contains(c) => {
                self.pos -= 1;
                self.flags(at_start)?;
            }
            _ => return Err(invalid("unknown extension")),
        }
        Ok(())
    }

    /// `(?imsu)` at the very start, or `(?ims-ims:...)` anywhere.
    fn flags(&mut self, at_start: bool) -> Result<(), PatternError> {
        let read = |t: &mut Self| {
            let mut letters = String::new();
            while let Some(c) = t.peek().filter(|c| c.is_ascii_alphabetic()) {
                letters.push(c);
                t.pos += 1;
            }
            letters
        };
        let on = read(self);
        let off = if self.eat('-') { Some(read(self)) } else { None };
        let global = match self.next() {
            Some(')') if off.is_none() => true,
            Some(':') => false,
            Some(')') => return Err(invalid("missing :")),
            _ => return Err(invalid("missing -, : or )")),
        };
        let mut kept = String::new();
        for c in on.chars() {
            match c {
                'i' | 'm' | 's' => kept.push(c),
                'u' => {}
                'a' => return Err(PatternError::Unsupported("ASCII-only (?a) flags")),
                'x' => return Err(PatternError::Unsupported("verbose (?x) flags")),
                'L' => return Err(invalid("bad inline flags: cannot use 'locale' flag with a str pattern")),
                _ => return Err(invalid("unknown flag")),
            }
        }
        let mut removed = String::new();
        if let Some(off) = &off {
            if off.is_empty() {
                return Err(invalid("missing flag"));
            }
            for c in off.chars() {
                match c {
                    'i' | 'm' | 's' => removed.push(c),
                    'x' => return Err(PatternError::Unsupported("verbose (?x) flags")),
                    'a' | 'u' | 'L' => {
                        return Err(invalid("bad inline flags: cannot turn off flags 'a', 'u' and 'L'"))
                    }
                    _ => return Err(invalid("unknown flag")),
                }
                if on.contains(c) {
                    return Err(invalid("bad inline flags: flag turned on and off"));
                }
            }
        }
        if global {
            if !at_start {
                return Err(invalid("global flags not at the start of the expression"));
            }
            self.globals_only = true;
            self.has_global_flags = true;
            if !kept.is_empty() {
                let _ = write!(self.out, "(?{kept})");
            }
        } else {
            self.groups.push(None);
            if removed.is_empty() {
                let _ = write!(self.out, "(?{kept}:");
            } else {
                let _ = write!(self.out, "(?{kept}-{removed}:");
            }
        }
        Ok(())
    }
}

/// Python accepts only lookbehinds of one fixed width. Widths are measured in UTF-8 bytes
/// here, so a lookbehind over alternatives of different non-ASCII characters is refused.
fn check_fixed_width(body: &str) -> Result<(), PatternError> {
    let hir = regex_syntax::Parser::new().parse(body).map_err(|_| {
        PatternError::Unsupported("lookarounds, atomic groups or possessive repeats inside a lookbehind")
    })?;
    let properties = hir.properties();
    match (properties.minimum_len(), properties.maximum_len()) {
        (Some(min), Some(max)) if min == max => Ok(()),
        _ => Err(invalid("look-behind requires fixed-width pattern")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_bridges_use() {
        for pattern in [
            r"@libera_.*:example\.com",
            r"#libera_.*:matrix\.example\.org",
            r"@_discord_[0-9]+:example\.org",
            r"@(?!bot)[a-z]+:x\.y",
            r"(?<=@)irc_.*",
            r"(?i)@telegram_.+",
            r"[a-z\-_.=/]+",
            r"a{,3}b{2,}c{}",
            r"[]a]",
            r"\@\:\ \é",
            r"[\1\x41\u00e9]",
            r"(?#comment)x",
            r"a*+b++",
            r"(?i)(?m)x",
            r"(?-i:x)",
            r"\Z",
            r"(?<=ab|cd)x",
            r"(?<![a-z]{3})x",
        ] {
            assert!(check(pattern).is_ok(), "{pattern}: {:?}", check(pattern));
        }
    }

    #[test]
    fn refuses_what_python_refuses() {
        for pattern in [
            r"\z",
            r"\p{L}",
            r"\x{41}",
            r"\h",
            r"\K",
            r"(?<name>x)",
            r"a(?i)",
            r"((?i)a)",
            r"(?i-i:a)",
            r"(?<=a|bc)",
            r"[]",
            r"a**",
            r"a{3,2}",
            r"(unclosed",
            r"[\8]",
            r"(?U)x",
            "trailing\\",
        ] {
            assert!(
                matches!(check(pattern), Err(PatternError::Invalid(_))),
                "{pattern}: {:?}",
                check(pattern)
            );
        }
    }

    #[test]
    fn refuses_rare_features_it_does_not_translate() {
        assert_eq!(check(r"(?P<n>x)").unwrap_err(), PatternError::Unsupported("named groups"));
        assert_eq!(check(r"(x)\1").unwrap_err(), PatternError::Unsupported("backreferences"));
        assert_eq!(check(r"\8").unwrap_err(), PatternError::Unsupported("backreferences"));
        assert_eq!(check(r"(?x) a").unwrap_err(), PatternError::Unsupported("verbose (?x) flags"));
        assert_eq!(
            check(r"\N{DIGIT ONE}").unwrap_err(),
            PatternError::Unsupported("named Unicode escapes (\\N{...})")
        );
    }

    #[test]
    fn reports_global_flags() {
        assert!(check("(?i)x").unwrap().has_global_flags);
        assert!(check("(?u)x").unwrap().has_global_flags);
        assert!(!check("(?i:x)").unwrap().has_global_flags);
    }
}
