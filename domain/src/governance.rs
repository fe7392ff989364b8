//! Governance: review forums with a cadence, trade-off rules with machine-checkable guards,
//! decisions, and the maturity of the six capabilities.

use chrono::{Days, Months, NaiveDate};
use rust_decimal::Decimal;

use crate::error::Invalid;
use crate::metrics::named_enum;

named_enum! {
    /// How often a forum meets.
    Cadence {
        /// Every week.
        Weekly => "WEEKLY",
        /// Every month.
        Monthly => "MONTHLY",
        /// Every quarter.
        Quarterly => "QUARTERLY",
    }
}

impl Cadence {
    /// When the next session is due after one held on `last`.
    pub fn next_after(self, last: NaiveDate) -> NaiveDate {
        match self {
            Cadence::Weekly => last.checked_add_days(Days::new(7)),
            Cadence::Monthly => last.checked_add_months(Months::new(1)),
            Cadence::Quarterly => last.checked_add_months(Months::new(3)),
        }
        .unwrap_or(last)
    }
}

/// When a forum's next session is due and whether it is overdue on `today`. A forum that has
/// never met is due one cadence after it was set up.
pub fn next_session(
    cadence: Cadence,
    last_session: Option<NaiveDate>,
    set_up: NaiveDate,
    today: NaiveDate,
) -> (NaiveDate, bool) {
    let due = cadence.next_after(last_session.unwrap_or(set_up));
    (due, today > due)
}

named_enum! {
    /// Whether a trade-off is allowed.
    RuleKind {
        /// A trade-off the organization accepts.
        Acceptable => "ACCEPTABLE",
        /// A trade-off the organization refuses.
        Unacceptable => "UNACCEPTABLE",
    }
}

named_enum! {
    /// Which side of the threshold a guarded metric must stay on.
    Comparator {
        /// The metric stays at or above the threshold.
        AtLeast => "AT_LEAST",
        /// The metric stays at or below the threshold.
        AtMost => "AT_MOST",
    }
}

/// A guard's verdict on the latest value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardVerdict {
    /// The guard's goal is not ACTIVE, so the guard does not apply.
    Inactive,
    /// No value recorded yet.
    NoData,
    /// The metric is where it should be.
    Holds,
    /// The metric is past the threshold by `gap` (always positive).
    Violated {
        /// How far past the threshold.
        gap: Decimal,
    },
}

/// Evaluates "metric stays `comparator` `threshold` while the goal is ACTIVE".
pub fn evaluate_guard(
    comparator: Comparator,
    threshold: Decimal,
    goal_active: bool,
    latest: Option<Decimal>,
) -> GuardVerdict {
    if !goal_active {
        return GuardVerdict::Inactive;
    }
    let Some(value) = latest else {
        return GuardVerdict::NoData;
    };
    let gap = match comparator {
        Comparator::AtLeast => threshold - value,
        Comparator::AtMost => value - threshold,
    };
    if gap > Decimal::ZERO {
        GuardVerdict::Violated {
            gap: gap.normalize(),
        }
    } else {
        GuardVerdict::Holds
    }
}

named_enum! {
    /// The six capabilities of an integrated scorecard organization.
    Capability {
        /// Strategy and narrative.
        StrategyNarrative => "STRATEGY_NARRATIVE",
        /// Scorecards and incentives.
        ScorecardsIncentives => "SCORECARDS_INCENTIVES",
        /// Planning and trade-offs.
        PlanningTradeOffs => "PLANNING_TRADE_OFFS",
        /// Measurement and dashboards.
        MeasurementDashboards => "MEASUREMENT_DASHBOARDS",
        /// Governance and cadence.
        GovernanceCadence => "GOVERNANCE_CADENCE",
        /// Culture and behaviours.
        CultureBehaviours => "CULTURE_BEHAVIOURS",
    }
}

/// A maturity level from 1 (ad hoc) to 5 (integrated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Level(u8);

impl Level {
    /// Parses a level 1-5.
    pub fn parse(value: i64) -> Result<Self, Invalid> {
        u8::try_from(value)
            .ok()
            .filter(|v| (1..=5).contains(v))
            .map(Level)
            .ok_or_else(|| {
                Invalid::new(format!(
                    "a maturity level is 1 (ad hoc) to 5 (integrated), not {value}"
                ))
            })
    }

    /// The level.
    pub fn value(self) -> u8 {
        self.0
    }
}

/// A share `part / whole`, six decimals; `None` when `whole` is zero.
pub fn share(part: usize, whole: usize) -> Option<Decimal> {
    if whole == 0 {
        return None;
    }
    Some(
        (Decimal::from(part) / Decimal::from(whole))
            .round_dp_with_strategy(6, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
            .normalize(),
    )
}

/// Review sessions per quarter per forum, from the sessions of the last year (four quarters);
/// `None` without forums.
pub fn sessions_per_quarter(sessions_last_year: usize, forums: usize) -> Option<Decimal> {
    if forums == 0 {
        return None;
    }
    Some(
        (Decimal::from(sessions_last_year) / Decimal::from(4 * forums))
            .round_dp_with_strategy(6, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
            .normalize(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn cadence_arithmetic_handles_month_ends_and_leap_years() {
        assert_eq!(Cadence::Weekly.next_after(d(2026, 12, 28)), d(2027, 1, 4));
        assert_eq!(Cadence::Monthly.next_after(d(2026, 1, 31)), d(2026, 2, 28));
        assert_eq!(Cadence::Monthly.next_after(d(2024, 1, 31)), d(2024, 2, 29));
        assert_eq!(
            Cadence::Quarterly.next_after(d(2026, 11, 30)),
            d(2027, 2, 28)
        );
    }

    #[test]
    fn forums_are_overdue_after_their_due_date() {
        let (due, overdue) = next_session(
            Cadence::Monthly,
            Some(d(2026, 10, 15)),
            d(2026, 1, 1),
            d(2026, 11, 15),
        );
        assert_eq!((due, overdue), (d(2026, 11, 15), false));
        let (_, overdue) = next_session(
            Cadence::Monthly,
            Some(d(2026, 10, 15)),
            d(2026, 1, 1),
            d(2026, 11, 16),
        );
        assert!(overdue);
        let (due, _) = next_session(Cadence::Quarterly, None, d(2026, 9, 1), d(2026, 9, 2));
        assert_eq!(due, d(2026, 12, 1));
    }

    #[test]
    fn guards_hold_or_report_the_gap() {
        use Comparator::*;
        assert_eq!(
            evaluate_guard(AtLeast, dec!(0.9), true, Some(dec!(0.85))),
            GuardVerdict::Violated { gap: dec!(0.05) }
        );
        assert_eq!(
            evaluate_guard(AtLeast, dec!(0.9), true, Some(dec!(0.9))),
            GuardVerdict::Holds
        );
        assert_eq!(
            evaluate_guard(AtMost, dec!(5), true, Some(dec!(7.5))),
            GuardVerdict::Violated { gap: dec!(2.5) }
        );
        assert_eq!(
            evaluate_guard(AtMost, dec!(5), true, Some(dec!(4))),
            GuardVerdict::Holds
        );
        assert_eq!(
            evaluate_guard(AtMost, dec!(5), false, Some(dec!(99))),
            GuardVerdict::Inactive
        );
        assert_eq!(
            evaluate_guard(AtMost, dec!(5), true, None),
            GuardVerdict::NoData
        );
    }

    #[test]
    fn levels_and_shares() {
        assert!(Level::parse(0).is_err());
        assert!(Level::parse(6).is_err());
        assert_eq!(Level::parse(3).unwrap().value(), 3);
        assert_eq!(share(1, 3), Some(dec!(0.333333)));
        assert_eq!(share(0, 0), None);
        assert_eq!(share(2, 2), Some(dec!(1)));
        // 6 sessions over 2 forums in a year: 6 / 8 per quarter per forum.
        assert_eq!(sessions_per_quarter(6, 2), Some(dec!(0.75)));
        assert_eq!(sessions_per_quarter(5, 2), Some(dec!(0.625)));
        assert_eq!(sessions_per_quarter(3, 0), None);
    }
}
