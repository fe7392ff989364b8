//! Incentive plans that pay for financial and customer results together: payout curves,
//! customer gates, and exact payout statements rounded once to the currency's minor unit.
//!
//! Rules (see also `docs/incentives.md`):
//! - A component's payout percentage follows its curve: 0 below the threshold; flat at the
//!   first point's payout between the threshold and the first point; linear between points;
//!   past the last point the last segment's slope continues; never above the cap.
//! - When a customer gate is missed, every FINANCIAL component pays at most the gate's factor
//!   (the lowest factor of the missed gates).
//! - A component's amount is target x normalised weight x payout %; amounts stay exact and the
//!   total is rounded once, half away from zero, to the currency's minor unit.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::error::Invalid;
use crate::metrics::Perspective;

/// An ISO 4217 currency, with its minor unit.
pub use iso_currency::Currency;

/// An amount of money in one ISO 4217 currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    /// The amount, exact.
    pub amount: Decimal,
    /// The currency.
    pub currency: iso_currency::Currency,
}

impl Money {
    /// Parses an amount and a currency code.
    pub fn parse(amount: Decimal, currency: &str) -> Result<Self, Invalid> {
        let currency = iso_currency::Currency::from_code(currency).ok_or_else(|| {
            Invalid::new(format!("`{currency}` is not an ISO 4217 currency code"))
        })?;
        Ok(Self { amount, currency })
    }

    /// Digits of the currency's minor unit: 2 for EUR (cents), 0 for JPY, 3 for BHD (fils);
    /// 2 for the few codes without one (such as XAU).
    pub fn minor_unit_scale(self) -> u32 {
        self.currency.exponent().map_or(2, u32::from)
    }

    /// The same amount written with exactly the minor unit's digits after the point ("0" EUR
    /// is "0.00", "4500.00000000" EUR is "4500.00", 1200 JPY is "1200"), or, for an exact
    /// amount with more significant digits than that, with just those digits: the value never
    /// changes, only how it is written.
    pub fn at_minor_scale(self) -> Money {
        let dp = self.minor_unit_scale();
        let mut amount = self.amount.normalize();
        if amount.scale() < dp {
            // Cannot fail to keep the value; at most it stops short of `dp` for 28-digit values.
            amount.rescale(dp);
        }
        Money {
            amount,
            currency: self.currency,
        }
    }

    /// The amount rounded half away from zero to the currency's minor unit (cents for EUR,
    /// none for JPY, mils for KWD).
    pub fn rounded(self) -> Money {
        let dp = self.minor_unit_scale();
        Money {
            amount: self
                .amount
                .round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero),
            currency: self.currency,
        }
    }
}

/// One point of a payout curve: at this attainment, pay this share of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurvePoint {
    /// Attainment (1 = on target).
    pub attainment: Decimal,
    /// Payout as a share of the component's target amount (1 = 100%).
    pub payout: Decimal,
}

/// A piecewise-linear payout curve with a threshold and a cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Curve {
    points: Vec<CurvePoint>,
    threshold: Decimal,
    cap: Decimal,
}

/// Which part of a curve a payout came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CurveSegment {
    /// No actual for the component's metric in the period: nothing paid.
    NoActual,
    /// Below the threshold: nothing paid.
    BelowThreshold,
    /// Between the threshold and the first point: the first point's payout.
    BeforeFirstPoint,
    /// Between points `from` and `from + 1` (0-based).
    Between {
        /// Index of the lower point.
        from: usize,
    },
    /// Past the last point, on the last segment's slope.
    BeyondLastPoint,
    /// Held at the cap.
    Capped,
}

impl CurveSegment {
    /// A short description for statements.
    pub fn describe(&self, curve: &Curve) -> String {
        match self {
            CurveSegment::NoActual => "no actual recorded for the period".to_owned(),
            CurveSegment::BelowThreshold => {
                format!("below the threshold of {}", curve.threshold.normalize())
            }
            CurveSegment::BeforeFirstPoint => {
                "between the threshold and the first point".to_owned()
            }
            CurveSegment::Between { from } => {
                let a = curve.points[*from];
                let b = curve.points[*from + 1];
                format!(
                    "between points {} -> {} and {} -> {}",
                    a.attainment.normalize(),
                    a.payout.normalize(),
                    b.attainment.normalize(),
                    b.payout.normalize()
                )
            }
            CurveSegment::BeyondLastPoint => "beyond the last point".to_owned(),
            CurveSegment::Capped => format!("capped at {}", curve.cap.normalize()),
        }
    }
}

impl Curve {
    /// Parses a curve: at least one point; attainments strictly increasing; payouts not
    /// decreasing and not negative; threshold and cap not negative; the cap at least the
    /// first point's payout.
    pub fn new(points: Vec<CurvePoint>, threshold: Decimal, cap: Decimal) -> Result<Self, Invalid> {
        if points.is_empty() {
            return Err(Invalid::new("a curve needs at least one point"));
        }
        if threshold.is_sign_negative() && !threshold.is_zero() {
            return Err(Invalid::new("the threshold cannot be negative"));
        }
        if cap.is_sign_negative() && !cap.is_zero() {
            return Err(Invalid::new("the cap cannot be negative"));
        }
        for (i, pair) in points.windows(2).enumerate() {
            if pair[1].attainment <= pair[0].attainment {
                return Err(Invalid::new(format!(
                    "curve point {} must have a higher attainment than point {}",
                    i + 1,
                    i
                )));
            }
            if pair[1].payout < pair[0].payout {
                return Err(Invalid::new(format!(
                    "curve point {} pays less than point {}",
                    i + 1,
                    i
                )));
            }
        }
        if points
            .iter()
            .any(|p| p.payout.is_sign_negative() && !p.payout.is_zero())
        {
            return Err(Invalid::new("a curve cannot pay a negative share"));
        }
        if cap < points[0].payout {
            return Err(Invalid::new(format!(
                "the cap ({}) cannot be below the first point's payout ({})",
                cap.normalize(),
                points[0].payout.normalize()
            )));
        }
        Ok(Self {
            points,
            threshold,
            cap,
        })
    }

    /// The points.
    pub fn points(&self) -> &[CurvePoint] {
        &self.points
    }

    /// The threshold below which nothing is paid.
    pub fn threshold(&self) -> Decimal {
        self.threshold
    }

    /// The most the curve pays.
    pub fn cap(&self) -> Decimal {
        self.cap
    }

    /// The payout share at `attainment`, and which part of the curve gave it.
    pub fn payout(&self, attainment: Decimal) -> (Decimal, CurveSegment) {
        if attainment < self.threshold {
            return (Decimal::ZERO, CurveSegment::BelowThreshold);
        }
        let first = self.points[0];
        let last = self.points[self.points.len() - 1];
        let (raw, segment) = if attainment < first.attainment {
            (first.payout, CurveSegment::BeforeFirstPoint)
        } else if let Some(from) = self
            .points
            .windows(2)
            .position(|w| attainment >= w[0].attainment && attainment <= w[1].attainment)
        {
            let (a, b) = (self.points[from], self.points[from + 1]);
            (
                interpolate(a, b, attainment),
                CurveSegment::Between { from },
            )
        } else if self.points.len() >= 2 {
            let a = self.points[self.points.len() - 2];
            (
                interpolate(a, last, attainment),
                CurveSegment::BeyondLastPoint,
            )
        } else {
            (last.payout, CurveSegment::BeyondLastPoint)
        };
        if raw > self.cap {
            (self.cap, CurveSegment::Capped)
        } else {
            (raw.max(Decimal::ZERO), segment)
        }
    }
}

fn interpolate(a: CurvePoint, b: CurvePoint, x: Decimal) -> Decimal {
    let span = b.attainment - a.attainment;
    let rise = b.payout - a.payout;
    let offset = x.checked_sub(a.attainment).unwrap_or(Decimal::MAX);
    let slope_part = rise
        .checked_mul(offset)
        .and_then(|v| v.checked_div(span))
        .unwrap_or(Decimal::MAX);
    a.payout.checked_add(slope_part).unwrap_or(Decimal::MAX)
}

/// A component of a plan, ready to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// Display name.
    pub name: String,
    /// The perspective of the metric it pays for.
    pub perspective: Perspective,
    /// Relative weight (normalised across components).
    pub weight: Decimal,
    /// Its curve.
    pub curve: Curve,
}

/// A customer gate: if its metric's attainment is below the minimum, financial components pay
/// at most `factor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gate {
    /// Minimum attainment.
    pub min_attainment: Decimal,
    /// The most financial components pay when the gate is missed (0.5 = 50%).
    pub factor: Decimal,
}

/// A gate's outcome for a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateResult {
    /// The gate metric's attainment; `None` without data.
    pub attainment: Option<Decimal>,
    /// Missed (below the minimum, or no data: a customer result that cannot be shown is not met).
    pub missed: bool,
}

/// One line of a payout statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The component's attainment; `None` without data (pays nothing).
    pub attainment: Option<Decimal>,
    /// Payout share from the curve, before any gate.
    pub curve_payout: Decimal,
    /// Which part of the curve.
    pub segment: CurveSegment,
    /// Whether a missed gate limited this line.
    pub gate_applied: bool,
    /// Payout share after gates.
    pub payout: Decimal,
    /// The component's normalised weight.
    pub weight: Decimal,
    /// Amount, exact (not rounded).
    pub amount: Decimal,
}

/// A statement: every line and the rounded total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    /// Lines, in component order.
    pub lines: Vec<Line>,
    /// Gate outcomes, in gate order.
    pub gates: Vec<GateResult>,
    /// Total, rounded once to the currency's minor unit.
    pub total: Money,
}

/// Checks plan weights: none negative, not all zero.
pub fn parse_weights(weights: &[Decimal]) -> Result<(), Invalid> {
    if weights.iter().any(|w| w.is_sign_negative() && !w.is_zero()) {
        return Err(Invalid::new("a weight cannot be negative"));
    }
    if weights.iter().all(Decimal::is_zero) {
        return Err(Invalid::new(
            "at least one component needs a weight above zero",
        ));
    }
    Ok(())
}

/// Checks a gate's factor and minimum: both 0 to 1 (factor) / not negative (minimum).
pub fn parse_gate(min_attainment: Decimal, factor: Decimal) -> Result<Gate, Invalid> {
    if min_attainment.is_sign_negative() && !min_attainment.is_zero() {
        return Err(Invalid::new("the minimum attainment cannot be negative"));
    }
    if factor.is_sign_negative() || factor > Decimal::ONE {
        return Err(Invalid::new("the gate factor is a share from 0 to 1"));
    }
    Ok(Gate {
        min_attainment,
        factor,
    })
}

/// Computes a statement: `attainments[i]` for component `i`, `gate_attainments[j]` for gate `j`.
pub fn payout(
    target: Money,
    components: &[Component],
    attainments: &[Option<Decimal>],
    gates: &[Gate],
    gate_attainments: &[Option<Decimal>],
) -> Payout {
    let gate_results: Vec<GateResult> = gates
        .iter()
        .zip(gate_attainments.iter().chain(std::iter::repeat(&None)))
        .map(|(g, a)| GateResult {
            attainment: *a,
            missed: a.is_none_or(|v| v < g.min_attainment),
        })
        .collect();
    let limit = gates
        .iter()
        .zip(&gate_results)
        .filter(|(_, r)| r.missed)
        .map(|(g, _)| g.factor)
        .min();
    let total_weight: Decimal = components.iter().map(|c| c.weight).sum();
    let mut lines = Vec::with_capacity(components.len());
    let mut sum = Decimal::ZERO;
    for (component, attainment) in components
        .iter()
        .zip(attainments.iter().chain(std::iter::repeat(&None)))
    {
        let weight = if total_weight.is_zero() {
            Decimal::ZERO
        } else {
            component.weight / total_weight
        };
        let (curve_payout, segment) = match attainment {
            Some(a) => component.curve.payout(*a),
            None => (Decimal::ZERO, CurveSegment::NoActual),
        };
        let (payout, gate_applied) = match limit {
            Some(factor)
                if component.perspective == Perspective::Financial && curve_payout > factor =>
            {
                (factor, true)
            }
            _ => (curve_payout, false),
        };
        let amount = target
            .amount
            .checked_mul(weight)
            .and_then(|v| v.checked_mul(payout))
            .unwrap_or(Decimal::MAX);
        sum = sum.checked_add(amount).unwrap_or(Decimal::MAX);
        lines.push(Line {
            attainment: *attainment,
            curve_payout,
            segment,
            gate_applied,
            payout,
            weight,
            amount,
        });
    }
    Payout {
        lines,
        gates: gate_results,
        total: Money {
            amount: sum,
            currency: target.currency,
        }
        .rounded(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn eur(amount: Decimal) -> Money {
        Money::parse(amount, "EUR").unwrap()
    }

    /// Threshold 50%; 50% attainment pays 25%, 100% pays 100%, 150% pays 200%; cap 200%.
    fn accelerated() -> Curve {
        Curve::new(
            vec![
                CurvePoint {
                    attainment: dec!(0.5),
                    payout: dec!(0.25),
                },
                CurvePoint {
                    attainment: dec!(1),
                    payout: dec!(1),
                },
                CurvePoint {
                    attainment: dec!(1.5),
                    payout: dec!(2),
                },
            ],
            dec!(0.5),
            dec!(2),
        )
        .unwrap()
    }

    fn component(name: &str, perspective: Perspective, weight: Decimal) -> Component {
        Component {
            name: name.into(),
            perspective,
            weight,
            curve: accelerated(),
        }
    }

    #[test]
    fn below_threshold_pays_nothing() {
        // Target 10,000 EUR, one component at 40% attainment: under the 50% threshold.
        let p = payout(
            eur(dec!(10000)),
            &[component("Bookings", Perspective::Financial, dec!(1))],
            &[Some(dec!(0.4))],
            &[],
            &[],
        );
        assert_eq!(p.lines[0].segment, CurveSegment::BelowThreshold);
        assert_eq!(p.total.amount, dec!(0));
    }

    #[test]
    fn a_component_without_an_actual_says_so_and_pays_nothing() {
        let c = component("Bookings", Perspective::Financial, dec!(1));
        let p = payout(
            eur(dec!(10000)),
            std::slice::from_ref(&c),
            &[None],
            &[],
            &[],
        );
        assert_eq!(p.lines[0].segment, CurveSegment::NoActual);
        assert_eq!(p.lines[0].amount, dec!(0));
        assert_eq!(
            p.lines[0].segment.describe(&c.curve),
            "no actual recorded for the period"
        );
    }

    #[test]
    fn money_is_written_at_its_currency_minor_unit_scale() {
        let at = |amount: Decimal, code: &str| {
            Money::parse(amount, code)
                .unwrap()
                .at_minor_scale()
                .amount
                .to_string()
        };
        assert_eq!(at(dec!(0), "EUR"), "0.00");
        assert_eq!(at(dec!(4500.00000000), "EUR"), "4500.00");
        assert_eq!(at(dec!(12.5), "EUR"), "12.50");
        assert_eq!(at(dec!(1200), "JPY"), "1200");
        assert_eq!(at(dec!(1200.000), "JPY"), "1200");
        assert_eq!(at(dec!(7), "BHD"), "7.000");
        // Exact amounts keep their digits: nothing is rounded away.
        assert_eq!(at(dec!(33.3333333333), "EUR"), "33.3333333333");
        assert_eq!(at(dec!(0.5), "JPY"), "0.5");
        let big = Money::parse(Decimal::MAX, "EUR").unwrap().at_minor_scale();
        assert_eq!(big.amount, Decimal::MAX);
    }

    #[test]
    fn exactly_at_target_pays_the_target() {
        let p = payout(
            eur(dec!(10000)),
            &[component("Bookings", Perspective::Financial, dec!(1))],
            &[Some(dec!(1))],
            &[],
            &[],
        );
        assert_eq!(p.lines[0].payout, dec!(1));
        assert_eq!(p.total.amount, dec!(10000.00));
    }

    #[test]
    fn on_a_knee_and_between_points() {
        // 0.75 lies halfway between (0.5, 0.25) and (1, 1): 0.25 + 0.75 * 0.5 = 0.625.
        let c = accelerated();
        assert_eq!(
            c.payout(dec!(0.75)),
            (dec!(0.625), CurveSegment::Between { from: 0 })
        );
        // At the knee (1.0) the first segment applies and gives exactly 1.
        assert_eq!(c.payout(dec!(1)).0, dec!(1));
        // 1.2: 1 + (2 - 1) * 0.2 / 0.5 = 1.4.
        assert_eq!(
            c.payout(dec!(1.2)),
            (dec!(1.4), CurveSegment::Between { from: 1 })
        );
    }

    #[test]
    fn above_the_cap_pays_the_cap() {
        // 1.8 would pay 1 + 2 * 0.8 = 2.6 on the last slope; the cap holds it at 2.
        let c = accelerated();
        assert_eq!(c.payout(dec!(1.8)), (dec!(2), CurveSegment::Capped));
        let p = payout(
            eur(dec!(10000)),
            &[component("Bookings", Perspective::Financial, dec!(1))],
            &[Some(dec!(1.8))],
            &[],
            &[],
        );
        assert_eq!(p.total.amount, dec!(20000.00));
    }

    #[test]
    fn a_missed_customer_gate_limits_financial_components_only() {
        // Target 10,000 EUR; bookings (financial, weight 3) at 120% -> 1.4; retention
        // (customer, weight 1) at 100% -> 1. Gate: NPS attainment at least 0.9, else 50%.
        let components = [
            component("Bookings", Perspective::Financial, dec!(3)),
            component("Retention", Perspective::Customer, dec!(1)),
        ];
        let gate = parse_gate(dec!(0.9), dec!(0.5)).unwrap();
        let missed = payout(
            eur(dec!(10000)),
            &components,
            &[Some(dec!(1.2)), Some(dec!(1))],
            &[gate],
            &[Some(dec!(0.8))],
        );
        assert!(missed.gates[0].missed);
        assert!(missed.lines[0].gate_applied);
        assert_eq!(missed.lines[0].payout, dec!(0.5));
        assert!(!missed.lines[1].gate_applied);
        // 10,000 * 0.75 * 0.5 + 10,000 * 0.25 * 1 = 3,750 + 2,500.
        assert_eq!(missed.total.amount, dec!(6250.00));

        let met = payout(
            eur(dec!(10000)),
            &components,
            &[Some(dec!(1.2)), Some(dec!(1))],
            &[gate],
            &[Some(dec!(0.95))],
        );
        assert!(!met.gates[0].missed);
        // 10,000 * 0.75 * 1.4 + 2,500 = 10,500 + 2,500.
        assert_eq!(met.total.amount, dec!(13000.00));

        let no_data = payout(
            eur(dec!(10000)),
            &components,
            &[Some(dec!(1.2)), Some(dec!(1))],
            &[gate],
            &[None],
        );
        assert!(no_data.gates[0].missed, "a gate without data is not met");
    }

    #[test]
    fn totals_round_once_half_away_from_zero_in_the_currency() {
        // Three components of weight 1 on a 100 EUR target at 100%: 33.333... each, summed
        // exactly to 100 before rounding (rounding each line first would give 99.99).
        let components = [
            component("a", Perspective::Financial, dec!(1)),
            component("b", Perspective::Customer, dec!(1)),
            component("c", Perspective::Customer, dec!(1)),
        ];
        let p = payout(eur(dec!(100)), &components, &[Some(dec!(1)); 3], &[], &[]);
        assert_eq!(p.total.amount, dec!(100.00));
        // 0.625 * 1 JPY rounds to 1 (no minor unit); 2.5 rounds away from zero to 3.
        let jpy = Money::parse(dec!(2.5), "JPY").unwrap().rounded();
        assert_eq!(jpy.amount, dec!(3));
        let kwd = Money::parse(dec!(1.0005), "KWD").unwrap().rounded();
        assert_eq!(kwd.amount, dec!(1.001));
    }

    #[test]
    fn two_currencies_are_never_summed() {
        // A statement carries the plan's currency; amounts of another plan are separate money.
        let eur_plan = payout(
            eur(dec!(100)),
            &[component("a", Perspective::Financial, dec!(1))],
            &[Some(dec!(1))],
            &[],
            &[],
        );
        let usd_plan = payout(
            Money::parse(dec!(100), "USD").unwrap(),
            &[component("a", Perspective::Financial, dec!(1))],
            &[Some(dec!(1))],
            &[],
            &[],
        );
        assert_ne!(eur_plan.total.currency, usd_plan.total.currency);
        assert_eq!(eur_plan.total.currency.code(), "EUR");
    }

    #[test]
    fn bad_curves_and_inputs_are_refused() {
        let p = |a, b| CurvePoint {
            attainment: a,
            payout: b,
        };
        assert!(Curve::new(vec![], dec!(0), dec!(1)).is_err());
        assert!(
            Curve::new(
                vec![p(dec!(1), dec!(1)), p(dec!(1), dec!(2))],
                dec!(0),
                dec!(2)
            )
            .is_err()
        );
        assert!(
            Curve::new(
                vec![p(dec!(1), dec!(1)), p(dec!(0.5), dec!(2))],
                dec!(0),
                dec!(2)
            )
            .is_err()
        );
        assert!(
            Curve::new(
                vec![p(dec!(0.5), dec!(1)), p(dec!(1), dec!(0.5))],
                dec!(0),
                dec!(2)
            )
            .is_err()
        );
        assert!(Curve::new(vec![p(dec!(1), dec!(1))], dec!(-1), dec!(2)).is_err());
        // The cap (0.1) below the first point's payout (0.25): every point would be cut off.
        assert!(Curve::new(vec![p(dec!(0.5), dec!(0.25))], dec!(0), dec!(0.1)).is_err());
        assert!(Curve::new(vec![p(dec!(0.5), dec!(0.25))], dec!(0), dec!(0.25)).is_ok());
        assert!(parse_weights(&[dec!(1), dec!(-0.5)]).is_err());
        assert!(parse_weights(&[dec!(0)]).is_err());
        assert!(parse_gate(dec!(0.9), dec!(1.5)).is_err());
        assert!(Money::parse(dec!(1), "XYZ").is_err());
    }

    proptest! {
        #[test]
        fn payout_never_decreases_as_attainment_rises(a in 0i64..400, b in 0i64..400) {
            let c = accelerated();
            let (lo, hi) = (Decimal::new(a.min(b), 2), Decimal::new(a.max(b), 2));
            prop_assert!(c.payout(lo).0 <= c.payout(hi).0);
        }

        #[test]
        fn payout_never_exceeds_cap_times_target(att in proptest::collection::vec(0i64..500, 1..5), target in 1i64..10_000_000) {
            let components: Vec<Component> = att.iter().enumerate()
                .map(|(i, _)| component(&i.to_string(), Perspective::Financial, Decimal::from(i as i64 + 1)))
                .collect();
            let attainments: Vec<Option<Decimal>> = att.iter().map(|a| Some(Decimal::new(*a, 2))).collect();
            let t = eur(Decimal::new(target, 2));
            let p = payout(t, &components, &attainments, &[], &[]);
            prop_assert!(p.total.amount <= (t.amount * dec!(2)).round_dp(2));
            prop_assert!(p.total.amount >= Decimal::ZERO);
        }
    }
}
