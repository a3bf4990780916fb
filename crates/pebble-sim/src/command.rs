//! Pebble service command lines: shell-like words, with `[ ... ]` marking default
//! arguments (kept as ordinary arguments here, since starts never replace them).

/// Splits a command line into argv.
pub fn split(command: &str) -> Result<Vec<String>, String> {
    let words = shlex::split(command).ok_or_else(|| format!("cannot parse command {command:?}"))?;
    let mut argv = Vec::with_capacity(words.len());
    let mut in_defaults = false;
    for word in words {
        match word.as_str() {
            "[" if !in_defaults && !argv.is_empty() => in_defaults = true,
            "]" if in_defaults => in_defaults = false,
            "[" | "]" => return Err(format!("cannot parse command {command:?}: misplaced {word:?}")),
            _ => argv.push(word),
        }
    }
    if in_defaults {
        return Err(format!("cannot parse command {command:?}: missing \"]\""));
    }
    if argv.is_empty() {
        return Err("empty command".to_owned());
    }
    Ok(argv)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn splits_words_and_default_args() {
        assert_eq!(split("/start.py run [ --flag 'a b' ]").unwrap(), ["/start.py", "run", "--flag", "a b"]);
        assert!(split("/x [ y").is_err());
        assert!(split("[ y ]").is_err());
    }
}
