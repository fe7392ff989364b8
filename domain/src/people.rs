//! People, teams and job roles as HR systems describe them, and the rules that keep the
//! org chart sound (no one manages themselves, no team contains itself).

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use crate::error::Invalid;
use crate::metrics::parse_slug;

/// The id an HR system gives a person or team; unique within an organization.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExternalId(String);

impl ExternalId {
    /// Parses an external id: 1-200 characters after trimming, no control characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let id = raw.trim();
        if id.is_empty() {
            return Err(Invalid::new("must not be empty"));
        }
        if id.chars().count() > 200 {
            return Err(Invalid::new("must be at most 200 characters"));
        }
        if id.chars().any(char::is_control) {
            return Err(Invalid::new("must not contain control characters"));
        }
        Ok(Self(id.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Stands in for an id that failed to parse (see [`MetricKey::placeholder`](crate::metrics::MetricKey::placeholder)).
    pub fn placeholder(position: &str) -> Self {
        Self(format!("invalid:{position}"))
    }
}

/// A job role's key (`account_executive`), used by HR systems and role KPI assignments.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleKey(String);

impl RoleKey {
    /// Parses a key: lower-case letters, digits, `_` or `-`, starting with a letter.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        parse_slug(raw).map(Self)
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Stands in for a key that failed to parse (see [`MetricKey::placeholder`](crate::metrics::MetricKey::placeholder)).
    pub fn placeholder() -> Self {
        Self("invalid-role-key".to_owned())
    }
}

/// A work email address, stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Parses an email address (RFC 5322 addr-spec, as checked by `email_address`).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        if !email_address::EmailAddress::is_valid(trimmed) {
            return Err(Invalid::new(format!("`{trimmed}` is not an email address")));
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Finds the nodes that sit on a cycle of a parent relation (a manager chain that loops back,
/// a team that contains itself). `parent_of` maps a node to its parent; nodes whose parent is
/// outside the map are roots. Returns each cycle once, starting from its smallest node.
pub fn find_cycles<K: Clone + Eq + Hash + Ord>(parent_of: &HashMap<K, K>) -> Vec<Vec<K>> {
    let mut done: HashSet<K> = HashSet::new();
    let mut cycles = Vec::new();
    let mut starts: Vec<&K> = parent_of.keys().collect();
    starts.sort();
    for start in starts {
        if done.contains(start) {
            continue;
        }
        let mut path: Vec<K> = Vec::new();
        let mut on_path: HashMap<K, usize> = HashMap::new();
        let mut node = Some(start.clone());
        while let Some(current) = node {
            if done.contains(&current) {
                break;
            }
            if let Some(&at) = on_path.get(&current) {
                let mut cycle: Vec<K> = path[at..].to_vec();
                if let Some(min_at) = cycle
                    .iter()
                    .enumerate()
                    .min_by(|a, b| a.1.cmp(b.1))
                    .map(|(i, _)| i)
                {
                    cycle.rotate_left(min_at);
                }
                cycles.push(cycle);
                break;
            }
            on_path.insert(current.clone(), path.len());
            path.push(current.clone());
            node = parent_of.get(&current).cloned();
        }
        done.extend(path);
    }
    cycles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_are_trimmed_and_bounded() {
        assert_eq!(ExternalId::parse("  E-1001 ").unwrap().as_str(), "E-1001");
        assert!(ExternalId::parse(" ").is_err());
        assert!(ExternalId::parse("a\u{0}b").is_err());
        assert!(ExternalId::parse(&"x".repeat(201)).is_err());
    }

    #[test]
    fn emails_are_checked_and_lower_cased() {
        assert_eq!(
            Email::parse("Ana.Silva@Example.COM").unwrap().as_str(),
            "ana.silva@example.com"
        );
        assert!(Email::parse("not-an-email").is_err());
        assert!(Email::parse("a@").is_err());
    }

    #[test]
    fn role_keys_are_slugs() {
        assert!(RoleKey::parse("account_executive").is_ok());
        assert!(RoleKey::parse("Account Executive").is_err());
    }

    #[test]
    fn finds_manager_loops_and_self_management() {
        let edges: HashMap<&str, &str> = [
            ("a", "b"),
            ("b", "c"),
            ("c", "a"),
            ("d", "a"),
            ("e", "e"),
            ("f", "ceo"),
        ]
        .into_iter()
        .collect();
        let mut cycles = find_cycles(&edges);
        cycles.sort();
        assert_eq!(cycles, vec![vec!["a", "b", "c"], vec!["e"]]);
    }

    #[test]
    fn a_tree_has_no_cycles() {
        let edges: HashMap<u32, u32> = [(2, 1), (3, 1), (4, 2), (5, 4)].into_iter().collect();
        assert!(find_cycles(&edges).is_empty());
    }
}
