//! Text search filters (`search:` on lists): the text is matched literally, as a substring,
//! ignoring case.

use sea_orm::sea_query::LikeExpr;

use crate::error::{Problem, StoreError, StoreResult};

/// The longest search text accepted, in characters. Longer patterns cost the database more
/// than any name is long (SQLite refuses them as "LIKE or GLOB pattern too complex").
pub const MAX_SEARCH_CHARS: usize = 200;

/// A `LIKE` pattern matching `text` anywhere in a lower-cased column: `%`, `_` and the escape
/// character itself are escaped so they match only themselves. Text longer than
/// [`MAX_SEARCH_CHARS`] is refused.
pub(crate) fn contains_pattern(text: &str) -> StoreResult<LikeExpr> {
    if text.chars().count() > MAX_SEARCH_CHARS {
        return Err(StoreError::Invalid(vec![Problem::new(
            "search",
            format!("must be at most {MAX_SEARCH_CHARS} characters"),
        )]));
    }
    let mut escaped = String::with_capacity(text.len() + 2);
    escaped.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    Ok(LikeExpr::new(escaped).escape('\\'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_the_escape_are_escaped() {
        let like = contains_pattern("50%_A\\b").unwrap();
        assert_eq!(
            format!("{like:?}"),
            format!("{:?}", LikeExpr::new("%50\\%\\_a\\\\b%").escape('\\'))
        );
    }

    #[test]
    fn long_text_is_refused() {
        assert!(contains_pattern(&"x".repeat(MAX_SEARCH_CHARS)).is_ok());
        assert!(contains_pattern(&"é".repeat(MAX_SEARCH_CHARS + 1)).is_err());
    }
}
