//! OKRs: objectives aligned to goals, key results measured from a metric or from check-ins,
//! and how progress is computed.

use rust_decimal::Decimal;

use crate::error::Invalid;

/// How sure the owner is that a key result will be met, 0 (not at all) to 10 (certain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Confidence(u8);

impl Confidence {
    /// Parses a confidence from 0 to 10.
    pub fn parse(value: i64) -> Result<Self, Invalid> {
        u8::try_from(value)
            .ok()
            .filter(|v| *v <= 10)
            .map(Confidence)
            .ok_or_else(|| Invalid::new(format!("confidence is 0 to 10, not {value}")))
    }

    /// The value.
    pub fn value(self) -> u8 {
        self.0
    }
}

/// A key result's baseline and target; they must differ, or progress means nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    baseline: Decimal,
    target: Decimal,
}

impl Span {
    /// Parses a baseline and target.
    pub fn new(baseline: Decimal, target: Decimal) -> Result<Self, Invalid> {
        if baseline == target {
            return Err(Invalid::new("the target must differ from the baseline"));
        }
        Ok(Self { baseline, target })
    }

    /// Baseline.
    pub fn baseline(self) -> Decimal {
        self.baseline
    }

    /// Target.
    pub fn target(self) -> Decimal {
        self.target
    }

    /// Progress from baseline to target: `(current - baseline) / (target - baseline)`, clamped
    /// to [0, 1]. Works whichever way the target lies (a target below the baseline means
    /// going down is progress). Exact Decimal division; exactly 0 at or behind the baseline and
    /// exactly 1 at or past the target, decided by comparison before any arithmetic. Between
    /// the two, when a difference would overflow (a span wider than Decimal's range), both
    /// differences are taken of halved (or quartered) values, which leaves the ratio unchanged.
    pub fn progress(self, current: Decimal) -> Decimal {
        let up = self.target > self.baseline;
        let (behind, reached) = if up {
            (current <= self.baseline, current >= self.target)
        } else {
            (current >= self.baseline, current <= self.target)
        };
        if behind {
            return Decimal::ZERO;
        }
        if reached {
            return Decimal::ONE;
        }
        let differences = |current: Decimal, baseline: Decimal, target: Decimal| {
            Some((
                current.checked_sub(baseline)?,
                target.checked_sub(baseline)?,
            ))
        };
        // Halving can round a 29th digit up, so at the very ends of the range a quarter is
        // needed; then the differences are at most about half of Decimal::MAX.
        let parts = [Decimal::ONE, Decimal::TWO, Decimal::from(4)]
            .into_iter()
            .find_map(|d| differences(current / d, self.baseline / d, self.target / d));
        // Strictly between baseline and target, |done| < |whole|: the division cannot overflow.
        let ratio = parts
            .and_then(|(done, whole)| done.checked_div(whole))
            .unwrap_or(Decimal::ZERO);
        ratio.clamp(Decimal::ZERO, Decimal::ONE).normalize()
    }
}

/// A key result's weight in its objective: zero or more.
pub fn parse_kr_weight(weight: Decimal) -> Result<Decimal, Invalid> {
    if weight.is_sign_negative() && !weight.is_zero() {
        return Err(Invalid::new("a weight cannot be negative"));
    }
    Ok(weight)
}

/// An objective's progress: the weighted mean of its key results' progress (those with a
/// current value). `None` when none has one or all weights are zero.
pub fn objective_progress(key_results: &[(Decimal, Option<Decimal>)]) -> Option<Decimal> {
    let mut weight = Decimal::ZERO;
    let mut sum = Decimal::ZERO;
    for (w, progress) in key_results {
        if let Some(p) = progress {
            weight = weight.checked_add(*w)?;
            sum = sum.checked_add(w.checked_mul(*p)?)?;
        }
    }
    if weight.is_zero() {
        return None;
    }
    sum.checked_div(weight).map(|d| d.normalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn progress_runs_from_baseline_to_target() {
        let up = Span::new(dec!(100), dec!(115)).unwrap();
        assert_eq!(up.progress(dec!(100)), dec!(0));
        assert_eq!(up.progress(dec!(106)), dec!(0.4));
        assert_eq!(up.progress(dec!(115)), dec!(1));
        assert_eq!(up.progress(dec!(130)), dec!(1));
        assert_eq!(up.progress(dec!(90)), dec!(0));
    }

    #[test]
    fn progress_works_when_the_target_is_below_the_baseline() {
        // Time to first value from 30 days down to 14.
        let down = Span::new(dec!(30), dec!(14)).unwrap();
        assert_eq!(down.progress(dec!(30)), dec!(0));
        assert_eq!(down.progress(dec!(22)), dec!(0.5));
        assert_eq!(down.progress(dec!(14)), dec!(1));
        assert_eq!(down.progress(dec!(10)), dec!(1));
        assert_eq!(down.progress(dec!(35)), dec!(0));
    }

    #[test]
    fn progress_is_exact_decimal() {
        let span = Span::new(dec!(0), dec!(3)).unwrap();
        assert_eq!(span.progress(dec!(1)), dec!(1) / dec!(3));
        let cents = Span::new(dec!(0.1), dec!(0.3)).unwrap();
        assert_eq!(cents.progress(dec!(0.2)), dec!(0.5));
    }

    #[test]
    fn progress_over_a_span_wider_than_decimal_range_does_not_overflow() {
        let wide = Span::new(dec!(-4e28), dec!(4e28)).unwrap();
        assert_eq!(wide.progress(dec!(4e28)), dec!(1));
        assert_eq!(wide.progress(dec!(-4e28)), dec!(0));
        assert_eq!(wide.progress(dec!(0)), dec!(0.5));
        assert_eq!(wide.progress(dec!(2e28)), dec!(0.75));
        let down = Span::new(Decimal::MAX, Decimal::MIN).unwrap();
        assert_eq!(down.progress(Decimal::MIN), dec!(1));
        assert_eq!(down.progress(Decimal::MAX), dec!(0));
        assert_eq!(down.progress(dec!(0)), dec!(0.5));
    }

    #[test]
    fn a_target_equal_to_the_baseline_is_refused() {
        assert!(Span::new(dec!(5), dec!(5)).is_err());
    }

    #[test]
    fn confidence_is_zero_to_ten() {
        assert_eq!(Confidence::parse(0).unwrap().value(), 0);
        assert_eq!(Confidence::parse(10).unwrap().value(), 10);
        assert!(Confidence::parse(11).is_err());
        assert!(Confidence::parse(-1).is_err());
    }

    #[test]
    fn objectives_weigh_their_key_results() {
        let krs = [
            (dec!(2), Some(dec!(0.5))),
            (dec!(1), Some(dec!(1))),
            (dec!(5), None),
        ];
        // (2 * 0.5 + 1 * 1) / 3
        assert_eq!(objective_progress(&krs), Some(dec!(2) / dec!(3)));
        assert_eq!(objective_progress(&[(dec!(1), None)]), None);
        assert_eq!(objective_progress(&[]), None);
        assert!(parse_kr_weight(dec!(-1)).is_err());
    }

    /// Decimals across the whole range, most of them near its ends.
    fn extreme() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            Just(Decimal::MAX),
            Just(Decimal::MIN),
            Just(Decimal::ZERO),
            (any::<i64>(), 0u32..=28).prop_map(|(m, s)| Decimal::new(m, s)),
            (
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
                any::<bool>(),
                0u32..=28
            )
                .prop_map(|(lo, mid, hi, neg, s)| Decimal::from_parts(lo, mid, hi, neg, s)),
        ]
    }

    proptest! {
        #[test]
        fn progress_stays_within_zero_and_one(
            baseline in -1_000_000i64..1_000_000, target in -1_000_000i64..1_000_000, current in -2_000_000i64..2_000_000
        ) {
            prop_assume!(baseline != target);
            let span = Span::new(Decimal::new(baseline, 2), Decimal::new(target, 2)).unwrap();
            let p = span.progress(Decimal::new(current, 2));
            prop_assert!(p >= Decimal::ZERO && p <= Decimal::ONE);
        }

        #[test]
        fn progress_is_bounded_and_exact_at_the_ends_for_extreme_values(
            baseline in extreme(), target in extreme(), current in extreme()
        ) {
            prop_assume!(baseline != target);
            let span = Span::new(baseline, target).unwrap();
            let p = span.progress(current);
            prop_assert!(p >= Decimal::ZERO && p <= Decimal::ONE, "{p}");
            prop_assert_eq!(span.progress(target), Decimal::ONE);
            prop_assert_eq!(span.progress(baseline), Decimal::ZERO);
        }

        #[test]
        fn progress_grows_as_the_current_moves_towards_the_target(
            baseline in -10_000i64..10_000, target in -10_000i64..10_000, a in -20_000i64..20_000, b in -20_000i64..20_000
        ) {
            prop_assume!(baseline != target);
            let span = Span::new(Decimal::from(baseline), Decimal::from(target)).unwrap();
            let (near, far) = if (target > baseline) == (a > b) { (a, b) } else { (b, a) };
            prop_assert!(span.progress(Decimal::from(near)) >= span.progress(Decimal::from(far)));
        }
    }
}
