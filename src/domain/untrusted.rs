//! Text that came from a client, in one place: how names are normalised and which characters they
//! may not hold (SPEC: look-alike usernames), and how such text is written to the logs.
//!
//! Usernames and logins are compared in Unicode NFC, so that the NFC and NFD spellings of `josé`
//! name one user. Usernames and client_ids may not hold control characters, invisible format
//! characters (zero-width spaces and joiners, bidirectional overrides, the byte-order mark, …) or
//! leading or trailing white space: `admin\u{200b}` and ` admin` are refused, not a second `admin`.
//! Every value a client chose that reaches a log line goes through [`Untrusted`], which escapes
//! line breaks, ESC and every other control or invisible character, so no client can forge a line.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// The NFC form of `text`: what usernames, logins and e-mail addresses are stored and compared in.
pub fn nfc(text: &str) -> String {
    text.nfc().collect()
}

/// Characters a name may not hold anywhere: control characters and the invisible format
/// characters (Unicode category Cf, and the invisible fillers and separators) that make two names
/// look alike.
fn is_invisible_or_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00ad}'                      // soft hyphen
            | '\u{034f}'                    // combining grapheme joiner
            | '\u{061c}'                    // Arabic letter mark
            | '\u{115f}' | '\u{1160}'       // Hangul fillers
            | '\u{17b4}' | '\u{17b5}'       // Khmer inherent vowels
            | '\u{180b}'..='\u{180f}'       // Mongolian variation selectors and vowel separator
            | '\u{200b}'..='\u{200f}'       // zero-width space, (non-)joiners, direction marks
            | '\u{2028}'..='\u{202e}'       // line and paragraph separators, bidi embeddings
            | '\u{2060}'..='\u{206f}'       // word joiner, invisible operators, bidi isolates
            | '\u{3164}'                    // Hangul filler
            | '\u{fe00}'..='\u{fe0f}'       // variation selectors
            | '\u{feff}'                    // zero-width no-break space (byte-order mark)
            | '\u{ffa0}'                    // halfwidth Hangul filler
            | '\u{fff0}'..='\u{fffb}'       // interlinear annotation, specials
            | '\u{1d173}'..='\u{1d17a}'     // musical formatting
            | '\u{e0000}'..='\u{e007f}'     // tags
            | '\u{e0100}'..='\u{e01ef}' // variation selectors supplement
        )
}

/// Why a name is refused: a sentence for the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameProblem {
    Invisible,
    Spaces,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameProblem::Invisible => "Must not contain control or invisible characters.",
            NameProblem::Spaces => "Must not begin or end with white space.",
        })
    }
}

/// Checks a name (a username or a client_id): no control or invisible characters, no white space
/// at either end.
pub fn check_name(name: &str) -> Result<(), NameProblem> {
    if name.chars().any(is_invisible_or_control) {
        return Err(NameProblem::Invisible);
    }
    if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        return Err(NameProblem::Spaces);
    }
    Ok(())
}

/// A username as stored: checked, then in NFC.
pub fn username(name: &str) -> Result<String, NameProblem> {
    check_name(name)?;
    let normalised = nfc(name);
    // Normalising never introduces these characters, but the stored form is the one that counts.
    check_name(&normalised)?;
    Ok(normalised)
}

/// The key under which look-alike usernames collide: the Unicode TR39 skeleton (each
/// confusable character mapped to its prototype: Cyrillic `а` to `a`, fullwidth `ａ` to `a`,
/// `m` to `rn`, …) of the lower-cased name, lower-cased: usernames are unique in any case, so
/// `аdmin`, `ａｄｍｉｎ`, `АDMIN` and `admin` share one key. Stored beside each username under a
/// unique index.
pub fn skeleton(name: &str) -> String {
    let lower = name.to_lowercase();
    let skeleton: String = unicode_security::confusable_detection::skeleton(&lower).collect();
    skeleton.to_lowercase()
}

/// A client's text as a log value: printable characters as they are; line breaks, tabs, control
/// and invisible characters escaped (`\n`, `\u{1b}`, `\u{200b}`, …), and backslashes doubled, so
/// that the result is one line that says exactly what was sent.
#[derive(Clone, Copy)]
pub struct Untrusted<'a>(pub &'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if is_invisible_or_control(c) => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                c => write!(f, "{c}")?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfd_and_nfc_spellings_become_one() {
        assert_eq!(nfc("jose\u{301}"), "jos\u{e9}");
        assert_eq!(username("jose\u{301}"), Ok("jos\u{e9}".to_string()));
    }

    #[test]
    fn invisible_and_padded_names_are_refused() {
        for bad in [
            "admin\u{200b}",
            "ad\u{200d}min",
            "\u{feff}admin",
            "admin\u{202e}",
            "ad\nmin",
            "ad\u{1b}min",
            "admin\u{7f}",
            "admin\u{2060}",
        ] {
            assert_eq!(check_name(bad), Err(NameProblem::Invisible), "{bad:?}");
        }
        for bad in [" admin", "admin ", "\u{a0}admin", "admin\u{3000}"] {
            assert_eq!(check_name(bad), Err(NameProblem::Spaces), "{bad:?}");
        }
        for good in [
            "admin",
            "jos\u{e9}",
            "first last",
            "a.b@c",
            "\u{4e2d}\u{6587}",
        ] {
            assert_eq!(check_name(good), Ok(()), "{good:?}");
        }
    }

    #[test]
    fn look_alike_names_share_a_skeleton() {
        let admin = skeleton("admin");
        for alike in [
            "\u{430}dmin",
            "\u{ff41}\u{ff44}\u{ff4d}\u{ff49}\u{ff4e}",
            "ADMIN",
            "\u{410}DMIN",
        ] {
            assert_eq!(skeleton(alike), admin, "{alike:?}");
        }
        assert_ne!(skeleton("admin"), skeleton("admins"));
        assert_ne!(skeleton("alice"), skeleton("bob"));
    }

    #[test]
    fn logged_text_is_one_escaped_line() {
        let forged = "x\n2026-01-01T00:00:00Z  INFO forged\u{1b}[2K\r\u{200b}\\";
        let logged = Untrusted(forged).to_string();
        assert!(!logged.chars().any(|c| c.is_control()), "{logged}");
        assert_eq!(
            logged,
            "x\\n2026-01-01T00:00:00Z  INFO forged\\u{1b}[2K\\r\\u{200b}\\\\"
        );
        assert_eq!(Untrusted("jos\u{e9}").to_string(), "jos\u{e9}");
    }
}
