//! The ACL matcher of SPEC §4, pure and without regular expressions.
//!
//! An entry is split on `.` into words; `*` matches a run of characters inside one word (never a
//! `.` nor a `#`), `#` a run across dots; the whole words `me`, `my_session` and `edit` also match
//! the token's auth_id, its session uuid and `update`. Matching is dynamic programming over
//! (pattern, input) positions, so a hostile entry such as `#a#a#a#a#b` or `*****…` costs
//! O(pattern × input), never more.
//!
//! [`covers`] judges between patterns: whether an ACL grants every access string an entry can
//! match (the no-escalation rule of SPEC §4), by walking the entry's automaton against the ACL's.

/// Longest required access string considered; longer ones are never granted.
pub const MAX_REQUIRED_LEN: usize = 2048;

/// Who holds the ACL: fills the `me` and `my_session` words.
#[derive(Clone, Copy, Debug)]
pub struct Holder<'a> {
    pub auth_id: &'a str,
    pub session_uuid: &'a str,
}

/// Whether `entry` may be written as an ACL entry (a policy's, a scope's): no control
/// characters, which no access string holds. One rule for every path that writes entries.
pub fn entry_is_writable(entry: &str) -> bool {
    !entry.chars().any(char::is_control)
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
    /// Any run of bytes without a dot or a `#`.
    Star,
    /// Any run of bytes.
    Hash,
    /// One of these whole strings.
    Either(&'a str, &'a str),
}

/// Appends `piece`, folding runs of wildcards: `**` is `*`, and `*#`, `#*`, `##` are `#`. Each
/// piece costs one sweep of the input, so a hostile `****…` must cost one sweep, not thousands.
fn push_collapsed<'a>(pieces: &mut Vec<Piece<'a>>, piece: Piece<'a>) {
    match (pieces.last_mut(), &piece) {
        (Some(Piece::Star), Piece::Star) | (Some(Piece::Hash), Piece::Star | Piece::Hash) => {}
        (Some(last @ Piece::Star), Piece::Hash) => *last = Piece::Hash,
        _ => pieces.push(piece),
    }
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
            _ => {
                for byte in word.bytes() {
                    let piece = match byte {
                        b'*' => Piece::Star,
                        b'#' => Piece::Hash,
                        other => Piece::Literal(other),
                    };
                    push_collapsed(&mut pieces, piece);
                }
            }
        }
    }
    pieces
}

/// The bytes a `*` may match.
fn in_word(byte: u8) -> bool {
    byte != b'.' && byte != b'#'
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
    // reachable[i]: the pieces consumed so far can end at input position i. Two tables, reused:
    // no allocation per piece.
    let mut reachable = vec![false; input.len() + 1];
    let mut next = vec![false; input.len() + 1];
    mark(&mut reachable, 0);
    for piece in &pieces {
        next.fill(false);
        if let Piece::Star = piece {
            // One sweep: a position is reachable when the previous piece ended there, or when the
            // position before it was reachable and its byte is inside a word (not a dot, not a
            // `#`). Linear, not quadratic.
            let mut open = false;
            for (index, slot) in next.iter_mut().enumerate() {
                let before = index.checked_sub(1).and_then(|i| input.get(i));
                open = reachable.get(index) == Some(&true)
                    || (open && before.is_some_and(|byte| in_word(*byte)));
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
        std::mem::swap(&mut reachable, &mut next);
    }
    reachable.last() == Some(&true)
}

// ---- Coverage between patterns -------------------------------------------------------------

/// What one automaton edge reads.
#[derive(Clone, Copy, Debug)]
enum Class {
    Byte(u8),
    /// A byte `*` may match.
    Word,
    Any,
}

impl Class {
    fn accepts(self, byte: u8) -> bool {
        match self {
            Class::Byte(expected) => byte == expected,
            Class::Word => in_word(byte),
            Class::Any => true,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    edges: Vec<(Class, usize)>,
    epsilon: Vec<usize>,
    accepting: bool,
}

/// Nondeterministic automata of several entries, side by side; `starts` holds each entry's start.
#[derive(Debug, Default)]
struct Automaton {
    states: Vec<State>,
    starts: Vec<usize>,
}

impl Automaton {
    fn new_state(&mut self) -> usize {
        self.states.push(State::default());
        self.states.len() - 1
    }

    fn edge(&mut self, from: usize, class: Class, to: usize) {
        if let Some(state) = self.states.get_mut(from) {
            state.edges.push((class, to));
        }
    }

    fn epsilon(&mut self, from: usize, to: usize) {
        if let Some(state) = self.states.get_mut(from) {
            state.epsilon.push(to);
        }
    }

    /// Adds one entry (without `!`).
    fn add(&mut self, entry: &str, holder: Holder<'_>) {
        let start = self.new_state();
        self.starts.push(start);
        let mut current = start;
        for piece in compile(entry, holder) {
            match piece {
                Piece::Literal(byte) => {
                    let next = self.new_state();
                    self.edge(current, Class::Byte(byte), next);
                    current = next;
                }
                Piece::Star | Piece::Hash => {
                    let class = if matches!(piece, Piece::Star) {
                        Class::Word
                    } else {
                        Class::Any
                    };
                    // A loop on a state of its own, so that no earlier edge can loop with it.
                    let looping = self.new_state();
                    self.epsilon(current, looping);
                    self.edge(looping, class, looping);
                    let next = self.new_state();
                    self.epsilon(looping, next);
                    current = next;
                }
                Piece::Either(first, second) => {
                    let end = self.new_state();
                    for word in [first, second].into_iter().filter(|w| !w.is_empty()) {
                        let mut at = current;
                        for byte in word.bytes() {
                            let next = self.new_state();
                            self.edge(at, Class::Byte(byte), next);
                            at = next;
                        }
                        self.epsilon(at, end);
                    }
                    current = end;
                }
            }
        }
        if let Some(state) = self.states.get_mut(current) {
            state.accepting = true;
        }
    }

    /// The states reachable from `set` without reading, sorted.
    fn closure(&self, mut set: Vec<usize>) -> Vec<usize> {
        let mut seen: std::collections::BTreeSet<usize> = set.iter().copied().collect();
        while let Some(state) = set.pop() {
            for &next in self.states.get(state).map_or(&[][..], |s| &s.epsilon) {
                if seen.insert(next) {
                    set.push(next);
                }
            }
        }
        seen.into_iter().collect()
    }

    fn start(&self) -> Vec<usize> {
        self.closure(self.starts.clone())
    }

    fn step(&self, set: &[usize], byte: u8) -> Vec<usize> {
        let moved = set
            .iter()
            .filter_map(|&state| self.states.get(state))
            .flat_map(|state| state.edges.iter())
            .filter(|(class, _)| class.accepts(byte))
            .map(|&(_, next)| next)
            .collect();
        self.closure(moved)
    }

    fn accepts(&self, set: &[usize]) -> bool {
        set.iter()
            .any(|&state| self.states.get(state).is_some_and(|s| s.accepting))
    }

    /// The literal bytes its edges read.
    fn literals(&self, into: &mut std::collections::BTreeSet<u8>) {
        for state in &self.states {
            for (class, _) in &state.edges {
                if let Class::Byte(byte) = class {
                    into.insert(*byte);
                }
            }
        }
    }
}

/// Configurations explored at most by [`covers`]; past it the answer is a safe "no".
const MAX_COVERAGE_STATES: usize = 5_000;

/// Automaton states stepped at most by one [`covers`] (its CPU budget: a hostile entry checked
/// against a large ACL must not hold a request thread for long); past it, a safe "no".
const MAX_COVERAGE_WORK: usize = 200_000;

/// True when `acl` grants every access string `entry` can match: some positive entry matches it
/// and no negative entry does. `entry`'s `me`, `my_session` and `edit` words are read as the
/// holder's, like the ACL's. Holding `foo.*` does not cover `foo.#` nor `foo.*.bar`; `#` minus
/// `!foo.x` does not cover `foo.x` nor `#`. (The length limit of [`grants`] is not considered.)
pub fn covers(acl: &[String], entry: &str, holder: Holder<'_>) -> bool {
    covers_except(acl, entry, &[], holder)
}

/// [`covers`], except for the access strings some pattern of `except` matches (written without
/// `!`): those need not be granted. An entry that comes with its own negatives (`foo.#` with
/// `!foo.secret.#`) is judged by what it grants once they are applied.
pub fn covers_except(acl: &[String], entry: &str, except: &[&str], holder: Holder<'_>) -> bool {
    let mut wanted = Automaton::default();
    wanted.add(entry, holder);
    let mut excused = Automaton::default();
    for pattern in except {
        excused.add(pattern, holder);
    }
    let (mut granted, mut denied) = (Automaton::default(), Automaton::default());
    for held in acl {
        match held.strip_prefix('!') {
            Some(negative) => denied.add(negative, holder),
            None => granted.add(held, holder),
        }
    }
    // Every byte outside the literals behaves alike: one stands for them all.
    let mut alphabet = std::collections::BTreeSet::from([b'.', b'#']);
    for automaton in [&wanted, &excused, &granted, &denied] {
        automaton.literals(&mut alphabet);
    }
    if let Some(other) = (1..=u8::MAX).find(|b| !alphabet.contains(b)) {
        alphabet.insert(other);
    }
    let first = (
        wanted.start(),
        excused.start(),
        granted.start(),
        denied.start(),
    );
    let mut seen = std::collections::HashSet::from([first.clone()]);
    let mut pending = vec![first];
    let mut work = 0usize;
    while let Some((w, e, g, d)) = pending.pop() {
        work += (w.len() + e.len() + g.len() + d.len()) * alphabet.len();
        if work > MAX_COVERAGE_WORK {
            return false;
        }
        if wanted.accepts(&w)
            && !excused.accepts(&e)
            && (!granted.accepts(&g) || denied.accepts(&d))
        {
            return false;
        }
        for &byte in &alphabet {
            let next_w = wanted.step(&w, byte);
            if next_w.is_empty() {
                continue;
            }
            let next = (
                next_w,
                excused.step(&e, byte),
                granted.step(&g, byte),
                denied.step(&d, byte),
            );
            if seen.insert(next.clone()) {
                if seen.len() > MAX_COVERAGE_STATES {
                    return false;
                }
                pending.push(next);
            }
        }
    }
    true
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

    #[test]
    fn a_star_never_matches_a_hash_character() {
        assert!(!check(&["foo.*.*"], "foo.bar.#"));
        assert!(!check(&["foo.*"], "foo.a#b"));
        assert!(check(&["foo.#"], "foo.bar.#"));
        assert!(check(&["foo.*"], "foo.a*b"));
    }

    fn covered(held: &[&str], entry: &str) -> bool {
        covers(&acl(held), entry, HOLDER)
    }

    #[test]
    fn coverage_is_judged_between_patterns() {
        assert!(covered(&["#"], "anything.#"));
        assert!(covered(&["auth.users.*"], "auth.users.read"));
        assert!(covered(&["auth.users.*"], "auth.users.*"));
        assert!(covered(&["auth.users.#"], "auth.users.*.read"));
        assert!(covered(&["auth.*.read"], "auth.users.read"));
        // The attack run's escalations.
        assert!(!covered(&["auth.users.*"], "auth.users.#"));
        assert!(!covered(&["auth.*.read"], "auth.#.read"));
        assert!(!covered(&["foo.*"], "foo.*.bar"));
        assert!(!covered(&["foo.bar"], "foo.*"));
        // Several entries together may cover what none covers alone.
        assert!(covered(&["foo.a*", "foo.b*", "foo"], "foo"));
        assert!(!covered(&["foo.bar", "foo.baz"], "foo.ba*"));
    }

    #[test]
    fn negative_entries_are_never_held() {
        assert!(!covered(&["#", "!y.secret"], "y.secret"));
        assert!(!covered(&["#", "!y.secret"], "#"));
        assert!(!covered(&["#", "!y.secret"], "y.*"));
        assert!(covered(&["#", "!y.secret"], "y.public"));
        assert!(covered(&["#", "!y.secret"], "z.#"));
        assert!(!covered(&["#", "!*.secret"], "x.secret"));
    }

    #[test]
    fn aliases_are_the_holders() {
        // The caller's own `me` covers the entry `me`, which names the same holder.
        assert!(covered(&["auth.users.me.read"], "auth.users.me.read"));
        assert!(!covered(&["auth.users.123.read"], "auth.users.me.read"));
        assert!(covered(&["auth.users.me.read"], "auth.users.123.read"));
        assert!(covered(&["confd.users.edit"], "confd.users.update"));
        assert!(!covered(&["confd.users.update"], "confd.users.edit"));
    }

    #[test]
    fn hostile_patterns_stay_bounded() {
        let entry = "#a".repeat(100) + "b";
        let started = std::time::Instant::now();
        assert!(!covered(&["*a*a*a*a*a*a*a*a", "#b#b"], &entry));
        assert!(covered(&["#"], &entry));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    mod properties {
        use super::super::*;
        use super::HOLDER;
        use proptest::prelude::*;

        /// Words of the ACL syntax: short, from a small alphabet so that patterns overlap.
        fn word() -> impl Strategy<Value = String> {
            prop_oneof![
                4 => "[ab]{1,2}",
                1 => Just("*".to_string()),
                1 => Just("#".to_string()),
                1 => Just("a*".to_string()),
                1 => Just("me".to_string()),
            ]
        }

        fn pattern() -> impl Strategy<Value = String> {
            proptest::collection::vec(word(), 1..4).prop_map(|words| words.join("."))
        }

        fn acl() -> impl Strategy<Value = Vec<String>> {
            proptest::collection::vec(
                (any::<bool>(), pattern()).prop_map(
                    |(negative, p)| {
                        if negative {
                            format!("!{p}")
                        } else {
                            p
                        }
                    },
                ),
                0..4,
            )
        }

        /// An access string the pattern matches, built by filling its wildcards.
        fn sample(pattern: &str, fills: &[String]) -> String {
            let mut fill = fills.iter().cycle();
            pattern
                .split('.')
                .map(|word| match word {
                    "me" => HOLDER.auth_id.to_string(),
                    _ => word
                        .chars()
                        .map(|c| match c {
                            '*' => fill
                                .next()
                                .map_or(String::new(), |f| f.replace(['.', '#'], "")),
                            '#' => fill.next().cloned().unwrap_or_default(),
                            other => other.to_string(),
                        })
                        .collect(),
                })
                .collect::<Vec<_>>()
                .join(".")
        }

        /// The entry's automaton (the one coverage uses) run over `required`.
        fn automaton_matches(entry: &str, required: &str) -> bool {
            let mut automaton = Automaton::default();
            automaton.add(entry, HOLDER);
            let mut states = automaton.start();
            for byte in required.bytes() {
                states = automaton.step(&states, byte);
            }
            automaton.accepts(&states)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1000))]
            #[test]
            fn the_matcher_agrees_with_the_automaton(
                entry in pattern(),
                required in "[ab.#*]{0,8}|123|me|a\\.123",
            ) {
                prop_assert_eq!(
                    entry_matches(&entry, &required, HOLDER),
                    automaton_matches(&entry, &required),
                    "{} ~ {}", entry, required
                );
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(400))]
            #[test]
            fn whatever_coverage_allows_the_acl_grants(
                acl in acl(),
                entry in pattern(),
                fills in proptest::collection::vec("[ab.#]{0,3}", 1..4),
            ) {
                if covers(&acl, &entry, HOLDER) {
                    let required = sample(&entry, &fills);
                    prop_assert!(entry_matches(&entry, &required, HOLDER), "{entry} ~ {required}");
                    prop_assert!(grants(&acl, &required, HOLDER), "{acl:?} covers {entry} yet refuses {required}");
                }
            }
        }
    }
}
#[cfg(test)]
mod coverage_budget {
    /// A long alternating entry against sixty overlapping patterns explores far more than the
    /// budget: it stops early with a safe "no".
    #[test]
    fn a_hostile_entry_against_a_large_acl_stops_at_the_budget() {
        let holder = super::Holder {
            auth_id: "u",
            session_uuid: "s",
        };
        let letter = |i: usize| char::from(b'a' + (i % 26) as u8);
        let entry: String = (0..500)
            .map(|i| if i % 2 == 0 { '#' } else { letter(i) })
            .collect();
        let acl: Vec<String> = (0..60)
            .map(|i| format!("{}#{i}*{}", letter(i), "x".repeat(i % 7)))
            .collect();
        let started = std::time::Instant::now();
        assert!(!super::covers(&acl, &entry, holder));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn coverage_may_excuse_what_the_entry_s_own_negatives_take_away() {
        use super::{covers, covers_except, Holder};
        let holder = Holder {
            auth_id: "u",
            session_uuid: "s",
        };
        let held = vec!["foo.#".to_string(), "!foo.secret.#".to_string()];
        assert!(!covers(&held, "foo.#", holder));
        assert!(covers_except(&held, "foo.#", &["foo.secret.#"], holder));
        assert!(covers_except(&held, "foo.#", &["foo.*.#"], holder));
        assert!(!covers_except(&held, "foo.#", &["foo.secret.a"], holder));
        assert!(!covers_except(&held, "bar.#", &["foo.secret.#"], holder));
    }
}
