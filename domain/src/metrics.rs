//! The shared metric glossary: what a metric means, how it is measured and rolled up, and
//! how its definition moves from draft to approved to retired.

use std::fmt;

use crate::error::{Invalid, RuleViolation};

/// Declares a closed set of named values with its canonical upper-case spelling, used both
/// for storage and for the API.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The canonical upper-case name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::error::Invalid;
            fn from_str(s: &str) -> Result<Self, $crate::error::Invalid> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::error::Invalid::new(format!(
                        "unknown {} `{}`", stringify!($name), other
                    ))),
                }
            }
        }
    };
}
pub(crate) use named_enum;

named_enum! {
    /// The balanced-scorecard perspective a metric or goal belongs to.
    Perspective {
        /// Revenue, margin, cost.
        Financial => "FINANCIAL",
        /// Customer outcomes: retention, satisfaction, adoption.
        Customer => "CUSTOMER",
        /// Operational processes that deliver to customers.
        InternalProcess => "INTERNAL_PROCESS",
        /// People, skills and systems.
        LearningGrowth => "LEARNING_GROWTH",
    }
}

named_enum! {
    /// What a metric's numbers count.
    UnitKind {
        /// An amount of money in one ISO 4217 currency.
        Currency => "CURRENCY",
        /// A percentage (45 means 45%).
        Percent => "PERCENT",
        /// A count of things.
        Count => "COUNT",
        /// A duration in days.
        Days => "DAYS",
        /// A plain ratio (1.12 means 112%).
        Ratio => "RATIO",
        /// A score on a scale (NPS, health score).
        Score => "SCORE",
    }
}

named_enum! {
    /// Which way is good for a metric.
    Direction {
        /// More is better (revenue, NRR).
        HigherIsBetter => "HIGHER_IS_BETTER",
        /// Less is better (churn, time to first value).
        LowerIsBetter => "LOWER_IS_BETTER",
    }
}

named_enum! {
    /// Whether a metric is a lever (input) or an outcome (output).
    MetricKind {
        /// A lead indicator teams act on directly.
        Input => "INPUT",
        /// A lag indicator that inputs ladder into.
        Output => "OUTPUT",
    }
}

named_enum! {
    /// How observations of a metric combine over time and across segments.
    Aggregation {
        /// Add the values (bookings, tickets).
        Sum => "SUM",
        /// Arithmetic mean of the values (satisfaction scores).
        Average => "AVERAGE",
        /// The value at the latest period (balances such as ARR or headcount).
        Last => "LAST",
        /// The smallest value.
        Min => "MIN",
        /// The largest value.
        Max => "MAX",
    }
}

named_enum! {
    /// Where a metric is in its glossary life cycle.
    MetricStatus {
        /// Proposed; may still change.
        Draft => "DRAFT",
        /// Agreed definition that scorecards, goals and plans may rely on.
        Approved => "APPROVED",
        /// No longer in use; kept for history.
        Retired => "RETIRED",
    }
}

/// Parses a slug: lower-case ASCII letters, digits, `_` or `-`, starting with a letter,
/// at most 64 characters.
pub(crate) fn parse_slug(raw: &str) -> Result<String, Invalid> {
    let mut chars = raw.chars();
    match chars.next() {
        None => return Err(Invalid::new("must not be empty")),
        Some(c) if !c.is_ascii_lowercase() => {
            return Err(Invalid::new("must start with a lower-case letter"));
        }
        Some(_) => {}
    }
    if raw.len() > 64 {
        return Err(Invalid::new("must be at most 64 characters"));
    }
    if let Some(bad) =
        chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-'))
    {
        return Err(Invalid::new(format!(
            "may hold only lower-case letters, digits, `_` and `-`, found `{bad}`"
        )));
    }
    Ok(raw.to_owned())
}

/// A metric's key in the glossary, such as `net_revenue_retention`; unique in an organization
/// and the name formulas use to refer to the metric.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricKey(String);

impl MetricKey {
    /// Parses a key (see [`parse_slug`] for the alphabet); `-` is not allowed so keys can
    /// appear in formulas.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let key = parse_slug(raw)?;
        if key.contains('-') {
            return Err(Invalid::new(
                "may hold only lower-case letters, digits and `_`",
            ));
        }
        Ok(Self(key))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Stands in for a key that failed to parse, so a batch keeps its row positions while all
    /// its problems are collected; a batch holding one is always refused.
    pub fn placeholder() -> Self {
        Self("invalid_metric_key".to_owned())
    }
}

impl fmt::Display for MetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A metric's unit; money carries its ISO 4217 currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Money in one currency.
    Currency(iso_currency::Currency),
    /// Any unit that is not money.
    Plain(UnitKind),
}

impl Unit {
    /// Builds a unit from its kind and, for `CURRENCY`, a currency code such as `EUR`.
    /// A currency code on a unit that is not money is refused, so nothing is silently dropped.
    pub fn parse(kind: UnitKind, currency: Option<&str>) -> Result<Self, Invalid> {
        match (kind, currency) {
            (UnitKind::Currency, Some(code)) => iso_currency::Currency::from_code(code)
                .map(Unit::Currency)
                .ok_or_else(|| Invalid::new(format!("`{code}` is not an ISO 4217 currency code"))),
            (UnitKind::Currency, None) => {
                Err(Invalid::new("a CURRENCY unit needs a currency code"))
            }
            (_, Some(_)) => Err(Invalid::new("only a CURRENCY unit takes a currency code")),
            (kind, None) => Ok(Unit::Plain(kind)),
        }
    }

    /// The unit's kind.
    pub fn kind(self) -> UnitKind {
        match self {
            Unit::Currency(_) => UnitKind::Currency,
            Unit::Plain(kind) => kind,
        }
    }

    /// The ISO 4217 code of a money unit.
    pub fn currency_code(self) -> Option<&'static str> {
        match self {
            Unit::Currency(c) => Some(c.code()),
            Unit::Plain(_) => None,
        }
    }
}

/// Free text bounded to `max` characters after trimming; `required` refuses empty text.
pub fn parse_text(raw: &str, max: usize, required: bool) -> Result<String, Invalid> {
    let text = raw.trim();
    if required && text.is_empty() {
        return Err(Invalid::new("must not be empty"));
    }
    if text.chars().count() > max {
        return Err(Invalid::new(format!("must be at most {max} characters")));
    }
    Ok(text.to_owned())
}

/// Everything that defines a metric in the glossary. A change to any of it is a new version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricDefinition {
    /// Unique key.
    pub key: MetricKey,
    /// Display name.
    pub name: String,
    /// What the metric means and how it is measured.
    pub definition: String,
    /// Unit of its values.
    pub unit: Unit,
    /// Which way is good.
    pub direction: Direction,
    /// Balanced-scorecard perspective.
    pub perspective: Perspective,
    /// Input (lever) or output (outcome).
    pub kind: MetricKind,
    /// Roll-up over time and segments.
    pub aggregation: Aggregation,
    /// The team accountable for the definition and its data.
    pub owner_team: Option<String>,
    /// Formula over other metrics' keys, stored as text.
    pub formula: Option<String>,
}

/// A change to some fields of a definition; `None` leaves a field as it is. The key never
/// changes: pipelines and formulas refer to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricPatch {
    /// New display name.
    pub name: Option<String>,
    /// New definition text.
    pub definition: Option<String>,
    /// New unit.
    pub unit: Option<Unit>,
    /// New direction.
    pub direction: Option<Direction>,
    /// New perspective.
    pub perspective: Option<Perspective>,
    /// New kind.
    pub kind: Option<MetricKind>,
    /// New aggregation.
    pub aggregation: Option<Aggregation>,
    /// New owner team; `Some(None)` clears it.
    pub owner_team: Option<Option<String>>,
    /// New formula; `Some(None)` clears it.
    pub formula: Option<Option<String>>,
}

impl MetricDefinition {
    /// The definition with `patch` applied.
    pub fn apply(&self, patch: &MetricPatch) -> MetricDefinition {
        MetricDefinition {
            key: self.key.clone(),
            name: patch.name.clone().unwrap_or_else(|| self.name.clone()),
            definition: patch
                .definition
                .clone()
                .unwrap_or_else(|| self.definition.clone()),
            unit: patch.unit.unwrap_or(self.unit),
            direction: patch.direction.unwrap_or(self.direction),
            perspective: patch.perspective.unwrap_or(self.perspective),
            kind: patch.kind.unwrap_or(self.kind),
            aggregation: patch.aggregation.unwrap_or(self.aggregation),
            owner_team: patch
                .owner_team
                .clone()
                .unwrap_or_else(|| self.owner_team.clone()),
            formula: patch
                .formula
                .clone()
                .unwrap_or_else(|| self.formula.clone()),
        }
    }
}

/// Checks that a definition may be changed while the metric is in `status`.
pub fn ensure_editable(status: MetricStatus) -> Result<(), RuleViolation> {
    match status {
        MetricStatus::Retired => Err(RuleViolation::new(
            "a retired metric cannot change; define a new metric instead",
        )),
        MetricStatus::Draft | MetricStatus::Approved => Ok(()),
    }
}

/// The status a metric moves to when approved, or why it cannot.
pub fn approve(status: MetricStatus) -> Result<MetricStatus, RuleViolation> {
    match status {
        MetricStatus::Draft => Ok(MetricStatus::Approved),
        MetricStatus::Approved => Err(RuleViolation::new("the metric is already approved")),
        MetricStatus::Retired => Err(RuleViolation::new("a retired metric cannot be approved")),
    }
}

/// The status a metric moves to when retired, or why it cannot.
pub fn retire(status: MetricStatus) -> Result<MetricStatus, RuleViolation> {
    match status {
        MetricStatus::Draft | MetricStatus::Approved => Ok(MetricStatus::Retired),
        MetricStatus::Retired => Err(RuleViolation::new("the metric is already retired")),
    }
}

/// Checks that observations may be recorded for a metric in `status`.
pub fn ensure_recordable(status: MetricStatus) -> Result<(), Invalid> {
    match status {
        MetricStatus::Retired => Err(Invalid::new(
            "the metric is retired; it takes no new observations",
        )),
        MetricStatus::Draft | MetricStatus::Approved => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_lower_case_slugs() {
        assert!(MetricKey::parse("net_revenue_retention").is_ok());
        assert!(MetricKey::parse("nrr2").is_ok());
        assert!(MetricKey::parse("").is_err());
        assert!(MetricKey::parse("2nrr").is_err());
        assert!(MetricKey::parse("Net").is_err());
        assert!(MetricKey::parse("net-rev").is_err());
        assert!(MetricKey::parse("net rev").is_err());
        assert!(MetricKey::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn currency_units_need_a_real_code() {
        assert_eq!(
            Unit::parse(UnitKind::Currency, Some("EUR"))
                .unwrap()
                .currency_code(),
            Some("EUR")
        );
        assert!(Unit::parse(UnitKind::Currency, Some("XYZ")).is_err());
        assert!(Unit::parse(UnitKind::Currency, None).is_err());
        assert!(Unit::parse(UnitKind::Percent, Some("EUR")).is_err());
        assert_eq!(
            Unit::parse(UnitKind::Days, None).unwrap().kind(),
            UnitKind::Days
        );
    }

    #[test]
    fn life_cycle_moves_forward_only() {
        assert_eq!(approve(MetricStatus::Draft), Ok(MetricStatus::Approved));
        assert!(approve(MetricStatus::Approved).is_err());
        assert!(approve(MetricStatus::Retired).is_err());
        assert_eq!(retire(MetricStatus::Draft), Ok(MetricStatus::Retired));
        assert_eq!(retire(MetricStatus::Approved), Ok(MetricStatus::Retired));
        assert!(retire(MetricStatus::Retired).is_err());
        assert!(ensure_editable(MetricStatus::Retired).is_err());
        assert!(ensure_editable(MetricStatus::Approved).is_ok());
        assert!(ensure_recordable(MetricStatus::Retired).is_err());
    }

    #[test]
    fn patches_change_only_what_they_name() {
        let base = MetricDefinition {
            key: MetricKey::parse("nrr").unwrap(),
            name: "NRR".into(),
            definition: "Net revenue retention".into(),
            unit: Unit::Plain(UnitKind::Ratio),
            direction: Direction::HigherIsBetter,
            perspective: Perspective::Financial,
            kind: MetricKind::Output,
            aggregation: Aggregation::Last,
            owner_team: Some("RevOps".into()),
            formula: None,
        };
        assert_eq!(base.apply(&MetricPatch::default()), base);
        let patched = base.apply(&MetricPatch {
            name: Some("Net revenue retention".into()),
            owner_team: Some(None),
            ..MetricPatch::default()
        });
        assert_eq!(patched.name, "Net revenue retention");
        assert_eq!(patched.owner_team, None);
        assert_eq!(patched.definition, base.definition);
        assert_eq!(patched.key, base.key);
    }

    #[test]
    fn enum_names_round_trip() {
        for p in Perspective::ALL {
            assert_eq!(p.as_str().parse::<Perspective>().unwrap(), *p);
        }
        for a in Aggregation::ALL {
            assert_eq!(a.as_str().parse::<Aggregation>().unwrap(), *a);
        }
        assert!("financial".parse::<Perspective>().is_err());
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(parse_text("  ARR ", 10, true).unwrap(), "ARR");
        assert!(parse_text("  ", 10, true).is_err());
        assert_eq!(parse_text("  ", 10, false).unwrap(), "");
        assert!(parse_text("abcdefghijk", 10, true).is_err());
    }
}
