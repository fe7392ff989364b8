//! Segments (Enterprise, Mid-market, SMB) and customer journey stages.

use crate::error::Invalid;
use crate::metrics::parse_slug;

/// The stages every new organization starts with, in journey order.
pub const DEFAULT_JOURNEY_STAGES: [(&str, &str); 4] = [
    ("acquisition", "Acquisition"),
    ("adoption", "Adoption"),
    ("retention", "Retention"),
    ("expansion", "Expansion"),
];

/// The slug that names a segment or a journey stage inside an organization.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DimensionKey(String);

impl DimensionKey {
    /// Parses a slug: lower-case letters, digits, `_` or `-`, starting with a letter, 1-64 long.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        parse_slug(raw).map(Self)
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The display name of a segment or stage: 1-200 characters after trimming.
pub fn parse_display_name(raw: &str) -> Result<String, Invalid> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Invalid::new("must not be empty"));
    }
    if name.chars().count() > 200 {
        return Err(Invalid::new("must be at most 200 characters"));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_stages_are_valid_keys() {
        for (key, _) in DEFAULT_JOURNEY_STAGES {
            assert!(DimensionKey::parse(key).is_ok());
        }
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(parse_display_name("  SMB ").unwrap(), "SMB");
        assert!(parse_display_name("   ").is_err());
        assert!(parse_display_name(&"x".repeat(201)).is_err());
    }
}
