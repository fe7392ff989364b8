//! Balanced scorecards: how an item's actual compares with its target, how items combine into
//! a score and a RAG status, and when a scorecard is balanced.
//!
//! Rules (see also `docs/scorecards.md`):
//! - Attainment is direction-aware and linear in the distance to target:
//!   `1 + (actual - target) / |target|` when higher is better, `1 - (actual - target) / |target|`
//!   when lower is better. With a zero target it is 1 when the target is met and 0 otherwise.
//! - An item's score is its attainment clamped to `[0, SCORE_CAP]`, so one over-achieved item
//!   cannot hide the others.
//! - The scorecard's score is the weighted mean of the scores of the items that have a value;
//!   weights are normalised over those items, so they need not sum to 1. Items without a value
//!   are left out and reported as such.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::error::Invalid;
use crate::metrics::{Direction, Perspective, named_enum};

/// The most an item's score can be (150% of target).
pub const SCORE_CAP: Decimal = Decimal::from_parts(15, 0, 0, false, 1);
/// Decimal places kept in attainments and scores.
pub const SCORE_DP: u32 = 6;
/// Default largest share of weight a single perspective may hold in a balanced scorecard.
pub const DEFAULT_MAX_PERSPECTIVE_SHARE: Decimal = Decimal::from_parts(7, 0, 0, false, 1);
/// Default scorecard score at or above which the scorecard is green.
pub const DEFAULT_GREEN_SCORE: Decimal = Decimal::from_parts(95, 0, 0, false, 2);
/// Default scorecard score at or above which the scorecard is amber.
pub const DEFAULT_AMBER_SCORE: Decimal = Decimal::from_parts(8, 0, 0, false, 1);

named_enum! {
    /// Red / amber / green.
    Rag {
        /// On track.
        Green => "GREEN",
        /// At risk.
        Amber => "AMBER",
        /// Off track.
        Red => "RED",
    }
}

named_enum! {
    /// Who a scorecard belongs to.
    OwnerKind {
        /// A job role: the KPIs everyone in the role carries.
        Role => "ROLE",
        /// A team.
        Team => "TEAM",
        /// The whole company.
        Company => "COMPANY",
    }
}

/// An item's weight: zero or more, at most 1,000.
pub fn parse_weight(weight: Decimal) -> Result<Decimal, Invalid> {
    if weight.is_sign_negative() && !weight.is_zero() {
        return Err(Invalid::new("a weight cannot be negative"));
    }
    if weight > Decimal::from(1000) {
        return Err(Invalid::new("a weight can be at most 1000"));
    }
    Ok(weight)
}

/// The share of weight one perspective may hold: more than 0, at most 1.
pub fn parse_max_share(share: Decimal) -> Result<Decimal, Invalid> {
    if share <= Decimal::ZERO || share > Decimal::ONE {
        return Err(Invalid::new(
            "must be more than 0 and at most 1 (0.7 means 70%)",
        ));
    }
    Ok(share)
}

/// Green and amber thresholds in the metric's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    green: Decimal,
    amber: Decimal,
}

impl Thresholds {
    /// Parses thresholds: when higher is better green must be at or above amber; when lower is
    /// better, at or below.
    pub fn parse(direction: Direction, green: Decimal, amber: Decimal) -> Result<Self, Invalid> {
        let ordered = match direction {
            Direction::HigherIsBetter => green >= amber,
            Direction::LowerIsBetter => green <= amber,
        };
        if !ordered {
            let rule = match direction {
                Direction::HigherIsBetter => "at or above",
                Direction::LowerIsBetter => "at or below",
            };
            return Err(Invalid::new(format!(
                "the green threshold ({green}) must be {rule} the amber threshold ({amber}) for a {direction} metric"
            )));
        }
        Ok(Self { green, amber })
    }

    /// Green threshold.
    pub fn green(self) -> Decimal {
        self.green
    }

    /// Amber threshold.
    pub fn amber(self) -> Decimal {
        self.amber
    }
}

fn round(value: Decimal) -> Decimal {
    value
        .round_dp_with_strategy(SCORE_DP, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

/// How far an actual is towards (or past) its target: 1 at target, more when better.
pub fn attainment(direction: Direction, target: Decimal, actual: Decimal) -> Decimal {
    let better_or_equal = match direction {
        Direction::HigherIsBetter => actual >= target,
        Direction::LowerIsBetter => actual <= target,
    };
    if target.is_zero() {
        return if better_or_equal {
            Decimal::ONE
        } else {
            Decimal::ZERO
        };
    }
    let gap = actual
        .checked_sub(target)
        .and_then(|d| d.checked_div(target.abs()));
    let signed = match (direction, gap) {
        (Direction::HigherIsBetter, Some(g)) => Decimal::ONE.checked_add(g),
        (Direction::LowerIsBetter, Some(g)) => Decimal::ONE.checked_sub(g),
        (_, None) => None,
    };
    // Only astronomically far values overflow: they are far better or far worse.
    let value = signed.unwrap_or(if better_or_equal {
        Decimal::MAX
    } else {
        Decimal::MIN
    });
    round(value)
}

/// An item's score: its attainment clamped to `[0, SCORE_CAP]`.
pub fn item_score(attainment: Decimal) -> Decimal {
    attainment.clamp(Decimal::ZERO, SCORE_CAP)
}

/// An item's status from its actual and thresholds, direction-aware.
pub fn item_status(direction: Direction, thresholds: Thresholds, actual: Decimal) -> Rag {
    let meets = |threshold: Decimal| match direction {
        Direction::HigherIsBetter => actual >= threshold,
        Direction::LowerIsBetter => actual <= threshold,
    };
    if meets(thresholds.green) {
        Rag::Green
    } else if meets(thresholds.amber) {
        Rag::Amber
    } else {
        Rag::Red
    }
}

/// One item's contribution to a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weighted {
    /// The item's weight.
    pub weight: Decimal,
    /// The item's score; `None` when the item has no value for the period.
    pub score: Option<Decimal>,
}

/// The weighted mean of item scores over the items that have one, weights normalised over
/// them. `None` when no item with weight has a value.
pub fn total_score(items: &[Weighted]) -> Option<Decimal> {
    let mut weight = Decimal::ZERO;
    let mut sum = Decimal::ZERO;
    for item in items {
        if let Some(score) = item.score {
            weight = weight.checked_add(item.weight)?;
            sum = sum.checked_add(item.weight.checked_mul(score)?)?;
        }
    }
    if weight.is_zero() {
        return None;
    }
    sum.checked_div(weight).map(round)
}

/// A scorecard's status from its score.
pub fn scorecard_status(score: Decimal, green_score: Decimal, amber_score: Decimal) -> Rag {
    if score >= green_score {
        Rag::Green
    } else if score >= amber_score {
        Rag::Amber
    } else {
        Rag::Red
    }
}

/// Checks scorecard-level thresholds: both at least 0, green at or above amber.
pub fn parse_score_thresholds(
    green: Decimal,
    amber: Decimal,
) -> Result<(Decimal, Decimal), Invalid> {
    if green.is_sign_negative() || amber.is_sign_negative() {
        return Err(Invalid::new("score thresholds cannot be negative"));
    }
    if green < amber {
        return Err(Invalid::new(
            "the green score must be at or above the amber score",
        ));
    }
    Ok((green, amber))
}

/// One item to evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemSpec {
    /// The metric's direction.
    pub direction: Direction,
    /// Relative weight.
    pub weight: Decimal,
    /// Target.
    pub target: Decimal,
    /// RAG thresholds.
    pub thresholds: Thresholds,
    /// The actual value for the period; `None` when nothing was recorded.
    pub actual: Option<Decimal>,
}

/// One item's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemResult {
    /// Attainment, when there is an actual.
    pub attainment: Option<Decimal>,
    /// Score (clamped attainment), when there is an actual.
    pub score: Option<Decimal>,
    /// Status, when there is an actual.
    pub status: Option<Rag>,
    /// The item's share of the weight that counted (0 for items without a value).
    pub effective_weight: Decimal,
}

/// A scorecard's result for a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// Per item, in order.
    pub items: Vec<ItemResult>,
    /// Weighted score over the items with a value.
    pub score: Option<Decimal>,
    /// Status from the score.
    pub status: Option<Rag>,
    /// How many items had no value and were left out.
    pub items_without_data: usize,
}

/// Evaluates a scorecard's items for a period.
pub fn evaluate(items: &[ItemSpec], green_score: Decimal, amber_score: Decimal) -> Evaluation {
    let counted: Decimal = items
        .iter()
        .filter(|i| i.actual.is_some())
        .map(|i| i.weight)
        .sum();
    let results: Vec<ItemResult> = items
        .iter()
        .map(|item| match item.actual {
            None => ItemResult {
                attainment: None,
                score: None,
                status: None,
                effective_weight: Decimal::ZERO,
            },
            Some(actual) => {
                let a = attainment(item.direction, item.target, actual);
                ItemResult {
                    attainment: Some(a),
                    score: Some(item_score(a)),
                    status: Some(item_status(item.direction, item.thresholds, actual)),
                    effective_weight: if counted.is_zero() {
                        Decimal::ZERO
                    } else {
                        round(item.weight / counted)
                    },
                }
            }
        })
        .collect();
    let weighted: Vec<Weighted> = items
        .iter()
        .zip(&results)
        .map(|(i, r)| Weighted {
            weight: i.weight,
            score: r.score,
        })
        .collect();
    let score = total_score(&weighted);
    Evaluation {
        status: score.map(|s| scorecard_status(s, green_score, amber_score)),
        score,
        items_without_data: items.iter().filter(|i| i.actual.is_none()).count(),
        items: results,
    }
}

/// Whether a scorecard balances financial and customer KPIs, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// At least one FINANCIAL and one CUSTOMER item and no perspective above the maximum share.
    pub balanced: bool,
    /// Why it is not balanced; empty when it is.
    pub reasons: Vec<String>,
    /// Each perspective's share of the total weight, in perspective order (only those present).
    pub shares: Vec<(Perspective, Decimal)>,
}

/// Judges balance from the items' perspectives and weights.
pub fn balance(items: &[(Perspective, Decimal)], max_share: Decimal) -> Balance {
    let mut reasons = Vec::new();
    let has = |p: Perspective| items.iter().any(|(q, _)| *q == p);
    if !has(Perspective::Financial) {
        reasons.push("no FINANCIAL item".to_owned());
    }
    if !has(Perspective::Customer) {
        reasons.push("no CUSTOMER item".to_owned());
    }
    let total: Decimal = items.iter().map(|(_, w)| *w).sum();
    let mut shares = Vec::new();
    if total.is_zero() {
        if !items.is_empty() {
            reasons.push("every item has zero weight".to_owned());
        }
    } else {
        for perspective in Perspective::ALL {
            let weight: Decimal = items
                .iter()
                .filter(|(p, _)| p == perspective)
                .map(|(_, w)| *w)
                .sum();
            if !items.iter().any(|(p, _)| p == perspective) {
                continue;
            }
            // Exact, so a share a hair above the maximum is not rounded down onto it.
            let share = ratio(weight, total);
            if share > max_share {
                reasons.push(format!(
                    "{perspective} holds {}% of the weight, above the maximum of {}%",
                    (share * Decimal::ONE_HUNDRED).normalize(),
                    (max_share * Decimal::ONE_HUNDRED).normalize()
                ));
            }
            shares.push((*perspective, share));
        }
    }
    Balance {
        balanced: reasons.is_empty(),
        reasons,
        shares,
    }
}

/// `part / whole` for `0 <= part <= whole`, whole above zero: exact Decimal division (28
/// significant digits, as retention ratios), trailing zeros dropped.
fn ratio(part: Decimal, whole: Decimal) -> Decimal {
    part.checked_div(whole).unwrap_or(Decimal::ONE).normalize()
}

/// The share of roles whose scorecards are balanced; `None` when there are no roles. Exact
/// Decimal division, as the other ratios (2 of 3 is 0.6666666666666666666666666667).
pub fn balanced_share(balanced: usize, total: usize) -> Option<Decimal> {
    if total == 0 {
        return None;
    }
    Some(ratio(Decimal::from(balanced), Decimal::from(total)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn attainment_is_actual_over_target_for_positive_targets() {
        assert_eq!(attainment(HigherIsBetter, dec!(100), dec!(80)), dec!(0.8));
        assert_eq!(attainment(HigherIsBetter, dec!(100), dec!(100)), dec!(1));
        assert_eq!(attainment(HigherIsBetter, dec!(100), dec!(130)), dec!(1.3));
    }

    #[test]
    fn lower_is_better_rewards_coming_in_under_target() {
        // Churn target 5%: 4% is 20% better, 6% is 20% worse, 10% is nothing.
        assert_eq!(attainment(LowerIsBetter, dec!(5), dec!(4)), dec!(1.2));
        assert_eq!(attainment(LowerIsBetter, dec!(5), dec!(6)), dec!(0.8));
        assert_eq!(attainment(LowerIsBetter, dec!(5), dec!(10)), dec!(0));
    }

    #[test]
    fn negative_targets_keep_the_direction() {
        // Cash burn target -100 (higher is better): -50 is better, -150 worse.
        assert_eq!(attainment(HigherIsBetter, dec!(-100), dec!(-50)), dec!(1.5));
        assert_eq!(
            attainment(HigherIsBetter, dec!(-100), dec!(-150)),
            dec!(0.5)
        );
        assert_eq!(attainment(LowerIsBetter, dec!(-100), dec!(-150)), dec!(1.5));
    }

    #[test]
    fn zero_targets_are_met_or_not() {
        assert_eq!(attainment(LowerIsBetter, dec!(0), dec!(0)), dec!(1));
        assert_eq!(attainment(LowerIsBetter, dec!(0), dec!(3)), dec!(0));
        assert_eq!(attainment(HigherIsBetter, dec!(0), dec!(2)), dec!(1));
        assert_eq!(attainment(HigherIsBetter, dec!(0), dec!(-2)), dec!(0));
    }

    #[test]
    fn attainment_is_rounded_to_six_places() {
        assert_eq!(attainment(HigherIsBetter, dec!(3), dec!(1)), dec!(0.333333));
        assert_eq!(attainment(HigherIsBetter, dec!(3), dec!(2)), dec!(0.666667));
    }

    #[test]
    fn item_scores_are_clamped() {
        assert_eq!(item_score(dec!(-0.4)), dec!(0));
        assert_eq!(item_score(dec!(0.9)), dec!(0.9));
        assert_eq!(item_score(dec!(3)), SCORE_CAP);
        assert_eq!(SCORE_CAP, dec!(1.5));
    }

    #[test]
    fn status_follows_thresholds_in_either_direction() {
        let up = Thresholds::parse(HigherIsBetter, dec!(100), dec!(90)).unwrap();
        assert_eq!(item_status(HigherIsBetter, up, dec!(100)), Rag::Green);
        assert_eq!(item_status(HigherIsBetter, up, dec!(95)), Rag::Amber);
        assert_eq!(item_status(HigherIsBetter, up, dec!(89.99)), Rag::Red);
        let down = Thresholds::parse(LowerIsBetter, dec!(14), dec!(21)).unwrap();
        assert_eq!(item_status(LowerIsBetter, down, dec!(10)), Rag::Green);
        assert_eq!(item_status(LowerIsBetter, down, dec!(21)), Rag::Amber);
        assert_eq!(item_status(LowerIsBetter, down, dec!(30)), Rag::Red);
        assert!(Thresholds::parse(HigherIsBetter, dec!(90), dec!(100)).is_err());
        assert!(Thresholds::parse(LowerIsBetter, dec!(21), dec!(14)).is_err());
    }

    #[test]
    fn weights_are_normalised_and_missing_values_left_out() {
        let items = [
            Weighted {
                weight: dec!(2),
                score: Some(dec!(1)),
            },
            Weighted {
                weight: dec!(1),
                score: Some(dec!(0.4)),
            },
            Weighted {
                weight: dec!(5),
                score: None,
            },
        ];
        // (2 * 1 + 1 * 0.4) / 3 = 0.8
        assert_eq!(total_score(&items), Some(dec!(0.8)));
        assert_eq!(
            total_score(&[Weighted {
                weight: dec!(1),
                score: None
            }]),
            None
        );
        assert_eq!(
            total_score(&[Weighted {
                weight: dec!(0),
                score: Some(dec!(1))
            }]),
            None
        );
        assert_eq!(total_score(&[]), None);
    }

    #[test]
    fn weights_cannot_be_negative() {
        assert!(parse_weight(dec!(-0.1)).is_err());
        assert!(parse_weight(dec!(0)).is_ok());
        assert!(parse_weight(dec!(0.25)).is_ok());
    }

    #[test]
    fn scorecard_status_uses_score_thresholds() {
        assert_eq!(
            scorecard_status(dec!(0.95), DEFAULT_GREEN_SCORE, DEFAULT_AMBER_SCORE),
            Rag::Green
        );
        assert_eq!(
            scorecard_status(dec!(0.8), DEFAULT_GREEN_SCORE, DEFAULT_AMBER_SCORE),
            Rag::Amber
        );
        assert_eq!(
            scorecard_status(dec!(0.79), DEFAULT_GREEN_SCORE, DEFAULT_AMBER_SCORE),
            Rag::Red
        );
        assert!(parse_score_thresholds(dec!(0.8), dec!(0.9)).is_err());
    }

    #[test]
    fn evaluation_leaves_out_items_without_data_visibly() {
        let t = |g, a| Thresholds::parse(HigherIsBetter, g, a).unwrap();
        let items = [
            ItemSpec {
                direction: HigherIsBetter,
                weight: dec!(3),
                target: dec!(100),
                thresholds: t(dec!(100), dec!(90)),
                actual: Some(dec!(95)),
            },
            ItemSpec {
                direction: HigherIsBetter,
                weight: dec!(1),
                target: dec!(10),
                thresholds: t(dec!(10), dec!(8)),
                actual: Some(dec!(12)),
            },
            ItemSpec {
                direction: HigherIsBetter,
                weight: dec!(6),
                target: dec!(1),
                thresholds: t(dec!(1), dec!(1)),
                actual: None,
            },
        ];
        let e = evaluate(&items, DEFAULT_GREEN_SCORE, DEFAULT_AMBER_SCORE);
        // (3 * 0.95 + 1 * 1.2) / 4 = 1.0125
        assert_eq!(e.score, Some(dec!(1.0125)));
        assert_eq!(e.status, Some(Rag::Green));
        assert_eq!(e.items_without_data, 1);
        assert_eq!(e.items[0].status, Some(Rag::Amber));
        assert_eq!(e.items[1].status, Some(Rag::Green));
        assert_eq!(e.items[2].score, None);
        assert_eq!(e.items[0].effective_weight, dec!(0.75));
        assert_eq!(e.items[2].effective_weight, dec!(0));
        let none = evaluate(&items[2..], DEFAULT_GREEN_SCORE, DEFAULT_AMBER_SCORE);
        assert_eq!((none.score, none.status), (None, None));
    }

    #[test]
    fn balance_needs_both_perspectives_and_no_dominant_one() {
        use Perspective::*;
        let ok = balance(
            &[(Financial, dec!(0.6)), (Customer, dec!(0.4))],
            DEFAULT_MAX_PERSPECTIVE_SHARE,
        );
        assert!(ok.balanced, "{:?}", ok.reasons);
        assert_eq!(
            ok.shares,
            vec![(Financial, dec!(0.6)), (Customer, dec!(0.4))]
        );

        let no_customer = balance(
            &[(Financial, dec!(1)), (InternalProcess, dec!(1))],
            dec!(0.7),
        );
        assert!(!no_customer.balanced);
        assert_eq!(no_customer.reasons, vec!["no CUSTOMER item"]);

        let dominant = balance(&[(Financial, dec!(8)), (Customer, dec!(2))], dec!(0.7));
        assert!(!dominant.balanced);
        assert_eq!(
            dominant.reasons,
            vec!["FINANCIAL holds 80% of the weight, above the maximum of 70%"]
        );

        // 0.7000004 is above 0.7 even though it rounds to 0.7 at six places.
        let hair = balance(
            &[(Financial, dec!(0.7000004)), (Customer, dec!(0.2999996))],
            dec!(0.7),
        );
        assert!(!hair.balanced);
        assert_eq!(
            hair.reasons,
            vec!["FINANCIAL holds 70.00004% of the weight, above the maximum of 70%"]
        );
        assert_eq!(hair.shares[0], (Financial, dec!(0.7000004)));
        let at_limit = balance(&[(Financial, dec!(7)), (Customer, dec!(3))], dec!(0.7));
        assert!(at_limit.balanced, "{:?}", at_limit.reasons);
        let thirds = balance(
            &[
                (Financial, dec!(1)),
                (Customer, dec!(1)),
                (LearningGrowth, dec!(1)),
            ],
            dec!(0.7),
        );
        assert_eq!(thirds.shares[0].1, dec!(1) / dec!(3));

        let empty = balance(&[], dec!(0.7));
        assert_eq!(empty.reasons, vec!["no FINANCIAL item", "no CUSTOMER item"]);
        let weightless = balance(&[(Financial, dec!(0)), (Customer, dec!(0))], dec!(0.7));
        assert_eq!(weightless.reasons, vec!["every item has zero weight"]);
    }

    #[test]
    fn balanced_share_is_a_ratio() {
        assert_eq!(balanced_share(2, 3), Some(dec!(2) / dec!(3)));
        assert_eq!(
            balanced_share(1, 3).map(|d| d.to_string()),
            Some("0.3333333333333333333333333333".to_owned())
        );
        assert_eq!(balanced_share(3, 4), Some(dec!(0.75)));
        assert_eq!(balanced_share(0, 0), None);
        assert!(parse_max_share(dec!(0)).is_err());
        assert!(parse_max_share(dec!(1.1)).is_err());
        assert!(parse_max_share(dec!(0.7)).is_ok());
    }

    proptest! {
        #[test]
        fn attainment_never_decreases_as_the_actual_improves(
            target in -10_000i64..10_000, a in -20_000i64..20_000, b in -20_000i64..20_000
        ) {
            let (lo, hi) = (Decimal::from(a.min(b)), Decimal::from(a.max(b)));
            let t = Decimal::from(target);
            prop_assert!(attainment(HigherIsBetter, t, lo) <= attainment(HigherIsBetter, t, hi));
            prop_assert!(attainment(LowerIsBetter, t, hi) <= attainment(LowerIsBetter, t, lo));
        }

        #[test]
        fn total_score_stays_within_item_scores(
            items in proptest::collection::vec((0u32..100, 0i64..150), 1..12)
        ) {
            let weighted: Vec<Weighted> = items.iter()
                .map(|(w, s)| Weighted { weight: Decimal::from(*w), score: Some(Decimal::new(*s, 2)) })
                .collect();
            if let Some(total) = total_score(&weighted) {
                let min = weighted.iter().filter(|w| !w.weight.is_zero()).filter_map(|w| w.score).min().unwrap();
                let max = weighted.iter().filter(|w| !w.weight.is_zero()).filter_map(|w| w.score).max().unwrap();
                prop_assert!(total >= min && total <= max);
            }
        }
    }
}
