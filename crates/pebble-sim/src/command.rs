//! Pebble service command lines: shell-like words, with `[ ... ]` marking default
//! arguments (kept as ordinary arguments here, since starts never replace them). Errors are
//! Pebble's (`cannot parse service "s" command: ...`).

/// Splits a command line into argv (base words, then the default arguments).
pub fn split(command: &str) -> Result<Vec<String>, String> {
    let words = shlex::split(command).ok_or_else(|| "cannot split command: invalid quoting".to_owned())?;
    let mut argv = Vec::with_capacity(words.len());
    let (mut in_brackets, mut got_brackets) = (false, false);
    for (index, word) in words.into_iter().enumerate() {
        if in_brackets {
            match word.as_str() {
                "[" => return Err("cannot nest [ ... ] groups".to_owned()),
                "]" => in_brackets = false,
                _ => argv.push(word),
            }
            continue;
        }
        if got_brackets {
            return Err("cannot have any arguments after [ ... ] group".to_owned());
        }
        match word.as_str() {
            "[" if index == 0 => return Err("cannot start command with [ ... ] group".to_owned()),
            "[" => (in_brackets, got_brackets) = (true, true),
            "]" => return Err("cannot have ] outside of [ ... ] group".to_owned()),
            _ => argv.push(word),
        }
    }
    Ok(argv)
}

/// The argv of a service's command, with Pebble's error wording.
pub fn service_argv(name: &str, command: &str) -> Result<Vec<String>, String> {
    let argv = split(command).map_err(|e| format!("cannot parse service {name:?} command: {e}"))?;
    if argv.is_empty() {
        return Err(format!("cannot parse service {name:?} command: empty command"));
    }
    Ok(argv)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn splits_words_and_default_args_like_pebble() {
        assert_eq!(split("/start.py run [ --flag 'a b' ]").unwrap(), ["/start.py", "run", "--flag", "a b"]);
        assert_eq!(split("/x [ y").unwrap(), ["/x", "y"], "Pebble does not insist on the closing ]");
        assert_eq!(split("[ y ]").unwrap_err(), "cannot start command with [ ... ] group");
        assert_eq!(split("/x [ y ] z").unwrap_err(), "cannot have any arguments after [ ... ] group");
        assert_eq!(split("/x [ [ y ] ]").unwrap_err(), "cannot nest [ ... ] groups");
        assert_eq!(split("/x ]").unwrap_err(), "cannot have ] outside of [ ... ] group");
        assert!(split("").unwrap().is_empty());
    }
}
