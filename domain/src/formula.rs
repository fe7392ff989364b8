//! Formula metrics: arithmetic over other metrics' keys, such as
//! `(starting_mrr + expansion_mrr - contraction_mrr - churned_mrr) / starting_mrr`.
//!
//! Grammar (whitespace allowed between tokens):
//!
//! ```text
//! expr   = term   (("+" | "-") term)*
//! term   = factor (("*" | "/") factor)*
//! factor = number | metric_key | "(" expr ")" | "-" factor
//! ```
//!
//! Numbers are exact decimals (`0.5`, `100`). Evaluation is exact `Decimal` arithmetic; a
//! division by zero, a missing input or an overflow makes the value absent with a reason.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use thiserror::Error;
use winnow::Parser;
use winnow::ascii::{digit1, multispace0};
use winnow::combinator::{alt, cut_err, delimited, opt, preceded, repeat};
use winnow::token::{one_of, take_while};

use crate::metrics::Aggregation;
use crate::metrics::MetricKey;
use crate::periods::{DateRange, Granularity, Period};
use crate::rollup::{Breakdown, Fact, Overflow, roll_up};

/// The longest formula accepted, in characters.
pub const MAX_FORMULA_LENGTH: usize = 2_000;

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

/// A parsed formula expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A literal number.
    Number(Decimal),
    /// Another metric's value.
    Metric(MetricKey),
    /// `-x`
    Neg(Box<Expr>),
    /// `a op b`
    Binary(Op, Box<Expr>, Box<Expr>),
}

/// A formula that parsed: its source text and expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formula {
    source: String,
    expr: Expr,
}

/// Why a formula does not parse, and where: `position` is the 1-based character column.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message} at position {position}")]
pub struct FormulaError {
    /// 1-based character position of the problem.
    pub position: usize,
    /// What is wrong there.
    pub message: String,
}

/// Why a formula has no value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvalError {
    /// A divisor was zero.
    #[error("division by zero: `{0}` is 0")]
    DivisionByZero(String),
    /// An input metric has no value.
    #[error("no value for `{0}`")]
    Missing(MetricKey),
    /// The result does not fit in a decimal.
    #[error("the result is too large to compute exactly")]
    Overflow,
}

type Input<'a> = &'a str;
type PResult<T> = winnow::ModalResult<T>;

fn expr(i: &mut Input<'_>) -> PResult<Expr> {
    let first = term.parse_next(i)?;
    repeat(
        0..,
        (
            delimited(multispace0, one_of(['+', '-']), multispace0),
            cut_err(term),
        ),
    )
    .fold(
        move || first.clone(),
        |acc, (op, rhs): (char, Expr)| {
            let op = if op == '+' { Op::Add } else { Op::Sub };
            Expr::Binary(op, Box::new(acc), Box::new(rhs))
        },
    )
    .parse_next(i)
}

fn term(i: &mut Input<'_>) -> PResult<Expr> {
    let first = factor.parse_next(i)?;
    repeat(
        0..,
        (
            delimited(multispace0, one_of(['*', '/']), multispace0),
            cut_err(factor),
        ),
    )
    .fold(
        move || first.clone(),
        |acc, (op, rhs): (char, Expr)| {
            let op = if op == '*' { Op::Mul } else { Op::Div };
            Expr::Binary(op, Box::new(acc), Box::new(rhs))
        },
    )
    .parse_next(i)
}

fn factor(i: &mut Input<'_>) -> PResult<Expr> {
    delimited(
        multispace0,
        alt((
            number,
            key,
            preceded(('(', multispace0), cut_err((expr, multispace0, ')'))).map(|(e, _, _)| e),
            preceded('-', cut_err(factor)).map(|e| Expr::Neg(Box::new(e))),
        )),
        multispace0,
    )
    .parse_next(i)
}

fn number(i: &mut Input<'_>) -> PResult<Expr> {
    (digit1, opt(('.', digit1)))
        .take()
        .try_map(Decimal::from_str)
        .map(Expr::Number)
        .parse_next(i)
}

fn key(i: &mut Input<'_>) -> PResult<Expr> {
    (
        one_of(|c: char| c.is_ascii_lowercase()),
        take_while(0.., |c: char| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
        }),
    )
        .take()
        .try_map(MetricKey::parse)
        .map(Expr::Metric)
        .parse_next(i)
}

impl Formula {
    /// Parses a formula, naming the position of the first problem.
    pub fn parse(source: &str) -> Result<Self, FormulaError> {
        let trimmed = source.trim_end();
        if trimmed.trim_start().is_empty() {
            return Err(FormulaError {
                position: 1,
                message: "the formula is empty".to_owned(),
            });
        }
        if source.chars().count() > MAX_FORMULA_LENGTH {
            return Err(FormulaError {
                position: MAX_FORMULA_LENGTH + 1,
                message: format!("the formula is longer than {MAX_FORMULA_LENGTH} characters"),
            });
        }
        match expr.parse(trimmed) {
            Ok(expr) => Ok(Self {
                source: source.trim().to_owned(),
                expr,
            }),
            Err(e) => Err(syntax_error(trimmed, e.offset())),
        }
    }

    /// The formula as written (trimmed).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The parsed expression.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// The metric keys the formula reads.
    pub fn references(&self) -> BTreeSet<MetricKey> {
        let mut keys = BTreeSet::new();
        collect_keys(&self.expr, &mut keys);
        keys
    }

    /// Computes the formula from its inputs' values.
    pub fn evaluate(
        &self,
        value_of: &dyn Fn(&MetricKey) -> Option<Decimal>,
    ) -> Result<Decimal, EvalError> {
        eval(&self.expr, value_of).map(|v| v.normalize())
    }
}

impl fmt::Display for Formula {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Turns the byte offset where parsing stopped into a message and a character position.
fn syntax_error(source: &str, offset: usize) -> FormulaError {
    let position = source
        .get(..offset)
        .map_or(offset, |prefix| prefix.chars().count())
        + 1;
    let message = match source.get(offset..).and_then(|rest| rest.chars().next()) {
        None => "the formula ends where a number, metric key or `(` was expected".to_owned(),
        Some(')') => "unexpected `)` without a matching `(`".to_owned(),
        Some(c) if c.is_ascii_uppercase() => {
            format!("unexpected `{c}`: metric keys are lower-case letters, digits and `_`")
        }
        Some(c) => format!("unexpected `{c}`"),
    };
    FormulaError { position, message }
}

fn collect_keys(expr: &Expr, keys: &mut BTreeSet<MetricKey>) {
    match expr {
        Expr::Number(_) => {}
        Expr::Metric(k) => {
            keys.insert(k.clone());
        }
        Expr::Neg(e) => collect_keys(e, keys),
        Expr::Binary(_, a, b) => {
            collect_keys(a, keys);
            collect_keys(b, keys);
        }
    }
}

fn eval(
    expr: &Expr,
    value_of: &dyn Fn(&MetricKey) -> Option<Decimal>,
) -> Result<Decimal, EvalError> {
    match expr {
        Expr::Number(n) => Ok(*n),
        Expr::Metric(k) => value_of(k).ok_or_else(|| EvalError::Missing(k.clone())),
        Expr::Neg(e) => Ok(-eval(e, value_of)?),
        Expr::Binary(op, a, b) => {
            let (x, y) = (eval(a, value_of)?, eval(b, value_of)?);
            match op {
                Op::Add => x.checked_add(y),
                Op::Sub => x.checked_sub(y),
                Op::Mul => x.checked_mul(y),
                Op::Div if y.is_zero() => return Err(EvalError::DivisionByZero(render(b))),
                Op::Div => x.checked_div(y),
            }
            .ok_or(EvalError::Overflow)
        }
    }
}

/// Writes an expression back as text, for messages.
fn render(expr: &Expr) -> String {
    match expr {
        Expr::Number(n) => n.to_string(),
        Expr::Metric(k) => k.to_string(),
        Expr::Neg(e) => format!("-{}", render(e)),
        Expr::Binary(op, a, b) => {
            let sym = match op {
                Op::Add => "+",
                Op::Sub => "-",
                Op::Mul => "*",
                Op::Div => "/",
            };
            format!("({} {sym} {})", render(a), render(b))
        }
    }
}

/// One bucket of a formula series: the value, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormulaPoint<K> {
    /// The bucket.
    pub period: Period,
    /// The segment, when broken down by segment.
    pub segment: Option<K>,
    /// The stage, when broken down by stage.
    pub stage: Option<K>,
    /// The computed value.
    pub value: Result<Decimal, EvalError>,
}

/// Evaluates a formula bucket by bucket from its inputs' points (same granularity and
/// breakdown): every bucket that any input has gets a point, whose value is missing with a
/// reason when an input has no value there or a divisor is zero.
pub fn evaluate_series<K: Ord + Clone>(
    formula: &Formula,
    inputs: &BTreeMap<MetricKey, Vec<FormulaPoint<K>>>,
) -> Vec<FormulaPoint<K>> {
    type Cell<K> = (Period, Option<K>, Option<K>);
    let mut table: BTreeMap<Cell<K>, BTreeMap<&MetricKey, Decimal>> = BTreeMap::new();
    for (key, points) in inputs {
        for p in points {
            let cell = table
                .entry((p.period, p.segment.clone(), p.stage.clone()))
                .or_default();
            if let Ok(v) = p.value {
                cell.insert(key, v);
            }
        }
    }
    table
        .into_iter()
        .map(|((period, segment, stage), values)| FormulaPoint {
            period,
            segment,
            stage,
            value: formula.evaluate(&|k| values.get(k).copied()),
        })
        .collect()
}

/// What the glossary knows about a metric a series reads.
pub struct Source<'a, K> {
    /// Its formula, when it is a formula metric.
    pub formula: Option<&'a Formula>,
    /// How its values roll up.
    pub aggregation: Aggregation,
    /// Its recorded values (any range; only those starting in the requested range count).
    pub facts: &'a [Fact<K>],
}

/// How deep formula metrics may nest inside each other.
pub const MAX_NESTING: usize = 16;

/// A metric's series over `range`: rolled up from its own values, or, for a formula metric,
/// computed bucket by bucket from its inputs' series (which may be formulas themselves).
pub fn metric_series<'a, K: Ord + Clone + 'a>(
    key: &MetricKey,
    lookup: &dyn Fn(&MetricKey) -> Option<Source<'a, K>>,
    range: DateRange,
    granularity: Granularity,
    breakdown: Breakdown,
) -> Result<Vec<FormulaPoint<K>>, Overflow> {
    series_at(key, lookup, range, granularity, breakdown, 0)
}

/// An ad-hoc formula's series over `range`, from its inputs' series.
pub fn formula_series<'a, K: Ord + Clone + 'a>(
    formula: &Formula,
    lookup: &dyn Fn(&MetricKey) -> Option<Source<'a, K>>,
    range: DateRange,
    granularity: Granularity,
    breakdown: Breakdown,
) -> Result<Vec<FormulaPoint<K>>, Overflow> {
    formula_at(formula, lookup, range, granularity, breakdown, 0)
}

fn series_at<'a, K: Ord + Clone + 'a>(
    key: &MetricKey,
    lookup: &dyn Fn(&MetricKey) -> Option<Source<'a, K>>,
    range: DateRange,
    granularity: Granularity,
    breakdown: Breakdown,
    depth: usize,
) -> Result<Vec<FormulaPoint<K>>, Overflow> {
    let Some(source) = lookup(key) else {
        return Ok(Vec::new());
    };
    if let Some(formula) = source.formula {
        return formula_at(formula, lookup, range, granularity, breakdown, depth + 1);
    }
    let facts: Vec<Fact<K>> = source
        .facts
        .iter()
        .filter(|f| f.period.start() >= range.from() && f.period.start() <= range.to())
        .cloned()
        .collect();
    let series = roll_up(&facts, source.aggregation, granularity, breakdown)?;
    Ok(series
        .points
        .into_iter()
        .map(|p| FormulaPoint {
            period: p.period,
            segment: p.segment,
            stage: p.stage,
            value: Ok(p.value),
        })
        .collect())
}

fn formula_at<'a, K: Ord + Clone + 'a>(
    formula: &Formula,
    lookup: &dyn Fn(&MetricKey) -> Option<Source<'a, K>>,
    range: DateRange,
    granularity: Granularity,
    breakdown: Breakdown,
    depth: usize,
) -> Result<Vec<FormulaPoint<K>>, Overflow> {
    if depth > MAX_NESTING {
        return Ok(Vec::new());
    }
    let mut inputs = BTreeMap::new();
    for key in formula.references() {
        let points = series_at(&key, lookup, range, granularity, breakdown, depth)?;
        inputs.insert(key, points);
    }
    Ok(evaluate_series(formula, &inputs))
}

/// Checks a formula against the glossary before it is saved: every key it reads must exist,
/// and formula metrics must not read each other in a circle. `formulas` holds the other formula
/// metrics' references; `known` every metric key of the organization.
pub fn check_definition(
    key: &MetricKey,
    formula: &Formula,
    known: &BTreeSet<MetricKey>,
    formulas: &BTreeMap<MetricKey, BTreeSet<MetricKey>>,
) -> Result<(), FormulaError> {
    let refs = formula.references();
    if let Some(unknown) = refs.iter().find(|k| *k != key && !known.contains(*k)) {
        return Err(FormulaError {
            position: key_position(formula.source(), unknown),
            message: format!("unknown metric key `{unknown}`"),
        });
    }
    let mut graph = formulas.clone();
    graph.insert(key.clone(), refs);
    if let Some(cycle) = find_cycle(&graph).filter(|c| c.contains(key)) {
        let path: Vec<&str> = cycle.iter().map(MetricKey::as_str).collect();
        let second = cycle.get(1).unwrap_or(key);
        return Err(FormulaError {
            position: key_position(formula.source(), second),
            message: format!(
                "formulas would read each other in a circle: {}",
                path.join(" -> ")
            ),
        });
    }
    Ok(())
}

/// The 1-based character position of the first whole-word use of `key` in `source`.
fn key_position(source: &str, key: &MetricKey) -> usize {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(found) = source.get(from..).and_then(|rest| rest.find(key.as_str())) {
        let at = from + found;
        let end = at + key.as_str().len();
        let before_ok = source
            .get(..at)
            .and_then(|b| b.chars().last())
            .is_none_or(|c| !word(c));
        let after_ok = source
            .get(end..)
            .and_then(|a| a.chars().next())
            .is_none_or(|c| !word(c));
        if before_ok && after_ok {
            return source.get(..at).map_or(1, |b| b.chars().count() + 1);
        }
        from = end;
    }
    1
}

/// Finds a cycle in a directed graph given as `node -> nodes it reads`, if there is one;
/// the cycle is returned as a path that starts and ends on the same node.
pub fn find_cycle<K: Ord + Clone>(edges: &BTreeMap<K, BTreeSet<K>>) -> Option<Vec<K>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    let mut marks: BTreeMap<&K, Mark> = BTreeMap::new();
    for start in edges.keys() {
        if marks.contains_key(start) {
            continue;
        }
        // Iterative depth-first search: each frame is a node and its remaining successors.
        let mut path: Vec<&K> = vec![start];
        let mut stack: Vec<std::collections::btree_set::Iter<'_, K>> = Vec::new();
        marks.insert(start, Mark::Open);
        stack.push(edges.get(start).map(|s| s.iter()).unwrap_or_default());
        while let Some(successors) = stack.last_mut() {
            match successors.next() {
                Some(next) => match marks.get(next) {
                    Some(Mark::Open) => {
                        let from = path.iter().position(|n| *n == next).unwrap_or(0);
                        let mut cycle: Vec<K> = path[from..].iter().map(|k| (*k).clone()).collect();
                        cycle.push(next.clone());
                        return Some(cycle);
                    }
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(next, Mark::Open);
                        path.push(next);
                        stack.push(edges.get(next).map(|s| s.iter()).unwrap_or_default());
                    }
                },
                None => {
                    stack.pop();
                    if let Some(done) = path.pop() {
                        marks.insert(done, Mark::Done);
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn k(s: &str) -> MetricKey {
        MetricKey::parse(s).unwrap()
    }

    fn values(table: &[(&str, Decimal)]) -> impl Fn(&MetricKey) -> Option<Decimal> + use<> {
        let map: BTreeMap<MetricKey, Decimal> = table.iter().map(|(n, v)| (k(n), *v)).collect();
        move |key| map.get(key).copied()
    }

    /// Worked table, NRR from its parts:
    ///
    /// | key             | value  |
    /// |-----------------|--------|
    /// | starting_mrr    | 3,400  |
    /// | expansion_mrr   |   200  |
    /// | contraction_mrr |   300  |
    /// | churned_mrr     |   400  |
    ///
    /// (3,400 + 200 - 300 - 400) / 3,400 = 2,900 / 3,400
    #[test]
    fn nrr_from_a_worked_table() {
        let f = Formula::parse(
            "(starting_mrr + expansion_mrr - contraction_mrr - churned_mrr) / starting_mrr",
        )
        .unwrap();
        let v = values(&[
            ("starting_mrr", dec!(3400)),
            ("expansion_mrr", dec!(200)),
            ("contraction_mrr", dec!(300)),
            ("churned_mrr", dec!(400)),
        ]);
        assert_eq!(f.evaluate(&v), Ok((dec!(2900) / dec!(3400)).normalize()));
        assert_eq!(
            f.references(),
            [
                "churned_mrr",
                "contraction_mrr",
                "expansion_mrr",
                "starting_mrr"
            ]
            .into_iter()
            .map(k)
            .collect()
        );
    }

    /// | formula            | a  | b | value |
    /// |--------------------|----|---|-------|
    /// | a + b * 2          | 10 | 3 | 16    |
    /// | (a + b) * 2        | 10 | 3 | 26    |
    /// | a - b - 1          | 10 | 3 | 6     |
    /// | a / b * 3          | 10 | 4 | 7.5   |
    /// | -a + b             | 10 | 3 | -7    |
    /// | a * -(b - 0.5)     | 10 | 3 | -25   |
    /// | 0.1 + 0.2          |  - | - | 0.3   |
    #[test]
    fn precedence_and_exactness() {
        let table = [
            ("a + b * 2", dec!(10), dec!(3), dec!(16)),
            ("(a + b) * 2", dec!(10), dec!(3), dec!(26)),
            ("a - b - 1", dec!(10), dec!(3), dec!(6)),
            ("a / b * 3", dec!(10), dec!(4), dec!(7.5)),
            ("-a + b", dec!(10), dec!(3), dec!(-7)),
            ("a * -(b - 0.5)", dec!(10), dec!(3), dec!(-25)),
            ("0.1 + 0.2", dec!(0), dec!(0), dec!(0.3)),
            ("  a*b  ", dec!(2), dec!(3), dec!(6)),
        ];
        for (src, a, b, want) in table {
            let f = Formula::parse(src).unwrap();
            let got = f.evaluate(&values(&[("a", a), ("b", b)]));
            assert_eq!(got, Ok(want), "{src}");
        }
    }

    /// | formula        | position | why                        |
    /// |----------------|----------|----------------------------|
    /// | `a +`          | 4        | ends early                 |
    /// | `a + * b`      | 5        | `*` where a value belongs  |
    /// | `(a + b`       | 7        | missing `)`                |
    /// | `a + b)`       | 6        | unmatched `)`              |
    /// | `a + Revenue`  | 5        | upper case                 |
    /// | `a $ b`        | 3        | unknown character          |
    /// | `1.`           | 2        | number without decimals    |
    #[test]
    fn syntax_errors_name_the_position() {
        let table = [
            ("a +", 4, "ends"),
            ("a + * b", 5, "unexpected `*`"),
            ("(a + b", 7, "ends"),
            ("a + b)", 6, "`)`"),
            ("a + Revenue", 5, "lower-case"),
            ("a $ b", 3, "unexpected `$`"),
            ("1.", 2, "unexpected `.`"),
            ("", 1, "empty"),
            ("é + a", 1, "unexpected `é`"),
            ("a + é", 5, "unexpected `é`"),
        ];
        for (src, position, words) in table {
            let err = Formula::parse(src).unwrap_err();
            assert_eq!(err.position, position, "{src}: {err}");
            assert!(err.message.contains(words), "{src}: {err}");
        }
    }

    #[test]
    fn division_by_zero_and_missing_inputs_are_reasons_not_values() {
        let f = Formula::parse("a / (b - 3)").unwrap();
        assert_eq!(
            f.evaluate(&values(&[("a", dec!(1)), ("b", dec!(3))])),
            Err(EvalError::DivisionByZero("(b - 3)".to_owned()))
        );
        assert_eq!(
            f.evaluate(&values(&[("a", dec!(1))])),
            Err(EvalError::Missing(k("b")))
        );
        let big = Formula::parse("a * a").unwrap();
        assert_eq!(
            big.evaluate(&values(&[("a", Decimal::MAX)])),
            Err(EvalError::Overflow)
        );
    }

    #[test]
    fn definitions_refuse_unknown_keys_and_circles() {
        let known: BTreeSet<MetricKey> = ["a", "b", "c", "d"].into_iter().map(k).collect();
        let mut formulas = BTreeMap::new();
        formulas.insert(k("c"), [k("d")].into_iter().collect());
        formulas.insert(k("d"), [k("a")].into_iter().collect());
        let ok = Formula::parse("b * 2 + c").unwrap();
        assert_eq!(
            check_definition(&k("a"), &ok, &known, &BTreeMap::new()),
            Ok(())
        );
        let unknown = Formula::parse("b + zz").unwrap();
        let err = check_definition(&k("a"), &unknown, &known, &formulas).unwrap_err();
        assert_eq!(
            (err.position, err.message.as_str()),
            (5, "unknown metric key `zz`")
        );
        // a -> c -> d -> a
        let err = check_definition(&k("a"), &ok, &known, &formulas).unwrap_err();
        assert_eq!(err.position, 9);
        assert!(err.message.contains("a -> c -> d -> a"), "{err}");
        let own = Formula::parse("a + 1").unwrap();
        let err = check_definition(&k("a"), &own, &known, &BTreeMap::new()).unwrap_err();
        assert!(err.message.contains("a -> a"), "{err}");
    }

    /// Facts (monthly, by segment), formula `a / b`, and `c = a * 2` nested as `c - b`:
    ///
    /// | month | segment | a  | b | a / b            | c - b |
    /// |-------|---------|----|---|------------------|-------|
    /// | Jan   | ent     | 10 | 4 | 2.5              | 16    |
    /// | Jan   | smb     | 6  | 0 | division by zero | 12    |
    /// | Feb   | ent     | 8  | - | no value for `b` | -     |
    #[test]
    fn series_are_evaluated_bucket_by_bucket_through_nested_formulas() {
        let month = |m: u32| {
            Period::new(
                chrono::NaiveDate::from_ymd_opt(2026, m, 1).unwrap(),
                Granularity::Month,
            )
            .unwrap()
        };
        let fact = |m, seg: &'static str, value| Fact {
            period: month(m),
            segment: Some(seg),
            stage: None,
            value,
        };
        let a = [
            fact(1, "ent", dec!(10)),
            fact(1, "smb", dec!(6)),
            fact(2, "ent", dec!(8)),
        ];
        let b = [fact(1, "ent", dec!(4)), fact(1, "smb", dec!(0))];
        let c = Formula::parse("a * 2").unwrap();
        let lookup = |key: &MetricKey| -> Option<Source<'_, &'static str>> {
            let (formula, facts) = match key.as_str() {
                "a" => (None, &a[..]),
                "b" => (None, &b[..]),
                "c" => (Some(&c), &[][..]),
                _ => return None,
            };
            Some(Source {
                formula,
                aggregation: Aggregation::Sum,
                facts,
            })
        };
        let range = DateRange::new(month(1).start(), month(2).end()).unwrap();
        let by_segment = Breakdown {
            by_segment: true,
            by_stage: false,
        };
        let rows = |f: &str| -> Vec<_> {
            formula_series(
                &Formula::parse(f).unwrap(),
                &lookup,
                range,
                Granularity::Month,
                by_segment,
            )
            .unwrap()
            .into_iter()
            .map(|p| {
                (
                    p.period.start().format("%m").to_string(),
                    p.segment,
                    p.value,
                )
            })
            .collect()
        };
        assert_eq!(
            rows("a / b"),
            vec![
                ("01".to_owned(), Some("ent"), Ok(dec!(2.5))),
                (
                    "01".to_owned(),
                    Some("smb"),
                    Err(EvalError::DivisionByZero("b".to_owned()))
                ),
                (
                    "02".to_owned(),
                    Some("ent"),
                    Err(EvalError::Missing(k("b")))
                ),
            ]
        );
        assert_eq!(
            rows("c - b"),
            vec![
                ("01".to_owned(), Some("ent"), Ok(dec!(16))),
                ("01".to_owned(), Some("smb"), Ok(dec!(12))),
                (
                    "02".to_owned(),
                    Some("ent"),
                    Err(EvalError::Missing(k("b")))
                ),
            ]
        );
        // Only January: February's values fall outside the range.
        let january = DateRange::new(month(1).start(), month(1).end()).unwrap();
        let total = metric_series(
            &k("c"),
            &lookup,
            january,
            Granularity::Month,
            Breakdown::default(),
        )
        .unwrap();
        assert_eq!(total.len(), 1);
        assert_eq!(total[0].value, Ok(dec!(32)));
    }

    #[test]
    fn cycles_are_found_with_their_path() {
        fn graph(
            pairs: &[(&'static str, &'static str)],
        ) -> BTreeMap<&'static str, BTreeSet<&'static str>> {
            let mut g: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
            for (from, to) in pairs {
                g.entry(*from).or_default().insert(*to);
            }
            g
        }
        assert_eq!(
            find_cycle(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])),
            None
        );
        assert_eq!(
            find_cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])),
            Some(vec!["a", "b", "c", "a"])
        );
        assert_eq!(find_cycle(&graph(&[("x", "x")])), Some(vec!["x", "x"]));
        assert_eq!(
            find_cycle(&graph(&[("a", "b"), ("d", "e"), ("e", "d")])),
            Some(vec!["d", "e", "d"])
        );
    }
}
