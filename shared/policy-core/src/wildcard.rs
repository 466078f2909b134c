//! `*` (zero or more characters) and `?` (exactly one character) matching, as IAM uses it for
//! actions, resources and `...Like` condition values.

/// One element of a compiled pattern
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tok {
    /// A character matched as itself (also a `*` or `?` that came from a policy variable)
    Lit(char),
    /// `*`
    Any,
    /// `?`
    One,
}

/// Compiles pattern text: every `*` and `?` is a wildcard
pub fn compile(pattern: &str, out: &mut Vec<Tok>) {
    out.extend(pattern.chars().map(|c| match c {
        '*' => Tok::Any,
        '?' => Tok::One,
        c => Tok::Lit(c),
    }));
}

/// True when the text has a `*` or `?`
pub fn has_wildcard(s: &str) -> bool {
    s.bytes().any(|b| b == b'*' || b == b'?')
}

/// Matches `text` against `pattern` (`*`, `?`), optionally ignoring case
pub fn wildcard_match(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        // ASCII fast path: actions, ARNs and account ids never allocate here.
        return glob(
            pattern.as_bytes(),
            text.as_bytes(),
            |p| *p == b'*',
            |p, t| *p == b'?' || *p == *t || (case_insensitive && p.eq_ignore_ascii_case(t)),
        );
    }
    let mut toks = Vec::with_capacity(pattern.len());
    compile(pattern, &mut toks);
    match_tokens(&toks, text, case_insensitive)
}

/// True when every text `inner` can match is matched by `outer` (both are patterns). Sound but
/// not complete: a pattern with wildcards is covered only by an `outer` ending in `*` that
/// matches the pattern's literal start, since such an `outer` then matches that start followed
/// by anything.
pub fn covers(outer: &str, inner: &str) -> bool {
    if !has_wildcard(inner) {
        return wildcard_match(outer, inner, false);
    }
    let start = inner.split(['*', '?']).next().unwrap_or_default();
    outer.ends_with('*') && wildcard_match(outer, start, false)
}

/// True when some text matches both patterns (`*`, `?`), case-sensitively
pub fn intersects(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // memo[i][j]: whether a[i..] and b[j..] share a text; filled from the ends backwards.
    let mut memo = vec![vec![false; b.len() + 1]; a.len() + 1];
    for i in (0..=a.len()).rev() {
        for j in (0..=b.len()).rev() {
            let at = |m: &Vec<Vec<bool>>, x: usize, y: usize| m.get(x).and_then(|r| r.get(y)).copied().unwrap_or(false);
            let value = match (a.get(i), b.get(j)) {
                (None, None) => true,
                // A star matches nothing, or one more character of the other side.
                (Some('*'), _) => at(&memo, i + 1, j) || (j < b.len() && at(&memo, i, j + 1)),
                (_, Some('*')) => at(&memo, i, j + 1) || (i < a.len() && at(&memo, i + 1, j)),
                (None, _) | (_, None) => false,
                (Some(x), Some(y)) => (*x == '?' || *y == '?' || x == y) && at(&memo, i + 1, j + 1),
            };
            if let Some(cell) = memo.get_mut(i).and_then(|r| r.get_mut(j)) {
                *cell = value;
            }
        }
    }
    memo.first().and_then(|r| r.first()).copied().unwrap_or(false)
}

/// Matches compiled tokens against text
pub fn match_tokens(pattern: &[Tok], text: &str, case_insensitive: bool) -> bool {
    let chars: Vec<char> = text.chars().collect();
    glob(
        pattern,
        &chars,
        |p| *p == Tok::Any,
        |p, t| match p {
            Tok::One => true,
            Tok::Lit(c) => c == t || (case_insensitive && c.to_lowercase().eq(t.to_lowercase())),
            Tok::Any => false,
        },
    )
}

/// The classic linear-space star matcher: on a mismatch, retry from the last `*`, which has to
/// swallow one more character. Worst case O(pattern x text), no recursion.
fn glob<P, T>(pat: &[P], text: &[T], is_any: impl Fn(&P) -> bool, one: impl Fn(&P, &T) -> bool) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while let Some(tc) = text.get(t) {
        match pat.get(p) {
            Some(pc) if is_any(pc) => {
                star = Some((p, t));
                p += 1;
            }
            Some(pc) if one(pc, tc) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pat.get(p..).is_some_and(|rest| rest.iter().all(&is_any))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersection() {
        assert!(intersects("team/*", "team/*"));
        assert!(intersects("team-*", "team-a/*"));
        assert!(intersects("*/api", "team/*"));
        assert!(intersects("t?am/x", "te*"));
        assert!(!intersects("team/*", "prod/*"));
        assert!(!intersects("team/api", "team/web*"));
        assert!(!intersects("a?", "abc"));
        assert!(intersects("*", ""));
        assert!(!intersects("?", ""));
    }

    #[test]
    fn covers_is_sound() {
        assert!(covers("sandbox-*", "sandbox-*"));
        assert!(covers("sandbox-*", "sandbox-a?b*"));
        assert!(covers("*", "*"));
        assert!(!covers("sandbox-?", "sandbox-*"));
        assert!(!covers("sandbox-*", "*"));
        assert!(!covers("te*m/", "team/*"));
        assert!(covers("team/*", "team/api"));
    }

    #[test]
    fn basics() {
        assert!(wildcard_match("ecr:*", "ecr:BatchGetImage", false));
        assert!(wildcard_match("ECR:batch*", "ecr:BatchGetImage", true));
        assert!(!wildcard_match("ECR:batch*", "ecr:BatchGetImage", false));
        assert!(wildcard_match("e?r:*", "ecr:PutImage", true));
        assert!(wildcard_match("ecr:Batch???Image", "ecr:BatchGetImage", true));
        assert!(!wildcard_match("ecr:Batch??Image", "ecr:BatchGetImage", true));
        assert!(wildcard_match("*", "", false));
        assert!(!wildcard_match("?", "", false));
        assert!(wildcard_match("a*b*c", "aXXbYYbc", false));
        assert!(!wildcard_match("a*b*c", "aXXbYYbcd", false));
        assert!(wildcard_match("**a", "a", false));
    }

    #[test]
    fn unicode_question_mark_is_one_character() {
        assert!(wildcard_match("caf?", "café", false));
        assert!(wildcard_match("CAF?", "café", true));
        assert!(wildcard_match("CAFÉ", "café", true));
        assert!(!wildcard_match("caf??", "café", false));
    }

    #[test]
    fn literal_tokens_do_not_match_wildcards() {
        let pat = [Tok::Lit('a'), Tok::Lit('*')];
        assert!(match_tokens(&pat, "a*", false));
        assert!(!match_tokens(&pat, "ab", false));
    }
}
