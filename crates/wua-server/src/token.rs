//! Tokens and enrolment keys: `wua_<kind>_<id>_<secret>`, where `id` (64 bits, hex) names the
//! row and `secret` is 256 random bits (hex). The server stores only the SHA-256 digest of the
//! secret and compares digests in constant time; a token is shown once, when it is made, and
//! never logged ([`Secret`] hides it from `Debug`).

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// What a token is for: its prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// An administrator's (`wua_a_`).
    Admin,
    /// A computer's (`wua_c_`).
    Computer,
    /// An enrolment key (`wua_e_`).
    Enrolment,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            TokenKind::Admin => "wua_a_",
            TokenKind::Computer => "wua_c_",
            TokenKind::Enrolment => "wua_e_",
        }
    }
}

/// A token as presented: its id and the secret to check.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    /// The row id.
    pub id: String,
    secret: [u8; 32],
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({}, ...)", self.id)
    }
}

impl Secret {
    /// The SHA-256 digest stored for this secret.
    pub fn digest(&self) -> [u8; 32] {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.secret);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }

    /// Whether this secret's digest is `stored`, compared in constant time.
    pub fn matches(&self, stored: &[u8]) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.digest(), stored).is_ok()
    }
}

/// A new token of `kind`: the text to hand out once, and its parsed form.
pub fn generate(kind: TokenKind) -> Result<(String, Secret), aws_lc_rs::error::Unspecified> {
    let rng = SystemRandom::new();
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    rng.fill(&mut id)?;
    rng.fill(&mut secret)?;
    let id = hex::encode(id);
    Ok((format!("{}{}_{}", kind.prefix(), id, hex::encode(secret)), Secret { id, secret }))
}

/// Parses a presented token of `kind`; `None` for anything else (another kind, bad length,
/// not hex).
pub fn parse(kind: TokenKind, text: &str) -> Option<Secret> {
    let rest = text.strip_prefix(kind.prefix())?;
    let (id, secret) = rest.split_once('_')?;
    if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return None;
    }
    let bytes = hex::decode(secret).ok()?;
    let secret: [u8; 32] = bytes.try_into().ok()?;
    Some(Secret { id: id.to_owned(), secret })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_parses_back_and_matches_only_its_digest() {
        let (text, secret) = generate(TokenKind::Computer).unwrap();
        assert_eq!(text.len(), 6 + 16 + 1 + 64);
        let parsed = parse(TokenKind::Computer, &text).unwrap();
        assert_eq!(parsed, secret);
        assert!(parsed.matches(&secret.digest()));
        let (_, other) = generate(TokenKind::Computer).unwrap();
        assert!(!parsed.matches(&other.digest()));
        assert!(parse(TokenKind::Admin, &text).is_none());
        assert!(!format!("{parsed:?}").contains(&text[23..]));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in ["", "wua_c_", "wua_c_0123456789abcdef", "wua_c_0123456789abcdef_zz", "wua_c_XYZ_00"] {
            assert!(parse(TokenKind::Computer, bad).is_none(), "{bad}");
        }
        let long = format!("wua_c_0123456789abcdef_{}", "0".repeat(66));
        assert!(parse(TokenKind::Computer, &long).is_none());
    }
}
