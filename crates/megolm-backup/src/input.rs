//! Reading secrets and data from stdin or files.

use std::{io::Read, path::Path};

use zeroize::Zeroizing;

use crate::fatal::Fatal;

/// Strips exactly one trailing `\n` or `\r\n`, nothing else: a passphrase may begin or
/// end with spaces.
pub(crate) fn strip_one_newline(mut s: String) -> Zeroizing<String> {
    if s.ends_with("\r\n") {
        s.truncate(s.len() - 2);
    } else if s.ends_with('\n') {
        s.truncate(s.len() - 1);
    }
    Zeroizing::new(s)
}

/// Reads a secret from standard input.
pub(crate) fn secret_from_stdin() -> Result<Zeroizing<String>, Fatal> {
    let mut buf = String::new();
    std::io::stdin()
        .read_to_string(&mut buf)
        .map_err(|e| Fatal::new(format!("cannot read standard input: {e}")))?;
    Ok(strip_one_newline(buf))
}

/// Reads a secret from a file (`-` for standard input), given with `option`. A name that
/// is no file is not echoed: it is often the secret itself (a password, token or phrase
/// typed where the file name goes), and error messages end up in terminals and logs.
pub(crate) fn secret_from_file(path: &Path, option: &str) -> Result<Zeroizing<String>, Fatal> {
    if path == Path::new("-") {
        return secret_from_stdin();
    }
    let buf = std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Fatal::new(format!(
                "{option}: no file has the name given (the name is not shown: it may be the \
                 secret itself, typed where a file name goes). Put the key, phrase, password \
                 or token in a file and give that file's name, or pipe it to stdin"
            ))
        } else {
            Fatal::new(format!("{option}: cannot read {}: {e}", path.display()))
        }
    })?;
    Ok(strip_one_newline(buf))
}

/// Asks for a secret on the terminal without echo. Fails with advice when there is no
/// terminal (a script should pass a file instead).
pub(crate) fn prompt_secret(prompt: &str, file_flag: &str) -> Result<Zeroizing<String>, Fatal> {
    rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .map_err(|e| {
            Fatal::new(format!(
                "cannot prompt for the passphrase ({e}); give it with {file_flag} FILE"
            ))
        })
}

/// A passphrase from a file when given, else from a prompt; with `confirm`, the prompt
/// asks twice and the two must match.
pub(crate) fn passphrase(
    file: Option<&Path>,
    prompt: &str,
    file_flag: &str,
    confirm: bool,
) -> Result<Zeroizing<String>, Fatal> {
    if let Some(path) = file {
        return secret_from_file(path, file_flag);
    }
    let first = prompt_secret(prompt, file_flag)?;
    if confirm {
        let again = prompt_secret("Enter it again: ", file_flag)?;
        if *again != *first {
            return Err(Fatal::new("the two passphrases differ"));
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::strip_one_newline;

    #[test]
    fn only_one_newline_is_stripped() {
        assert_eq!(strip_one_newline(" pass \n".into()).as_str(), " pass ");
        assert_eq!(strip_one_newline(" pass \r\n".into()).as_str(), " pass ");
        assert_eq!(strip_one_newline("pass\n\n".into()).as_str(), "pass\n");
        assert_eq!(strip_one_newline("pass".into()).as_str(), "pass");
        assert_eq!(strip_one_newline("pass\r".into()).as_str(), "pass\r");
    }
}
