//! Email syntax validation and normalisation, following the rules of the Python
//! `email-validator` package as regstack 0.9.3 uses it (deliverability checks off;
//! regstack 0.9.3's HTTP API).

use unicode_normalization::UnicodeNormalization as _;

/// Longest accepted input string.
pub const MAX_INPUT_CHARS: usize = 2048;

/// Why an address was refused; the text is the `reason` of the 422 envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidEmail(pub String);

fn invalid(reason: impl Into<String>) -> InvalidEmail {
    InvalidEmail(reason.into())
}

const SPECIAL_USE: [&str; 6] = ["arpa", "invalid", "local", "localhost", "onion", "test"];

/// RFC 2142 role mailboxes, which are matched case-insensitively and so lower-cased.
const ROLE_MAILBOXES: [&str; 15] = [
    "info",
    "marketing",
    "sales",
    "support",
    "abuse",
    "noc",
    "security",
    "postmaster",
    "hostmaster",
    "usenet",
    "news",
    "webmaster",
    "www",
    "uucp",
    "ftp",
];

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+-/=?^_`{|}~".contains(c)
        || (!c.is_ascii() && !c.is_control() && !c.is_whitespace())
}

/// Validate `input` and return the normalised address.
pub fn normalize(input: &str) -> Result<String, InvalidEmail> {
    if input.chars().count() > MAX_INPUT_CHARS {
        return Err(invalid("The email address is too long."));
    }
    let mut addr = input.trim();
    // Display-name form: `Name <addr@host>`.
    if let (Some(open), true) = (addr.rfind('<'), addr.ends_with('>')) {
        addr = addr[open + 1..addr.len() - 1].trim();
    }
    let Some(at) = addr.rfind('@') else {
        return Err(invalid("An email address must have an @-sign."));
    };
    let (local, domain) = (&addr[..at], &addr[at + 1..]);
    if local.is_empty() {
        return Err(invalid("There must be something before the @-sign."));
    }
    if domain.is_empty() {
        return Err(invalid("There must be something after the @-sign."));
    }
    let local = validate_local(local)?;
    let domain = validate_domain(domain)?;
    let normalized = format!("{local}@{domain}");
    if normalized.chars().count() > 254 {
        return Err(invalid(format!(
            "The email address is too long ({} characters too many).",
            normalized.chars().count() - 254
        )));
    }
    Ok(normalized)
}

fn validate_local(local: &str) -> Result<String, InvalidEmail> {
    if local.starts_with('"') {
        return Err(invalid(
            "Quoting the part before the @-sign is not allowed here.",
        ));
    }
    let local: String = local.nfc().collect();
    let n = local.chars().count();
    if n > 64 {
        return Err(invalid(format!(
            "The email address is too long before the @-sign ({} characters too many).",
            n - 64
        )));
    }
    let bad: Vec<char> = local
        .chars()
        .filter(|c| *c != '.' && !is_atext(*c))
        .collect();
    if !bad.is_empty() {
        let mut uniq: Vec<char> = Vec::new();
        for c in bad {
            if !uniq.contains(&c) {
                uniq.push(c);
            }
        }
        let shown: Vec<String> = uniq.iter().map(|c| format!("{c}")).collect();
        return Err(invalid(format!(
            "The email address contains invalid characters before the @-sign: {}.",
            shown.join(", ")
        )));
    }
    let unsafe_chars: Vec<String> = local
        .chars()
        .enumerate()
        .filter(|&(i, c)| is_unsafe(c, i == 0))
        .map(|(_, c)| format!("U+{:04X}", u32::from(c)))
        .collect();
    if !unsafe_chars.is_empty() {
        return Err(invalid(format!(
            "The email address contains unsafe characters: {}.",
            unsafe_chars.join(", ")
        )));
    }
    if local.starts_with('.') {
        return Err(invalid("An email address cannot start with a period."));
    }
    if local.ends_with('.') {
        return Err(invalid(
            "An email address cannot have a period immediately before the @-sign.",
        ));
    }
    if local.contains("..") {
        return Err(invalid(
            "An email address cannot have two periods in a row.",
        ));
    }
    if ROLE_MAILBOXES.contains(&local.to_lowercase().as_str()) {
        return Ok(local.to_lowercase());
    }
    Ok(local)
}

/// email-validator's `check_unsafe_chars` for a non-ASCII local part: format characters (Cf,
/// e.g. bidirectional marks and overrides, which make an address render as another one),
/// private-use and unassigned code points, and a combining mark in first position are refused.
/// (Controls and spaces are already refused as non-atext.)
fn is_unsafe(c: char, first: bool) -> bool {
    use unicode_normalization::char::{is_combining_mark, is_public_assigned};
    if c.is_ascii() {
        return false;
    }
    let format = matches!(
        u32::from(c),
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    );
    format || !is_public_assigned(c) || (first && is_combining_mark(c))
}

fn validate_domain(domain: &str) -> Result<String, InvalidEmail> {
    if domain.starts_with('[') {
        return Err(invalid(
            "A bracketed IP address after the @-sign is not allowed here.",
        ));
    }
    if domain.contains('@') {
        return Err(invalid(
            "The part after the @-sign contains invalid characters: '@'.",
        ));
    }
    if domain.starts_with('.') {
        return Err(invalid(
            "An email address cannot have a period immediately after the @-sign.",
        ));
    }
    if domain.ends_with('.') {
        return Err(invalid("An email address cannot end with a period."));
    }
    if domain.contains("..") {
        return Err(invalid(
            "An email address cannot have two periods in a row.",
        ));
    }
    if domain.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "The part after the @-sign contains invalid characters.",
        ));
    }
    let ascii = idna::domain_to_ascii_strict(domain)
        .map_err(|_| invalid("The part after the @-sign is not valid IDNA."))?;
    if ascii.len() > 253 {
        return Err(invalid("The email address is too long after the @-sign."));
    }
    for label in ascii.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(invalid("The part after the @-sign is not valid."));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid(
                "An email address cannot have a hyphen immediately before or after a period.",
            ));
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(invalid(
                "The part after the @-sign contains invalid characters.",
            ));
        }
    }
    if !ascii.contains('.') {
        return Err(invalid(
            "The part after the @-sign is not valid. It should have a period.",
        ));
    }
    let tld = ascii.rsplit('.').next().unwrap_or_default();
    if tld.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid(
            "The part after the @-sign is not valid. It is not within a valid top-level domain.",
        ));
    }
    if SPECIAL_USE
        .iter()
        .any(|s| ascii == *s || ascii.ends_with(&format!(".{s}")))
    {
        return Err(invalid(
            "The part after the @-sign is a special-use or reserved name that cannot be used with email.",
        ));
    }
    let (unicode, result) = idna::domain_to_unicode(&ascii);
    result.map_err(|_| invalid("The part after the @-sign is not valid IDNA."))?;
    Ok(unicode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises() {
        for (input, want) in [
            ("alice@example.com", "alice@example.com"),
            ("Alice@Example.COM", "Alice@example.com"),
            ("  bob@example.com ", "bob@example.com"),
            ("Bob Smith <bob@example.com>", "bob@example.com"),
            ("Postmaster@example.com", "postmaster@example.com"),
            ("user+tag@sub.example.co.uk", "user+tag@sub.example.co.uk"),
            ("x@foo.example", "x@foo.example"),
            ("jörg@bücher.de", "jörg@bücher.de"),
            ("jörg@XN--BCHER-KVA.de", "jörg@bücher.de"),
            ("o'brien@example.com", "o'brien@example.com"),
        ] {
            assert_eq!(normalize(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn refuses_bad_addresses() {
        for input in [
            "",
            "plainaddress",
            "@example.com",
            "alice@",
            "alice@localhost",
            "alice@example",
            "alice@foo.test",
            "alice@foo.local",
            "alice@[127.0.0.1]",
            "\"quoted\"@example.com",
            "a..b@example.com",
            ".a@example.com",
            "a.@example.com",
            "a b@example.com",
            "a@-example.com",
            "a@exa mple.com",
            "a@example.123",
            "a\u{200F}b@example.com",
            "a\u{202E}b@example.com",
            "a\u{00AD}b@example.com",
            "a\u{E000}@example.com",
            "\u{0308}a@example.com",
        ] {
            assert!(normalize(input).is_err(), "{input} should be refused");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(normalize(&long_local).is_err());
        let huge = format!("{}@example.com", "a".repeat(3000));
        assert!(normalize(&huge).is_err());
    }
}
