//! Debian version ordering, as `dpkg --compare-versions` does it: `[epoch:]upstream[-revision]`,
//! compared part by part; within a part, runs of non-digits compare character by character with
//! `~` before everything (even the end), letters before other characters, and runs of digits
//! compare as numbers.

use std::cmp::Ordering;

/// A version that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("version {version:?} is not a Debian version: {why}")]
pub(crate) struct VersionError {
    /// The text.
    pub version: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// A parsed version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Version<'a> {
    /// The epoch (0 when absent).
    pub epoch: u64,
    /// The upstream version.
    pub upstream: &'a str,
    /// The Debian revision ("" when absent, which compares equal to "0").
    pub revision: &'a str,
}

impl<'a> Version<'a> {
    /// Parses `[epoch:]upstream[-revision]`.
    pub(crate) fn parse(text: &'a str) -> Result<Self, VersionError> {
        let bad = |why| VersionError { version: text.to_owned(), why };
        let text_trimmed = text.trim();
        if text_trimmed.is_empty() {
            return Err(bad("it is empty"));
        }
        if text_trimmed.chars().any(char::is_whitespace) {
            return Err(bad("it contains white space"));
        }
        // Debian policy 5.6.12: letters, digits and `. + - ~ :` only (dpkg refuses the rest).
        if !text_trimmed.bytes().all(|b| b.is_ascii_alphanumeric() || b".+-~:".contains(&b)) {
            return Err(bad("it contains a character other than letters, digits and . + - ~ :"));
        }
        let (epoch, rest) = match text_trimmed.split_once(':') {
            Some((e, rest)) => {
                if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad("the epoch is not a number"));
                }
                (e.parse::<u64>().map_err(|_| bad("the epoch is too large"))?, rest)
            }
            None => (0, text_trimmed),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((u, r)) => (u, r),
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return Err(bad("the upstream version is empty"));
        }
        Ok(Version { epoch, upstream, revision })
    }
}

impl Ord for Version<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_part(self.upstream, other.upstream))
            .then_with(|| compare_part(self.revision, other.revision))
    }
}

impl PartialOrd for Version<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// dpkg's weight of a character in a non-digit run; 0 for the end of the string.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`.
fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        // The non-digit run.
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        // The digit run, as a number: skip leading zeros, then the longer run is larger, and
        // for equal lengths the first differing digit decides.
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    /// Compares two version strings.
    fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
        Ok(Version::parse(a)?.cmp(&Version::parse(b)?))
    }

    /// Cases from dpkg's own test suite and Debian policy 5.6.12.
    #[test]
    fn debian_ordering() {
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "1.1", Less),
            ("1.10", "1.9", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1.0", "1.0+b1", Less),
            ("1.0a", "1.0", Greater),
            ("1.0a", "1.0+", Less),
            ("1:1.0", "2.0", Greater),
            ("0:1.0", "1.0", Equal),
            ("1.0-1", "1.0-2", Less),
            ("1.0-10", "1.0-9", Greater),
            ("1.0", "1.0-0", Equal),
            ("1.001", "1.1", Equal),
            ("2.30-21+deb12u1", "2.30-21", Greater),
            ("3.0.11-1~deb12u2", "3.0.11-1", Less),
            ("7.6.q-9", "7.6.q-10", Less),
            ("1.2-3-4", "1.2-3-5", Less),
            ("a", "b", Less),
            ("1.0.0", "1.0", Greater),
            // A run that ends against one that goes on in digits, and `~` against the end.
            ("1.0~rc", "1.0~rc1", Less),
            ("1.0~rc", "1.0~", Greater),
            // A letter weighs more than a digit where a non-digit run is compared, and a
            // non-letter more than a letter.
            ("1.a", "1.1", Greater),
            ("1.0a", "1.0.", Less),
            ("1.0.", "1.0", Greater),
            // Digit runs compare as numbers, longest first; a revision of letters.
            ("1.2", "1.10", Less),
            ("1.0-a", "1.0-b", Less),
            ("1.0-a", "1.0", Greater),
            ("2:0.1", "1:9.9", Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(a, b).unwrap(), want, "{a} vs {b}");
            assert_eq!(compare(b, a).unwrap(), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn bad_versions() {
        for bad in [
            "",
            "  ",
            "a:1.0",
            ":1",
            "1.0 2",
            "1:-1",
            "+1:1.0",
            "1+:1.0",
            "99999999999999999999:1",
            "1.0_1",
            "1.0\0",
            "1.0/2",
            "1.é",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad:?}");
        }
        // The comparison operators are the ordering's.
        let (a, b) = (Version::parse("1.0").unwrap(), Version::parse("1.1").unwrap());
        let same = Version::parse("1.0").unwrap();
        assert!(a < b);
        assert!(b > a);
        assert!(a <= same);
        assert_eq!(a.partial_cmp(&b), Some(Less));
    }
}
