//! Metric trees (input metrics ladder into an output metric), trends, and saved dashboards:
//! which panels a dashboard may hold and what range each panel covers on a given day.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::error::{Invalid, RuleViolation};
use crate::formula::{Formula, find_cycle};
use crate::metrics::{Direction, MetricKey, named_enum, parse_text};
use crate::periods::{DateRange, Granularity};
use crate::rollup::Breakdown;

/// Most panels on one dashboard.
pub const MAX_PANELS: usize = 24;
/// Most periods a relative panel range may span at a granularity (at most 50 years).
pub fn max_last_periods(granularity: Granularity) -> u32 {
    match granularity {
        Granularity::Day | Granularity::Week | Granularity::Month => 366,
        Granularity::Quarter => 200,
        Granularity::Year => 50,
    }
}

named_enum! {
    /// How a front end is advised to draw a panel.
    ChartHint {
        /// A line per series.
        Line => "LINE",
        /// Bars per bucket.
        Bar => "BAR",
        /// Stacked bars (segments or stages stacked).
        StackedBar => "STACKED_BAR",
        /// Filled area.
        Area => "AREA",
        /// A single headline number (the latest bucket).
        Number => "NUMBER",
        /// A table of values.
        Table => "TABLE",
        /// A segment x stage grid coloured by value.
        Heatmap => "HEATMAP",
    }
}

named_enum! {
    /// Who may read a dashboard.
    Visibility {
        /// Its owner (and administrators).
        Private => "PRIVATE",
        /// Everyone in the organization who may read metrics.
        Organization => "ORGANIZATION",
    }
}

named_enum! {
    /// Which way a value moved from the previous period.
    TrendDirection {
        /// It went up.
        Up => "UP",
        /// It went down.
        Down => "DOWN",
        /// It did not change.
        Flat => "FLAT",
    }
}

/// What a panel shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PanelSource {
    /// A glossary metric (which may itself be a formula metric).
    Metric(MetricKey),
    /// An ad-hoc formula over glossary metrics.
    Formula(Formula),
}

impl PanelSource {
    /// The metric keys the panel reads directly.
    pub fn references(&self) -> BTreeSet<MetricKey> {
        match self {
            PanelSource::Metric(k) => [k.clone()].into_iter().collect(),
            PanelSource::Formula(f) => f.references(),
        }
    }
}

/// The dates a panel covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelRange {
    /// A fixed range.
    Between(DateRange),
    /// The last `n` periods of the panel's granularity, up to and including the one holding
    /// the day the dashboard is read for.
    Last(u32),
}

impl PanelRange {
    /// The range the panel covers when read on `as_of`, widened to whole periods.
    pub fn resolve(self, granularity: Granularity, as_of: NaiveDate) -> Result<DateRange, Invalid> {
        match self {
            PanelRange::Between(range) => Ok(range.widen_to(granularity)),
            PanelRange::Last(n) => {
                let mut start = granularity.bucket_start(as_of);
                for _ in 1..n {
                    match start.pred_opt() {
                        Some(prev) => start = granularity.bucket_start(prev),
                        None => break,
                    }
                }
                Ok(DateRange::new(start, as_of)?.widen_to(granularity))
            }
        }
    }
}

/// One panel of a dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panel {
    /// Heading shown above the chart.
    pub title: String,
    /// What it shows.
    pub source: PanelSource,
    /// How it is broken down.
    pub breakdown: Breakdown,
    /// The dates it covers.
    pub range: PanelRange,
    /// Bucket size.
    pub granularity: Granularity,
    /// How to draw it.
    pub chart: ChartHint,
}

/// Checks a dashboard's name and panels; problems name the panel (`panels.2.title`).
pub fn check_dashboard(name: &str, panels: &[Panel]) -> Result<String, Vec<(String, Invalid)>> {
    let mut problems = Vec::new();
    let name = match parse_text(name, 200, true) {
        Ok(n) => n,
        Err(e) => {
            problems.push(("name".to_owned(), e));
            String::new()
        }
    };
    if panels.len() > MAX_PANELS {
        problems.push((
            "panels".to_owned(),
            Invalid::new(format!("a dashboard may hold at most {MAX_PANELS} panels")),
        ));
    }
    for (i, p) in panels.iter().enumerate() {
        if let Err(e) = parse_text(&p.title, 200, true) {
            problems.push((format!("panels.{i}.title"), e));
        }
        let max = max_last_periods(p.granularity);
        if let PanelRange::Last(n) = p.range
            && !(1..=max).contains(&n)
        {
            problems.push((
                format!("panels.{i}.lastPeriods"),
                Invalid::new(format!("must be between 1 and {max} for {}", p.granularity)),
            ));
        }
    }
    if problems.is_empty() {
        Ok(name)
    } else {
        Err(problems)
    }
}

/// Checks that adding the edge `input -> output` keeps the metric tree free of cycles;
/// `edges` maps each output to its inputs.
pub fn check_tree_edge<K: Ord + Clone + std::fmt::Display>(
    edges: &BTreeMap<K, BTreeSet<K>>,
    input: &K,
    output: &K,
) -> Result<(), RuleViolation> {
    if input == output {
        return Err(RuleViolation::new(format!(
            "`{input}` cannot ladder into itself"
        )));
    }
    let mut graph = edges.clone();
    graph
        .entry(output.clone())
        .or_default()
        .insert(input.clone());
    match find_cycle(&graph) {
        Some(cycle) => {
            let path: Vec<String> = cycle.iter().rev().map(ToString::to_string).collect();
            Err(RuleViolation::new(format!(
                "linking `{input}` into `{output}` would make a cycle: {}",
                path.join(" -> ")
            )))
        }
        None => Ok(()),
    }
}

/// How a value moved from the previous period, read in the metric's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trend {
    /// Latest minus previous.
    pub change: Decimal,
    /// The change relative to the previous value; `None` when the previous value is zero.
    pub change_ratio: Option<Decimal>,
    /// Which way it moved.
    pub direction: TrendDirection,
    /// Whether the move is good news for a metric with this direction (`false` when flat).
    pub improving: bool,
}

/// The trend from `previous` to `latest`.
pub fn trend(latest: Decimal, previous: Decimal, direction: Direction) -> Option<Trend> {
    let change = latest.checked_sub(previous)?;
    let moved = if change.is_zero() {
        TrendDirection::Flat
    } else if change > Decimal::ZERO {
        TrendDirection::Up
    } else {
        TrendDirection::Down
    };
    let improving = matches!(
        (moved, direction),
        (TrendDirection::Up, Direction::HigherIsBetter)
            | (TrendDirection::Down, Direction::LowerIsBetter)
    );
    let change_ratio = if previous.is_zero() {
        None
    } else {
        change.checked_div(previous.abs()).map(|r| r.normalize())
    };
    Some(Trend {
        change: change.normalize(),
        change_ratio,
        direction: moved,
        improving,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn k(s: &str) -> MetricKey {
        MetricKey::parse(s).unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// | latest | previous | direction | change | ratio | moved | improving |
    /// |--------|----------|-----------|--------|-------|-------|-----------|
    /// | 110    | 100      | higher    | 10     | 0.1   | UP    | yes       |
    /// | 90     | 100      | higher    | -10    | -0.1  | DOWN  | no        |
    /// | 90     | 100      | lower     | -10    | -0.1  | DOWN  | yes       |
    /// | 5      | 0        | higher    | 5      | -     | UP    | yes       |
    /// | 7      | 7        | lower     | 0      | 0     | FLAT  | no        |
    /// | -5     | -10      | higher    | 5      | 0.5   | UP    | yes       |
    #[test]
    fn trends_from_a_worked_table() {
        use Direction::*;
        use TrendDirection::*;
        let table = [
            (
                dec!(110),
                dec!(100),
                HigherIsBetter,
                dec!(10),
                Some(dec!(0.1)),
                Up,
                true,
            ),
            (
                dec!(90),
                dec!(100),
                HigherIsBetter,
                dec!(-10),
                Some(dec!(-0.1)),
                Down,
                false,
            ),
            (
                dec!(90),
                dec!(100),
                LowerIsBetter,
                dec!(-10),
                Some(dec!(-0.1)),
                Down,
                true,
            ),
            (dec!(5), dec!(0), HigherIsBetter, dec!(5), None, Up, true),
            (
                dec!(7),
                dec!(7),
                LowerIsBetter,
                dec!(0),
                Some(dec!(0)),
                Flat,
                false,
            ),
            (
                dec!(-5),
                dec!(-10),
                HigherIsBetter,
                dec!(5),
                Some(dec!(0.5)),
                Up,
                true,
            ),
        ];
        for (latest, previous, dir, change, ratio, moved, improving) in table {
            let t = trend(latest, previous, dir).unwrap();
            assert_eq!(
                (t.change, t.change_ratio, t.direction, t.improving),
                (change, ratio, moved, improving),
                "{latest} vs {previous}"
            );
        }
    }

    #[test]
    fn tree_edges_never_close_a_cycle() {
        let mut edges: BTreeMap<MetricKey, BTreeSet<MetricKey>> = BTreeMap::new();
        // nrr <- expansion_mrr <- product_usage
        edges
            .entry(k("nrr"))
            .or_default()
            .insert(k("expansion_mrr"));
        edges
            .entry(k("expansion_mrr"))
            .or_default()
            .insert(k("product_usage"));
        assert!(check_tree_edge(&edges, &k("nps"), &k("nrr")).is_ok());
        assert!(check_tree_edge(&edges, &k("product_usage"), &k("nrr")).is_ok());
        let err = check_tree_edge(&edges, &k("nrr"), &k("product_usage")).unwrap_err();
        assert!(err.message.contains("cycle"), "{err}");
        assert!(check_tree_edge(&edges, &k("nrr"), &k("nrr")).is_err());
    }

    /// | granularity | last | read on    | covers                    |
    /// |-------------|------|------------|---------------------------|
    /// | MONTH       | 12   | 2026-11-22 | 2025-12-01 .. 2026-11-30  |
    /// | QUARTER     | 2    | 2026-11-22 | 2026-07-01 .. 2026-12-31  |
    /// | DAY         | 1    | 2026-11-22 | 2026-11-22 .. 2026-11-22  |
    #[test]
    fn relative_ranges_resolve_to_whole_periods() {
        let table = [
            (Granularity::Month, 12, day(2025, 12, 1), day(2026, 11, 30)),
            (Granularity::Quarter, 2, day(2026, 7, 1), day(2026, 12, 31)),
            (Granularity::Day, 1, day(2026, 11, 22), day(2026, 11, 22)),
        ];
        for (g, n, from, to) in table {
            let r = PanelRange::Last(n).resolve(g, day(2026, 11, 22)).unwrap();
            assert_eq!((r.from(), r.to()), (from, to), "{g} x {n}");
        }
    }

    #[test]
    fn dashboards_list_every_problem_with_its_panel() {
        let panel = |title: &str, range| Panel {
            title: title.to_owned(),
            source: PanelSource::Metric(k("nrr")),
            breakdown: Breakdown::default(),
            range,
            granularity: Granularity::Month,
            chart: ChartHint::Line,
        };
        assert!(check_dashboard("Revenue", &[panel("NRR", PanelRange::Last(12))]).is_ok());
        let problems = check_dashboard(
            " ",
            &[
                panel("ok", PanelRange::Last(3)),
                panel("", PanelRange::Last(0)),
            ],
        )
        .unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            vec!["name", "panels.1.title", "panels.1.lastPeriods"]
        );
        let many = vec![panel("p", PanelRange::Last(1)); MAX_PANELS + 1];
        assert!(check_dashboard("x", &many).is_err());
    }
}
