//! The ACL matcher of SPEC §4, pure and without regular expressions.
//!
//! An entry is split on `.` into words; `*` matches a run of characters inside one word, `#` a run
//! across dots; the whole words `me`, `my_session` and `edit` also match the token's auth_id, its
//! session uuid and `update`. Matching is dynamic programming over (pattern, input) positions, so
//! a hostile entry such as `#a#a#a#a#b` or `*****…` costs O(pattern × input), never more.

/// Longest required access string considered; longer ones are never granted.
pub const MAX_REQUIRED_LEN: usize = 2048;

/// Who holds the ACL: fills the `me` and `my_session` words.
#[derive(Clone, Copy, Debug)]
pub struct Holder<'a> {
    pub auth_id: &'a str,
    pub session_uuid: &'a str,
}

/// A path value in a required ACL: every `.` becomes `_` (client_id `my.app` → `my_app`).
pub fn acl_word(value: &str) -> String {
    value.replace('.', "_")
}

/// True when `acl` grants `required`: a positive entry matches it and no negative (`!`) entry does.
pub fn grants(acl: &[String], required: &str, holder: Holder<'_>) -> bool {
    // No real access string is this long; refusing it bounds the matcher's work per entry.
    if required.len() > MAX_REQUIRED_LEN {
        return false;
    }
    let mut granted = false;
    for entry in acl {
        if let Some(negative) = entry.strip_prefix('!') {
            if entry_matches(negative, required, holder) {
                return false;
            }
        } else if !granted && entry_matches(entry, required, holder) {
            granted = true;
        }
    }
    granted
}

#[derive(Debug)]
enum Piece<'a> {
    Literal(u8),
    /// Any run of bytes without a dot.
    Star,
    /// Any run of bytes.
    Hash,
    /// One of these whole strings.
    Either(&'a str, &'a str),
}

fn compile<'a>(entry: &'a str, holder: Holder<'a>) -> Vec<Piece<'a>> {
    let mut pieces = Vec::with_capacity(entry.len());
    for (index, word) in entry.split('.').enumerate() {
        if index > 0 {
            pieces.push(Piece::Literal(b'.'));
        }
        match word {
            "me" => pieces.push(Piece::Either("me", holder.auth_id)),
            "my_session" => pieces.push(Piece::Either("my_session", holder.session_uuid)),
            "edit" => pieces.push(Piece::Either("edit", "update")),
            _ => pieces.extend(word.bytes().map(|byte| match byte {
                b'*' => Piece::Star,
                b'#' => Piece::Hash,
                other => Piece::Literal(other),
            })),
        }
    }
    pieces
}

/// Marks input position `at` reachable (positions past the end do not exist).
fn mark(positions: &mut [bool], at: usize) {
    if let Some(slot) = positions.get_mut(at) {
        *slot = true;
    }
}

/// Whether one entry (without `!`) matches the whole of `required`.
pub fn entry_matches(entry: &str, required: &str, holder: Holder<'_>) -> bool {
    if entry == "#" {
        return true;
    }
    let pieces = compile(entry, holder);
    let input = required.as_bytes();
    // reachable[i]: the pieces consumed so far can end at input position i.
    let mut reachable = vec![false; input.len() + 1];
    mark(&mut reachable, 0);
    for piece in &pieces {
        let mut next = vec![false; input.len() + 1];
        if let Piece::Star = piece {
            // One sweep: a position is reachable when the previous piece ended there, or when the
            // position before it was reachable and its byte is not a dot. Linear, not quadratic.
            let mut open = false;
            for (index, slot) in next.iter_mut().enumerate() {
                let before = index.checked_sub(1).and_then(|i| input.get(i));
                open = reachable.get(index) == Some(&true)
                    || (open && before.is_some_and(|byte| *byte != b'.'));
                *slot = open;
            }
        } else {
            for (start, _) in reachable.iter().enumerate().filter(|(_, r)| **r) {
                let rest = input.get(start..).unwrap_or_default();
                match piece {
                    Piece::Literal(byte) => {
                        if rest.first() == Some(byte) {
                            mark(&mut next, start + 1);
                        }
                    }
                    Piece::Hash => {
                        for slot in next.iter_mut().skip(start) {
                            *slot = true;
                        }
                        break; // every later position is already reachable
                    }
                    Piece::Either(first, second) => {
                        for word in [first, second] {
                            if !word.is_empty() && rest.starts_with(word.as_bytes()) {
                                mark(&mut next, start + word.len());
                            }
                        }
                    }
                    Piece::Star => {}
                }
            }
        }
        if !next.contains(&true) {
            return false;
        }
        reachable = next;
    }
    reachable.last() == Some(&true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOLDER: Holder<'static> = Holder {
        auth_id: "123",
        session_uuid: "sess-1",
    };

    fn acl(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|e| e.to_string()).collect()
    }

    fn check(entries: &[&str], required: &str) -> bool {
        grants(&acl(entries), required, HOLDER)
    }

    #[test]
    fn hash_after_dot_needs_a_further_word() {
        assert!(check(&["foo.bar.#"], "foo.bar.toto"));
        assert!(check(&["foo.bar.#"], "foo.bar.toto.tata"));
        assert!(!check(&["foo.bar.#"], "foo.bar"));
        assert!(!check(&["foo.bar.#"], "other.bar.toto"));
    }

    #[test]
    fn star_stays_inside_one_word() {
        assert!(check(&["foo.*.*"], "foo.bar.toto"));
        assert!(!check(&["foo.*.*"], "foo.bar.toto.tata"));
        assert!(check(&["foo.b*r"], "foo.br"));
        assert!(!check(&["foo.b*r"], "foo.b.r"));
    }

    #[test]
    fn me_matches_the_auth_id() {
        assert!(check(&["foo.#.me"], "foo.bar.123"));
        assert!(check(&["foo.#.me"], "foo.bar.me"));
        assert!(!check(&["foo.#.me"], "foo.bar.456"));
        assert!(!check(&["foo.*.456"], "foo.bar.me"));
        assert!(!check(&["foo.#.me"], "foo.*.456"));
    }

    #[test]
    fn my_session_and_edit_aliases() {
        assert!(check(
            &["auth.sessions.my_session.delete"],
            "auth.sessions.sess-1.delete"
        ));
        assert!(!check(
            &["auth.sessions.my_session.delete"],
            "auth.sessions.sess-2.delete"
        ));
        assert!(check(&["confd.users.edit"], "confd.users.update"));
        assert!(check(&["confd.users.edit"], "confd.users.edit"));
        assert!(!check(&["confd.users.update"], "confd.users.edit"));
    }

    #[test]
    fn negative_entries_win() {
        assert!(check(&["foo.*.bar", "!foo.123.bar"], "foo.me.bar"));
        assert!(!check(&["foo.*.bar", "!foo.123.bar"], "foo.123.bar"));
        assert!(!check(&["!*.bar", "foo.bar"], "foo.bar"));
        assert!(!check(&["foo.bar", "!*.bar"], "foo.bar"));
    }

    #[test]
    fn lone_hash_grants_everything_and_matching_is_case_sensitive() {
        assert!(check(&["#"], "anything.at.all"));
        assert!(check(&["#"], ""));
        assert!(!check(&["foo.bar"], "FOO.bar"));
        assert!(!check(&[], "foo"));
    }

    #[test]
    fn word_aliases_are_whole_words_only() {
        assert!(!check(&["foo.meh"], "foo.123h"));
        assert!(check(&["foo.meh"], "foo.meh"));
        assert!(!check(&["foo.me"], "foo.1234"));
    }

    #[test]
    fn overlong_required_strings_are_never_granted() {
        assert!(!check(&["#"], &"a".repeat(MAX_REQUIRED_LEN + 1)));
        assert!(check(&["#"], &"a".repeat(MAX_REQUIRED_LEN)));
    }

    #[test]
    fn many_stars_against_a_long_input_stay_linear() {
        // Quadratic per star before: 1024 stars × 2048² steps took seconds.
        let entry = "*".repeat(1024);
        let input = "a".repeat(MAX_REQUIRED_LEN);
        let started = std::time::Instant::now();
        assert!(check(&[&entry], &input));
        assert!(!check(&[&(entry.clone() + ".x")], &input));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn hostile_entries_stay_fast() {
        let entry = "#a".repeat(200) + "b";
        let input = "a".repeat(MAX_REQUIRED_LEN);
        assert!(!check(&[&entry], &input));
    }
}
