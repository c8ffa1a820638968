//! Plain Bitcoin-alphabet base58, plus the heuristics that turn a failed decode
//! into advice a person can act on.

/// The Bitcoin base58 alphabet used by the Matrix "cryptographic key representation".
#[cfg(test)]
const ALPHABET: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Encodes bytes as plain base58 (Bitcoin alphabet, each leading zero byte → `1`).
pub fn encode_base58(bytes: &[u8]) -> String {
    bs58::encode(bytes).into_string()
}

/// The Bitcoin alphabet is the ASCII letters and digits without `0 O I l`.
pub(crate) fn is_base58_char(c: char) -> bool {
    c.is_ascii_alphanumeric() && !matches!(c, '0' | 'O' | 'I' | 'l')
}

/// Does `input` look like a passphrase (Element's "Security Phrase") rather than a
/// recovery key (Element's "Security Key")?
///
/// False for key-shaped text (48 characters starting "Es", any spacing): that is a
/// mistyped key. Otherwise true when the text has a character outside the base58 alphabet
/// other than whitespace (`0 O I l`, punctuation, non-ASCII letters), or when it is
/// several words whose lengths are not the groups of four a displayed key has. Used to
/// word error messages, and to keep a phrase's characters out of them.
pub fn looks_like_passphrase(input: &str) -> bool {
    // Key-shaped (48 characters starting "Es", whatever the spacing): a mistyped key,
    // not a phrase, even with a look-alike character in it.
    let mut key_chars = input
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(crate::ENCODED_LEN + 1);
    let starts_like_a_key = key_chars.next() == Some('E') && key_chars.next() == Some('s');
    if starts_like_a_key && key_chars.count() + 2 == crate::ENCODED_LEN {
        return false;
    }
    if input
        .chars()
        .any(|c| !c.is_whitespace() && !is_base58_char(c))
    {
        return true;
    }
    // Bounded work on huge input: a phrase is short, only look at its start.
    let words: Vec<&str> = input.split_whitespace().take(64).collect();
    if words.len() < 3 {
        return false;
    }
    // A displayed key is groups of four; a key copied with stray line breaks has a few
    // long runs. Several short words of other lengths read as a phrase.
    let odd = words[..words.len() - 1]
        .iter()
        .filter(|w| w.chars().count() != 4)
        .count();
    let compact: usize = words.iter().map(|w| w.chars().count()).sum();
    odd * 2 >= words.len() && compact != crate::ENCODED_LEN
}

#[cfg(test)]
mod tests {
    #[test]
    fn alphabet_check_matches_the_alphabet() {
        for c in '\0'..='\u{2FF}' {
            assert_eq!(
                super::is_base58_char(c),
                super::ALPHABET.contains(c),
                "{c:?}"
            );
        }
    }
}
