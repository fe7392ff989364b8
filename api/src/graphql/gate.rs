//! The admission gate: what a GraphQL document may ask for, decided in time linear in its
//! text, before the library validates it, before the caller is authenticated and before
//! anything runs.
//!
//! Validation in GraphQL servers can cost far more than the document's size (fragments that
//! spread other fragments twice double the work per level; thousands of aliases of one field
//! make the overlap check quadratic). The gate first measures the nesting of the raw text,
//! then walks the parsed document once, memoizing each fragment, and refuses a document whose
//! expanded size, aliases, operations, root fields, depth or cost exceed the limits.
//!
//! Cost follows the model GitHub and Shopify publish: an object costs 1, a scalar 0; a
//! connection multiplies the cost of one item by its page size (`first`/`last`, or the default
//! page); a list argument (`ids`) multiplies by its length; computed reports carry a price
//! that grows with the periods, segments and metrics they compute. The figure is an upper
//! bound of the objects a response can hold, known before anything runs.

use std::collections::HashMap;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{Name, Positioned, Variables};
use async_graphql_value::{ConstValue, Value};
use chrono::{Datelike, NaiveDate};

use super::Limits;

/// Items assumed in a list whose length nothing in the query fixes (a scorecard's items,
/// a report's rows when the report has no price of its own).
const DEFAULT_LIST_ITEMS: u64 = 10;

/// Segments assumed when a report is broken down by segment.
const ASSUMED_SEGMENTS: u64 = 10;

/// Journey stages assumed when a report is broken down by stage.
const ASSUMED_STAGES: u64 = 5;

/// Flat price of one introspection field (`__schema`, `__type`): its answer is bounded by the
/// schema, not by the data.
const INTROSPECTION_PRICE: u64 = 10;

/// Deepest nesting of lists inside an introspection answer (`types { fields { args } }` is 3;
/// deeper nesting re-enters whole types and multiplies the answer).
const MAX_INTROSPECTION_LIST_NESTING: usize = 3;

/// Deepest nesting of an introspection selection (graphql-js's standard query is 15 deep).
pub const MAX_INTROSPECTION_DEPTH: usize = 20;

/// Deepest nesting of brackets in the raw text; deeper text is refused before it is parsed.
pub const MAX_TEXT_NESTING: usize = 64;

/// What the gate measured of an admitted document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Admission {
    /// The most the selected operation can cost (the costliest operation when none is named).
    pub cost: u64,
    /// Deepest nesting of data fields (introspection excluded).
    pub depth: usize,
    /// Whether the document asks for `__schema` or `__type`.
    pub introspection: bool,
    /// Whether the document holds a subscription.
    pub subscription: bool,
}

/// Why the gate refused a document: a message, the name of the limit, and the figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What the client reads.
    pub message: String,
    /// The limit's name, as `extensions.limit` reports it.
    pub limit: &'static str,
    /// The figure the document reached (or a lower bound of it when counting stopped early).
    pub actual: u64,
    /// The limit's value.
    pub maximum: u64,
}

impl Refusal {
    fn new(limit: &'static str, actual: u64, maximum: u64, what: &str) -> Self {
        Self {
            message: format!(
                "the query exceeds the {what} limit: {actual} where at most {maximum} is allowed"
            ),
            limit,
            actual,
            maximum,
        }
    }
}

/// Refuses raw text whose brackets nest deeper than [`MAX_TEXT_NESTING`] (the parser recurses
/// once per level), skipping strings, block strings and comments.
pub fn check_text(query: &str) -> Result<(), Refusal> {
    let bytes = query.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'(' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
                if deepest > MAX_TEXT_NESTING {
                    return Err(Refusal::new(
                        "textNesting",
                        deepest as u64,
                        MAX_TEXT_NESTING as u64,
                        "bracket nesting",
                    ));
                }
            }
            b'}' | b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// What one selection set adds up to, once its fragments are expanded.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    /// Cost paid once, whatever the enclosing list's length.
    fixed: u64,
    /// Cost of one item of the enclosing list (a connection's `nodes`/`edges`, a report's
    /// rows): the enclosing field multiplies it.
    per_item: u64,
    /// Fields after expansion.
    fields: u64,
    /// Fragment spreads after expansion.
    spreads: u64,
    /// Aliased fields after expansion.
    aliases: u64,
    /// Deepest data nesting below this set (1 for a set of leaves).
    depth: usize,
    /// Deepest introspection nesting below this set.
    introspection_depth: usize,
    /// Whether introspection is asked for.
    introspection: bool,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.fixed = self.fixed.saturating_add(other.fixed);
        self.per_item = self.per_item.saturating_add(other.per_item);
        self.fields = self.fields.saturating_add(other.fields);
        self.spreads = self.spreads.saturating_add(other.spreads);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.depth = self.depth.max(other.depth);
        self.introspection_depth = self.introspection_depth.max(other.introspection_depth);
        self.introspection |= other.introspection;
    }

    /// Cost of the set when its enclosing list holds `items` items.
    fn cost(&self, items: u64) -> u64 {
        self.fixed
            .saturating_add(items.saturating_mul(self.per_item))
    }
}

/// Where a selection set sits: inside introspection (and how many lists deep), or in data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Zone {
    Data,
    Introspection(usize),
}

/// Walks one document; fragments are measured once per zone and reused.
struct Walker<'a> {
    document: &'a ExecutableDocument,
    registry: &'a Registry,
    variables: &'a Variables,
    defaults: HashMap<&'a str, &'a ConstValue>,
    limits: &'a Limits,
    memo: HashMap<(&'a str, Zone), Tally>,
    in_progress: Vec<&'a str>,
}

impl<'a> Walker<'a> {
    /// The value of an argument with variables put in (None when it cannot be known).
    fn value(&self, value: &Value) -> Option<ConstValue> {
        value
            .clone()
            .into_const_with(|name: Name| {
                self.variables
                    .get(&name)
                    .cloned()
                    .or_else(|| self.defaults.get(name.as_str()).map(|v| (*v).clone()))
                    .ok_or(())
            })
            .ok()
    }

    fn argument(
        &self,
        arguments: &[(Positioned<Name>, Positioned<Value>)],
        name: &str,
    ) -> Option<ConstValue> {
        arguments
            .iter()
            .find(|(n, _)| n.node.as_str() == name)
            .and_then(|(_, v)| self.value(&v.node))
    }

    fn page_size(&self, arguments: &[(Positioned<Name>, Positioned<Value>)]) -> u64 {
        let asked = ["first", "last"]
            .iter()
            .filter_map(|name| match self.argument(arguments, name) {
                Some(ConstValue::Number(n)) => n.as_u64(),
                _ => None,
            })
            .max();
        asked
            .unwrap_or(self.limits.default_page_size)
            .min(self.limits.max_page_size)
    }

    fn selection_set(
        &mut self,
        set: &'a Positioned<SelectionSet>,
        type_name: &str,
        zone: Zone,
    ) -> Result<Tally, Refusal> {
        let mut tally = Tally::default();
        for selection in &set.node.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field_tally = self.field(&field.node, type_name, zone)?;
                    tally.add(&field_tally);
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    let mut inner = self.fragment(name, zone)?;
                    inner.spreads = inner.spreads.saturating_add(1);
                    tally.add(&inner);
                }
                Selection::InlineFragment(inline) => {
                    let on = inline
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(type_name, |c| c.node.on.node.as_str());
                    let inner = self.selection_set(&inline.node.selection_set, on, zone)?;
                    tally.add(&inner);
                }
            }
            self.check_size(&tally)?;
        }
        Ok(tally)
    }

    fn fragment(&mut self, name: &'a str, zone: Zone) -> Result<Tally, Refusal> {
        if let Some(done) = self.memo.get(&(name, zone)) {
            return Ok(*done);
        }
        let Some(fragment) = self.document.fragments.get(name) else {
            // Validation reports the unknown fragment.
            return Ok(Tally::default());
        };
        if self.in_progress.contains(&name) {
            // Validation reports the cycle; counting it would never end.
            return Ok(Tally::default());
        }
        self.in_progress.push(name);
        let on = fragment.node.type_condition.node.on.node.as_str();
        let result = self.selection_set(&fragment.node.selection_set, on, zone);
        self.in_progress.pop();
        let tally = result?;
        self.memo.insert((name, zone), tally);
        Ok(tally)
    }

    fn check_size(&self, tally: &Tally) -> Result<(), Refusal> {
        let limits = self.limits;
        if tally.spreads > limits.max_fragment_spreads as u64 {
            return Err(Refusal::new(
                "fragmentSpreads",
                tally.spreads,
                limits.max_fragment_spreads as u64,
                "expanded fragment spreads",
            ));
        }
        if tally.fields > limits.max_fields as u64 {
            return Err(Refusal::new(
                "fields",
                tally.fields,
                limits.max_fields as u64,
                "expanded fields",
            ));
        }
        if tally.aliases > limits.max_aliases as u64 {
            return Err(Refusal::new(
                "aliases",
                tally.aliases,
                limits.max_aliases as u64,
                "aliases",
            ));
        }
        Ok(())
    }

    fn field(
        &mut self,
        field: &'a async_graphql::parser::types::Field,
        parent: &str,
        zone: Zone,
    ) -> Result<Tally, Refusal> {
        let name = field.name.node.as_str();
        let mut tally = Tally {
            fields: 1,
            aliases: u64::from(field.alias.is_some()),
            depth: 1,
            ..Tally::default()
        };
        if name == "__typename" {
            return Ok(tally);
        }
        let meta = self
            .registry
            .types
            .get(parent)
            .and_then(|t| t.field_by_name(name));
        let Some(meta) = meta else {
            // Unknown field: validation refuses it; count what is under it all the same.
            let inner = self.selection_set(&field.selection_set, "", zone)?;
            tally.fields = tally.fields.saturating_add(inner.fields);
            tally.spreads = inner.spreads;
            tally.aliases = tally.aliases.saturating_add(inner.aliases);
            return Ok(tally);
        };
        let ty = meta.ty.as_str();
        let base = MetaTypeName::concrete_typename(ty);
        let is_list = is_list(ty);
        let composite = self
            .registry
            .types
            .get(base)
            .is_some_and(MetaType::is_composite);

        let zone_below = match zone {
            Zone::Data if name == "__schema" || name == "__type" => Zone::Introspection(0),
            Zone::Introspection(lists) if is_list && composite => {
                if lists + 1 > MAX_INTROSPECTION_LIST_NESTING {
                    return Err(Refusal::new(
                        "introspectionNesting",
                        (lists + 1) as u64,
                        MAX_INTROSPECTION_LIST_NESTING as u64,
                        "introspection list nesting",
                    ));
                }
                Zone::Introspection(lists + 1)
            }
            other => other,
        };
        let inner = self.selection_set(&field.selection_set, base, zone_below)?;
        tally.fields = tally.fields.saturating_add(inner.fields);
        tally.spreads = inner.spreads;
        tally.aliases = tally.aliases.saturating_add(inner.aliases);
        tally.introspection = inner.introspection || zone_below != Zone::Data;

        if zone_below != Zone::Data {
            tally.depth = 0;
            tally.introspection_depth = 1 + inner.depth.max(inner.introspection_depth);
            if zone == Zone::Data {
                tally.fixed = INTROSPECTION_PRICE;
            }
            return Ok(tally);
        }
        tally.depth = 1 + inner.depth;
        tally.introspection_depth = inner.introspection_depth;
        if !composite {
            return Ok(tally);
        }

        let price = self.report_price(parent, name, &field.arguments);
        let connection = base.ends_with("Connection");
        // How many items the lists inside this field's value hold.
        let items_inside = if connection {
            self.page_size(&field.arguments)
        } else {
            price.map_or(DEFAULT_LIST_ITEMS, |p| p.rows)
        };
        let item = 1u64.saturating_add(inner.cost(items_inside));
        let report = price.map_or(0, |p| p.price);
        if is_list {
            let own = match self.argument(&field.arguments, "ids") {
                Some(ConstValue::List(ids)) => Some(ids.len() as u64),
                _ => price.map(|p| p.rows),
            };
            match own {
                Some(n) => tally.fixed = report.saturating_add(n.saturating_mul(item)),
                None => {
                    tally.fixed = report;
                    tally.per_item = item;
                }
            }
        } else {
            tally.fixed = report.saturating_add(item);
        }
        Ok(tally)
    }

    /// The price and row count of a computed report, from its arguments.
    fn report_price(
        &self,
        parent: &str,
        field: &str,
        arguments: &[(Positioned<Name>, Positioned<Value>)],
    ) -> Option<Price> {
        let input = || match self.argument(arguments, "input") {
            Some(ConstValue::Object(map)) => map,
            _ => Default::default(),
        };
        let flag = |map: &async_graphql::indexmap::IndexMap<Name, ConstValue>, key: &str| {
            matches!(map.get(key), Some(ConstValue::Boolean(true)))
        };
        let periods = |map: &async_graphql::indexmap::IndexMap<Name, ConstValue>| {
            periods_between(
                string(map.get("from")),
                string(map.get("to")),
                enum_name(map.get("granularity")),
            )
        };
        let rows = match (parent, field) {
            ("Query", "metricSeries") => {
                let input = input();
                let mut rows = periods(&input);
                if flag(&input, "bySegment") {
                    rows = rows.saturating_mul(ASSUMED_SEGMENTS + 1);
                }
                if flag(&input, "byStage") {
                    rows = rows.saturating_mul(ASSUMED_STAGES + 1);
                }
                rows
            }
            ("Query", "revenueRetention") => {
                let input = input();
                let rows = periods(&input);
                if flag(&input, "bySegment") {
                    rows.saturating_mul(ASSUMED_SEGMENTS + 1)
                } else {
                    rows
                }
            }
            ("Query", "metricMatrix") => {
                let metrics = match input().get("metricKeys") {
                    Some(ConstValue::List(keys)) => keys.len() as u64,
                    _ => 1,
                };
                metrics.saturating_mul((ASSUMED_SEGMENTS + 1) * (ASSUMED_STAGES + 1))
            }
            ("Query", "metricTree") => 50,
            ("Query", "arrExposure") => 3 * (ASSUMED_SEGMENTS + 1) * 4,
            ("Query", "payoutPreview") => 100,
            ("Query", "planTotals" | "roleBalance" | "guardChecks" | "maturity") => 20,
            ("Query", "metricValue") => 5,
            ("Dashboard", "data") => 100,
            ("Scorecard", "evaluation") => DEFAULT_LIST_ITEMS,
            _ => return None,
        };
        Some(Price { price: rows, rows })
    }
}

/// A computed report's price, and the rows its lists hold.
#[derive(Debug, Clone, Copy)]
struct Price {
    price: u64,
    rows: u64,
}

fn is_list(ty: &str) -> bool {
    match MetaTypeName::create(ty) {
        MetaTypeName::List(_) => true,
        MetaTypeName::NonNull(inner) => is_list(inner),
        MetaTypeName::Named(_) => false,
    }
}

fn string(value: Option<&ConstValue>) -> Option<&str> {
    match value {
        Some(ConstValue::String(s)) => Some(s),
        _ => None,
    }
}

fn enum_name(value: Option<&ConstValue>) -> Option<&str> {
    match value {
        Some(ConstValue::Enum(name)) => Some(name.as_str()),
        Some(ConstValue::String(s)) => Some(s),
        _ => None,
    }
}

/// Buckets of `granularity` between two dates (1 when no granularity splits the range or
/// the dates cannot be read; validation refuses bad dates later).
fn periods_between(from: Option<&str>, to: Option<&str>, granularity: Option<&str>) -> u64 {
    let date = |s: Option<&str>| s.and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok());
    let (Some(from), Some(to)) = (date(from), date(to)) else {
        return 1;
    };
    if to < from {
        return 1;
    }
    let days = (to - from).num_days().unsigned_abs() + 1;
    let months = (i64::from(to.year()) - i64::from(from.year())) * 12 + i64::from(to.month())
        - i64::from(from.month());
    let months = months.unsigned_abs() + 1;
    match granularity {
        Some("DAY") => days,
        Some("WEEK") => days / 7 + 2,
        Some("MONTH") => months,
        Some("QUARTER") => months / 3 + 2,
        Some("YEAR") => u64::from((to.year() - from.year()).unsigned_abs()) + 1,
        _ => 1,
    }
}

/// Measures a parsed document against the limits; refuses it when it asks for too much.
pub fn admit(
    document: &ExecutableDocument,
    registry: &Registry,
    variables: &Variables,
    limits: &Limits,
) -> Result<Admission, Refusal> {
    let operations: Vec<_> = match &document.operations {
        DocumentOperations::Single(op) => vec![op],
        DocumentOperations::Multiple(ops) => ops.values().collect(),
    };
    if operations.len() > limits.max_operations {
        return Err(Refusal::new(
            "operations",
            operations.len() as u64,
            limits.max_operations as u64,
            "operations per document",
        ));
    }
    let defaults = operations
        .iter()
        .flat_map(|op| op.node.variable_definitions.iter())
        .filter_map(|d| {
            d.node
                .default_value
                .as_ref()
                .map(|v| (d.node.name.node.as_str(), &v.node))
        })
        .collect();
    let mut walker = Walker {
        document,
        registry,
        variables,
        defaults,
        limits,
        memo: HashMap::new(),
        in_progress: Vec::new(),
    };
    let mut admission = Admission::default();
    let mut total = Tally::default();
    for op in &operations {
        let root = match op.node.ty {
            OperationType::Query => registry.query_type.as_str(),
            OperationType::Mutation => registry.mutation_type.as_deref().unwrap_or("Mutation"),
            OperationType::Subscription => registry
                .subscription_type
                .as_deref()
                .unwrap_or("Subscription"),
        };
        admission.subscription |= op.node.ty == OperationType::Subscription;
        let tally = walker.selection_set(&op.node.selection_set, root, Zone::Data)?;
        let root_count = root_field_count(&walker, &op.node.selection_set);
        if root_count > limits.max_root_fields as u64 {
            return Err(Refusal::new(
                "rootFields",
                root_count,
                limits.max_root_fields as u64,
                "root fields",
            ));
        }
        total.add(&tally);
        walker.check_size(&total)?;
        let cost = tally.cost(DEFAULT_LIST_ITEMS).max(1);
        admission.cost = admission.cost.max(cost);
        admission.depth = admission.depth.max(tally.depth);
        admission.introspection |= tally.introspection;
        if tally.depth > limits.max_depth {
            return Err(Refusal::new(
                "queryDepth",
                tally.depth as u64,
                limits.max_depth as u64,
                "depth",
            ));
        }
        if tally.introspection_depth > MAX_INTROSPECTION_DEPTH {
            return Err(Refusal::new(
                "introspectionDepth",
                tally.introspection_depth as u64,
                MAX_INTROSPECTION_DEPTH as u64,
                "introspection depth",
            ));
        }
    }
    let max_cost = limits.max_cost;
    if admission.cost > max_cost {
        return Err(Refusal::new("queryCost", admission.cost, max_cost, "cost"));
    }
    Ok(admission)
}

/// Root fields after fragments at the root are expanded (fragments memoized by name).
fn root_field_count<'a>(walker: &Walker<'a>, set: &'a Positioned<SelectionSet>) -> u64 {
    fn count<'a>(
        document: &'a ExecutableDocument,
        set: &'a SelectionSet,
        memo: &mut HashMap<&'a str, u64>,
        stack: &mut Vec<&'a str>,
    ) -> u64 {
        set.items.iter().fold(0u64, |sum, s| {
            let n = match &s.node {
                Selection::Field(_) => 1,
                Selection::InlineFragment(inline) => {
                    count(document, &inline.node.selection_set.node, memo, stack)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if let Some(n) = memo.get(name) {
                        *n
                    } else if stack.contains(&name) {
                        0
                    } else if let Some(fragment) = document.fragments.get(name) {
                        stack.push(name);
                        let n = count(document, &fragment.node.selection_set.node, memo, stack);
                        stack.pop();
                        memo.insert(name, n);
                        n
                    } else {
                        0
                    }
                }
            };
            sum.saturating_add(n)
        })
    }
    let mut memo = HashMap::new();
    count(walker.document, &set.node, &mut memo, &mut Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_nesting_is_bounded_outside_strings_and_comments() {
        let deep = format!("{}{}", "{a".repeat(100), "}".repeat(100));
        assert_eq!(check_text(&deep).map_err(|r| r.limit), Err("textNesting"));
        let quoted = format!("{{ a(s: \"{}\") }}", "{".repeat(500));
        assert!(check_text(&quoted).is_ok());
        let block = format!("{{ a(s: \"\"\"{}\"\"\") }}", "[".repeat(500));
        assert!(check_text(&block).is_ok());
        let comment = format!("# {}\n{{ a }}", "(".repeat(500));
        assert!(check_text(&comment).is_ok());
    }

    #[test]
    fn periods_follow_the_granularity() {
        let p = |g| periods_between(Some("2026-01-01"), Some("2026-12-31"), Some(g));
        assert_eq!(p("MONTH"), 12);
        assert_eq!(p("YEAR"), 1);
        assert_eq!(p("DAY"), 365);
        assert!(p("QUARTER") >= 4);
        assert!(p("WEEK") >= 52);
        assert_eq!(
            periods_between(Some("2026-01-01"), Some("2026-12-31"), None),
            1
        );
        assert_eq!(
            periods_between(Some("x"), Some("2026-12-31"), Some("DAY")),
            1
        );
    }
}
