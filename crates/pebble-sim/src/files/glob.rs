//! Name patterns of `action=list` (Go's `filepath.Match`: `*`, `?`, `[a-z]`, `[^x]`, `\` escapes).

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(char),
    AnyChar,
    AnyRun,
    Class { negated: bool, ranges: Vec<(char, char)> },
}

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern(Vec<Token>);

/// Go's error text for a malformed pattern.
pub const BAD_PATTERN: &str = "syntax error in pattern";

impl Pattern {
    pub fn parse(pattern: &str) -> Result<Self, &'static str> {
        let mut chars = pattern.chars();
        let mut tokens = Vec::new();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => Token::AnyRun,
                '?' => Token::AnyChar,
                '\\' => Token::Literal(chars.next().ok_or(BAD_PATTERN)?),
                '[' => parse_class(&mut chars)?,
                other => Token::Literal(other),
            });
        }
        Ok(Pattern(tokens))
    }

    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        match_tokens(&self.0, &name)
    }
}

fn parse_class(chars: &mut std::str::Chars<'_>) -> Result<Token, &'static str> {
    let mut negated = false;
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let mut c = chars.next().ok_or(BAD_PATTERN)?;
        if first && c == '^' {
            negated = true;
            c = chars.next().ok_or(BAD_PATTERN)?;
        }
        if c == ']' && !first {
            return Ok(Token::Class { negated, ranges });
        }
        first = false;
        let lo = class_char(c, chars)?;
        let mut rest = chars.clone();
        let hi = if rest.next() == Some('-') && rest.clone().next() != Some(']') {
            chars.next();
            let c = chars.next().ok_or(BAD_PATTERN)?;
            class_char(c, chars)?
        } else {
            lo
        };
        if hi < lo {
            return Err(BAD_PATTERN);
        }
        ranges.push((lo, hi));
    }
}

fn class_char(c: char, chars: &mut std::str::Chars<'_>) -> Result<char, &'static str> {
    match c {
        '\\' => chars.next().ok_or(BAD_PATTERN),
        '-' | ']' => Err(BAD_PATTERN),
        other => Ok(other),
    }
}

fn match_tokens(tokens: &[Token], name: &[char]) -> bool {
    let Some((token, rest)) = tokens.split_first() else {
        return name.is_empty();
    };
    let first_is = |accept: &dyn Fn(char) -> bool| {
        name.first().is_some_and(|c| accept(*c)) && match_tokens(rest, &name[1..])
    };
    match token {
        Token::AnyRun => (0..=name.len())
            .take_while(|&i| i == 0 || name[i - 1] != '/')
            .any(|i| match_tokens(rest, &name[i..])),
        Token::Literal(literal) => first_is(&|c| c == *literal),
        Token::AnyChar => first_is(&|c| c != '/'),
        Token::Class { negated, ranges } => {
            first_is(&|c| c != '/' && ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        Pattern::parse(pattern).unwrap().matches(name)
    }

    #[test]
    fn matches_like_go() {
        assert!(m("*.yaml", "homeserver.yaml"));
        assert!(!m("*.yaml", "homeserver.yml"));
        assert!(m("h?me", "home"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[^a-c]x", "bx"));
        assert!(m("\\*", "*"));
        assert!(m("*", ""));
        assert!(!m("*", "a/b"));
    }

    #[test]
    fn rejects_bad_patterns() {
        assert_eq!(Pattern::parse("[").unwrap_err(), BAD_PATTERN);
        assert_eq!(Pattern::parse("[z-a]").unwrap_err(), BAD_PATTERN);
        assert_eq!(Pattern::parse("a\\").unwrap_err(), BAD_PATTERN);
    }
}
