//! Rolling observations up into a series: by coarser periods, and across or by segments
//! and journey stages, following the metric's aggregation.
//!
//! Rules (see also `docs/series.md`):
//! - Source granularity: in each bucket, the coarsest recorded granularity that rolls into the
//!   requested one is used, so a metric recorded both daily and monthly is never counted twice,
//!   and a month recorded only daily still counts next to months recorded monthly.
//! - A dimension that is not broken down uses the rows recorded without it (the organization's
//!   own total) when there are any, and otherwise combines the rows of every value of it. This
//!   choice is made per recorded period (and per value of the dimensions broken down), so a
//!   period recorded only by segment still counts when another period has a total.
//!   A dimension that is broken down uses only the rows that name a value of it.
//! - `LAST` takes, in each bucket, the rows of the latest source period and adds them up
//!   (balances such as ARR add across segments).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use thiserror::Error;

use crate::metrics::Aggregation;
use crate::periods::{Granularity, Period};

/// One recorded value, keyed by whatever identifies segments and stages in the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact<K> {
    /// The period the value is for.
    pub period: Period,
    /// The segment the value is for; `None` is the all-segments figure.
    pub segment: Option<K>,
    /// The journey stage the value is for; `None` is the all-stages figure.
    pub stage: Option<K>,
    /// The value.
    pub value: Decimal,
}

/// Which dimensions a series is broken down by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Breakdown {
    /// One point per segment.
    pub by_segment: bool,
    /// One point per journey stage.
    pub by_stage: bool,
}

/// One point of a rolled-up series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point<K> {
    /// The bucket, at the requested granularity.
    pub period: Period,
    /// The segment, when broken down by segment.
    pub segment: Option<K>,
    /// The stage, when broken down by stage.
    pub stage: Option<K>,
    /// The aggregated value.
    pub value: Decimal,
    /// How many recorded values went into it.
    pub observations: usize,
    /// The recorded granularity this point was built from.
    pub source_granularity: Granularity,
}

/// A rolled-up series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series<K> {
    /// The coarsest recorded granularity any point was built from; `None` when nothing matched.
    pub source_granularity: Option<Granularity>,
    /// Points ordered by period, then segment, then stage.
    pub points: Vec<Point<K>>,
}

/// A roll-up whose result does not fit in a `Decimal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("the values are too large to add up exactly")]
pub struct Overflow;

/// Rolls `facts` up to `granularity` with `aggregation`, broken down as asked.
pub fn roll_up<K: Ord + Clone>(
    facts: &[Fact<K>],
    aggregation: Aggregation,
    granularity: Granularity,
    breakdown: Breakdown,
) -> Result<Series<K>, Overflow> {
    // Per bucket, the coarsest recorded granularity that rolls into the requested one.
    let mut source_of: BTreeMap<Period, Granularity> = BTreeMap::new();
    for fact in facts
        .iter()
        .filter(|f| f.period.granularity().rolls_into(granularity))
    {
        let g = fact.period.granularity();
        source_of
            .entry(fact.period.bucket(granularity))
            .and_modify(|s| *s = (*s).max(g))
            .or_insert(g);
    }
    let uses = |f: &&Fact<K>| {
        source_of.get(&f.period.bucket(granularity)) == Some(&f.period.granularity())
    };
    type GroupKey<K> = (Period, Option<K>, Option<K>);
    // The rows of each recorded period and broken-down value: the totals rule applies within
    // one of these cells, so a total recorded for one period never hides the rows of another.
    let mut cells: BTreeMap<GroupKey<K>, Vec<&Fact<K>>> = BTreeMap::new();
    for fact in facts.iter().filter(uses) {
        let key = (
            fact.period,
            fact.segment.clone().filter(|_| breakdown.by_segment),
            fact.stage.clone().filter(|_| breakdown.by_stage),
        );
        cells.entry(key).or_default().push(fact);
    }
    let mut groups: BTreeMap<GroupKey<K>, Vec<&Fact<K>>> = BTreeMap::new();
    for ((period, segment, stage), rows) in cells {
        let rows = select_dimension(rows, breakdown.by_segment, |f| f.segment.is_some());
        let rows = select_dimension(rows, breakdown.by_stage, |f| f.stage.is_some());
        if !rows.is_empty() {
            groups
                .entry((period.bucket(granularity), segment, stage))
                .or_default()
                .extend(rows);
        }
    }

    let mut points = Vec::with_capacity(groups.len());
    for ((period, segment, stage), rows) in groups {
        points.push(Point {
            period,
            segment,
            stage,
            value: aggregate(aggregation, &rows)?,
            observations: rows.len(),
            source_granularity: source_of.get(&period).copied().unwrap_or(granularity),
        });
    }
    Ok(Series {
        source_granularity: source_of.values().copied().max(),
        points,
    })
}

/// The value of a metric for one period, from facts at or below the period's granularity:
/// the organization total, or one segment's value when `segment` is given.
pub fn value_for_period<K: Ord + Clone>(
    facts: &[Fact<K>],
    aggregation: Aggregation,
    period: Period,
    segment: Option<&K>,
) -> Result<Option<Decimal>, Overflow> {
    let in_period: Vec<Fact<K>> = facts
        .iter()
        .filter(|f| f.period.bucket(period.granularity()) == period)
        .cloned()
        .collect();
    let breakdown = Breakdown {
        by_segment: segment.is_some(),
        by_stage: false,
    };
    let series = roll_up(&in_period, aggregation, period.granularity(), breakdown)?;
    Ok(series
        .points
        .into_iter()
        .find(|p| p.segment.as_ref() == segment)
        .map(|p| p.value))
}

/// Keeps the rows a dimension contributes: the named ones when broken down; otherwise the
/// unnamed totals if there are any, else every row.
fn select_dimension<K>(
    rows: Vec<&Fact<K>>,
    broken_down: bool,
    names_value: impl Fn(&Fact<K>) -> bool,
) -> Vec<&Fact<K>> {
    if broken_down {
        return rows.into_iter().filter(|f| names_value(f)).collect();
    }
    if rows.iter().any(|f| !names_value(f)) {
        rows.into_iter().filter(|f| !names_value(f)).collect()
    } else {
        rows
    }
}

fn checked_sum<'a>(mut values: impl Iterator<Item = &'a Decimal>) -> Result<Decimal, Overflow> {
    values.try_fold(Decimal::ZERO, |acc, v| acc.checked_add(*v).ok_or(Overflow))
}

/// Combines the values of one bucket.
fn aggregate<K>(aggregation: Aggregation, rows: &[&Fact<K>]) -> Result<Decimal, Overflow> {
    let values = rows.iter().map(|f| &f.value);
    Ok(match aggregation {
        Aggregation::Sum => checked_sum(values)?,
        Aggregation::Average => {
            let total = checked_sum(values)?;
            let count = Decimal::from(rows.len().max(1));
            total.checked_div(count).ok_or(Overflow)?.normalize()
        }
        Aggregation::Min => values.min().copied().unwrap_or_default(),
        Aggregation::Max => values.max().copied().unwrap_or_default(),
        Aggregation::Last => {
            let latest = rows.iter().map(|f| f.period).max();
            checked_sum(
                rows.iter()
                    .filter(|f| Some(f.period) == latest)
                    .map(|f| &f.value),
            )?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn day(y: i32, m: u32, d: u32) -> Period {
        Period::new(NaiveDate::from_ymd_opt(y, m, d).unwrap(), Granularity::Day).unwrap()
    }

    fn month(y: i32, m: u32) -> Period {
        Period::new(
            NaiveDate::from_ymd_opt(y, m, 1).unwrap(),
            Granularity::Month,
        )
        .unwrap()
    }

    fn fact(period: Period, seg: Option<u8>, stage: Option<u8>, value: Decimal) -> Fact<u8> {
        Fact {
            period,
            segment: seg,
            stage,
            value,
        }
    }

    fn values(series: &Series<u8>) -> Vec<Decimal> {
        series.points.iter().map(|p| p.value).collect()
    }

    #[test]
    fn sums_days_into_months_exactly() {
        let facts = vec![
            fact(day(2026, 1, 5), None, None, dec!(0.1)),
            fact(day(2026, 1, 20), None, None, dec!(0.2)),
            fact(day(2026, 2, 1), None, None, dec!(12345678901234.123456789)),
        ];
        let s = roll_up(
            &facts,
            Aggregation::Sum,
            Granularity::Month,
            Breakdown::default(),
        )
        .unwrap();
        assert_eq!(s.source_granularity, Some(Granularity::Day));
        assert_eq!(values(&s), vec![dec!(0.3), dec!(12345678901234.123456789)]);
        assert_eq!(s.points[0].period, month(2026, 1));
        assert_eq!(s.points[0].observations, 2);
    }

    #[test]
    fn averages_min_max_and_last_follow_the_aggregation() {
        let facts = vec![
            fact(month(2026, 1), None, None, dec!(10)),
            fact(month(2026, 2), None, None, dec!(20)),
            fact(month(2026, 3), None, None, dec!(15)),
        ];
        let q = |agg| {
            values(&roll_up(&facts, agg, Granularity::Quarter, Breakdown::default()).unwrap())
        };
        assert_eq!(q(Aggregation::Average), vec![dec!(15)]);
        assert_eq!(q(Aggregation::Min), vec![dec!(10)]);
        assert_eq!(q(Aggregation::Max), vec![dec!(20)]);
        assert_eq!(q(Aggregation::Last), vec![dec!(15)]);
        assert_eq!(q(Aggregation::Sum), vec![dec!(45)]);
    }

    #[test]
    fn average_of_thirds_is_exact_to_decimal_precision() {
        let facts = vec![
            fact(month(2026, 1), None, None, dec!(1)),
            fact(month(2026, 2), None, None, dec!(0)),
            fact(month(2026, 3), None, None, dec!(0)),
        ];
        let s = roll_up(
            &facts,
            Aggregation::Average,
            Granularity::Quarter,
            Breakdown::default(),
        )
        .unwrap();
        assert_eq!(s.points[0].value, dec!(1) / dec!(3));
    }

    #[test]
    fn coarsest_usable_granularity_wins_so_nothing_counts_twice() {
        let facts = vec![
            fact(day(2026, 1, 5), None, None, dec!(1)),
            fact(day(2026, 1, 6), None, None, dec!(2)),
            fact(month(2026, 1), None, None, dec!(100)),
        ];
        let monthly = roll_up(
            &facts,
            Aggregation::Sum,
            Granularity::Month,
            Breakdown::default(),
        )
        .unwrap();
        assert_eq!(monthly.source_granularity, Some(Granularity::Month));
        assert_eq!(values(&monthly), vec![dec!(100)]);
        let daily = roll_up(
            &facts,
            Aggregation::Sum,
            Granularity::Day,
            Breakdown::default(),
        )
        .unwrap();
        assert_eq!(values(&daily), vec![dec!(1), dec!(2)]);
        let weekly = roll_up(
            &facts,
            Aggregation::Sum,
            Granularity::Week,
            Breakdown::default(),
        )
        .unwrap();
        assert_eq!(weekly.source_granularity, Some(Granularity::Day));
        assert_eq!(values(&weekly), vec![dec!(3)]);
    }

    #[test]
    fn totals_prefer_unsegmented_rows_and_otherwise_combine_segments() {
        let with_total = vec![
            fact(month(2026, 1), Some(1), None, dec!(10)),
            fact(month(2026, 1), Some(2), None, dec!(20)),
            fact(month(2026, 1), None, None, dec!(31)),
        ];
        let total = roll_up(
            &with_total,
            Aggregation::Sum,
            Granularity::Month,
            Breakdown::default(),
        )
        .unwrap();
        assert_eq!(values(&total), vec![dec!(31)]);

        let only_segments = &with_total[..2];
        let combined = roll_up(
            only_segments,
            Aggregation::Sum,
            Granularity::Month,
            Breakdown::default(),
        )
        .unwrap();
        assert_eq!(values(&combined), vec![dec!(30)]);

        let by_segment = Breakdown {
            by_segment: true,
            by_stage: false,
        };
        let split = roll_up(
            &with_total,
            Aggregation::Sum,
            Granularity::Month,
            by_segment,
        )
        .unwrap();
        assert_eq!(values(&split), vec![dec!(10), dec!(20)]);
        assert_eq!(split.points[1].segment, Some(2));
    }

    #[test]
    fn the_totals_rule_applies_per_period_so_no_period_is_dropped() {
        let facts = vec![
            // January: a total and its segments.
            fact(month(2026, 1), None, None, dec!(1000)),
            fact(month(2026, 1), Some(1), None, dec!(100)),
            // February: segments only.
            fact(month(2026, 2), Some(1), None, dec!(150)),
            fact(month(2026, 2), Some(2), None, dec!(800)),
        ];
        let monthly = roll_up(
            &facts,
            Aggregation::Sum,
            Granularity::Month,
            Breakdown::default(),
        )
        .unwrap();
        assert_eq!(values(&monthly), vec![dec!(1000), dec!(950)]);
        // A quarter adds each month's own figure.
        let quarterly = roll_up(
            &facts,
            Aggregation::Sum,
            Granularity::Quarter,
            Breakdown::default(),
        )
        .unwrap();
        assert_eq!(values(&quarterly), vec![dec!(1950)]);
        assert_eq!(quarterly.points[0].observations, 3);

        // Likewise for stages within one segment's breakdown.
        let staged = vec![
            fact(month(2026, 1), Some(1), None, dec!(10)),
            fact(month(2026, 1), Some(1), Some(7), dec!(4)),
            fact(month(2026, 1), Some(2), Some(7), dec!(5)),
            fact(month(2026, 1), Some(2), Some(8), dec!(6)),
        ];
        let by_segment = roll_up(
            &staged,
            Aggregation::Sum,
            Granularity::Month,
            Breakdown {
                by_segment: true,
                by_stage: false,
            },
        )
        .unwrap();
        assert_eq!(values(&by_segment), vec![dec!(10), dec!(11)]);
    }

    #[test]
    fn breaks_down_by_segment_and_stage_together() {
        let facts = vec![
            fact(month(2026, 1), Some(1), Some(7), dec!(1)),
            fact(month(2026, 2), Some(1), Some(7), dec!(2)),
            fact(month(2026, 1), Some(1), Some(8), dec!(4)),
            fact(month(2026, 1), Some(2), Some(7), dec!(8)),
        ];
        let both = Breakdown {
            by_segment: true,
            by_stage: true,
        };
        let s = roll_up(&facts, Aggregation::Sum, Granularity::Quarter, both).unwrap();
        let got: Vec<_> = s
            .points
            .iter()
            .map(|p| (p.segment, p.stage, p.value))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(1), Some(7), dec!(3)),
                (Some(1), Some(8), dec!(4)),
                (Some(2), Some(7), dec!(8))
            ]
        );
        let by_stage = Breakdown {
            by_segment: false,
            by_stage: true,
        };
        let s = roll_up(&facts, Aggregation::Sum, Granularity::Quarter, by_stage).unwrap();
        let got: Vec<_> = s
            .points
            .iter()
            .map(|p| (p.segment, p.stage, p.value))
            .collect();
        assert_eq!(
            got,
            vec![(None, Some(7), dec!(11)), (None, Some(8), dec!(4))]
        );
    }

    #[test]
    fn last_adds_the_latest_period_across_segments() {
        let facts = vec![
            fact(month(2026, 1), Some(1), None, dec!(100)),
            fact(month(2026, 3), Some(1), None, dec!(120)),
            fact(month(2026, 3), Some(2), None, dec!(50)),
        ];
        let s = roll_up(
            &facts,
            Aggregation::Last,
            Granularity::Quarter,
            Breakdown::default(),
        )
        .unwrap();
        assert_eq!(values(&s), vec![dec!(170)]);
    }

    #[test]
    fn source_granularity_is_chosen_per_bucket() {
        let facts = vec![
            fact(day(2026, 1, 5), None, None, dec!(1)),
            fact(day(2026, 1, 6), None, None, dec!(2)),
            fact(month(2026, 2), None, None, dec!(40)),
            fact(day(2026, 2, 3), None, None, dec!(7)),
        ];
        let s = roll_up(
            &facts,
            Aggregation::Sum,
            Granularity::Month,
            Breakdown::default(),
        )
        .unwrap();
        assert_eq!(values(&s), vec![dec!(3), dec!(40)]);
        assert_eq!(s.points[0].source_granularity, Granularity::Day);
        assert_eq!(s.points[1].source_granularity, Granularity::Month);
        assert_eq!(s.source_granularity, Some(Granularity::Month));
    }

    #[test]
    fn value_for_period_picks_the_total_or_one_segment() {
        let facts = vec![
            fact(day(2026, 3, 1), Some(1), None, dec!(5)),
            fact(day(2026, 3, 2), Some(1), None, dec!(6)),
            fact(day(2026, 3, 2), Some(2), None, dec!(100)),
            fact(day(2026, 4, 1), Some(1), None, dec!(1000)),
        ];
        let march = month(2026, 3);
        assert_eq!(
            value_for_period(&facts, Aggregation::Sum, march, None).unwrap(),
            Some(dec!(111))
        );
        assert_eq!(
            value_for_period(&facts, Aggregation::Sum, march, Some(&1)).unwrap(),
            Some(dec!(11))
        );
        assert_eq!(
            value_for_period(&facts, Aggregation::Sum, march, Some(&3)).unwrap(),
            None
        );
        assert_eq!(
            value_for_period(&facts, Aggregation::Sum, month(2026, 5), None).unwrap(),
            None
        );
    }

    #[test]
    fn nothing_finer_than_asked_gives_an_empty_series() {
        let facts = vec![fact(month(2026, 1), None, None, dec!(1))];
        let s = roll_up(
            &facts,
            Aggregation::Sum,
            Granularity::Week,
            Breakdown::default(),
        )
        .unwrap();
        assert_eq!(s.source_granularity, None);
        assert!(s.points.is_empty());
    }

    #[test]
    fn overflow_is_reported_not_wrapped() {
        let facts = vec![
            fact(month(2026, 1), None, None, Decimal::MAX),
            fact(month(2026, 2), None, None, Decimal::MAX),
        ];
        assert_eq!(
            roll_up(
                &facts,
                Aggregation::Sum,
                Granularity::Year,
                Breakdown::default()
            ),
            Err(Overflow)
        );
    }

    proptest! {
        #[test]
        fn summing_by_segment_then_adding_equals_the_combined_total(
            rows in proptest::collection::vec((0u8..3, 1u32..=28, -1_000_000i64..1_000_000, 0u32..6), 1..60)
        ) {
            let facts: Vec<Fact<u8>> = rows
                .iter()
                .map(|(seg, d, mantissa, scale)| fact(day(2026, 5, *d), Some(*seg), None, Decimal::new(*mantissa, *scale)))
                .collect();
            let combined = roll_up(&facts, Aggregation::Sum, Granularity::Month, Breakdown::default()).unwrap();
            let split = roll_up(&facts, Aggregation::Sum, Granularity::Month, Breakdown { by_segment: true, by_stage: false }).unwrap();
            let split_total: Decimal = split.points.iter().map(|p| p.value).sum();
            prop_assert_eq!(combined.points.len(), 1);
            prop_assert_eq!(combined.points[0].value, split_total);
            let count: usize = split.points.iter().map(|p| p.observations).sum();
            prop_assert_eq!(count, facts.len());
        }

        #[test]
        fn min_never_exceeds_average_which_never_exceeds_max(
            rows in proptest::collection::vec((1u32..=28, -1_000_000i64..1_000_000), 1..40)
        ) {
            let facts: Vec<Fact<u8>> = rows.iter().map(|(d, v)| fact(day(2026, 5, *d), None, None, Decimal::new(*v, 2))).collect();
            let one = |agg| roll_up(&facts, agg, Granularity::Month, Breakdown::default()).unwrap().points[0].value;
            prop_assert!(one(Aggregation::Min) <= one(Aggregation::Average));
            prop_assert!(one(Aggregation::Average) <= one(Aggregation::Max));
        }
    }
}
