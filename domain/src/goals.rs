//! Goals: strategic outcomes with a perspective, an owner, a period and a life cycle; cascaded
//! through parents and tied together by links. The balance rule: a FINANCIAL goal becomes
//! ACTIVE only when linked to at least one CUSTOMER goal (an organization policy, on by default).

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;

use crate::error::{Invalid, RuleViolation};
use crate::metrics::{Perspective, named_enum};

named_enum! {
    /// Where a goal is in its life cycle.
    GoalStatus {
        /// Being written; may change freely.
        Draft => "DRAFT",
        /// Committed and being worked on.
        Active => "ACTIVE",
        /// Reached.
        Achieved => "ACHIEVED",
        /// Not reached by the end of its period.
        Missed => "MISSED",
        /// Dropped.
        Cancelled => "CANCELLED",
    }
}

impl GoalStatus {
    /// Whether the goal is finished (no further transitions).
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            GoalStatus::Achieved | GoalStatus::Missed | GoalStatus::Cancelled
        )
    }
}

/// Checks a status change: DRAFT -> ACTIVE or CANCELLED; ACTIVE -> ACHIEVED, MISSED or
/// CANCELLED; closed goals do not move. Staying in the same status is not a transition.
pub fn transition(from: GoalStatus, to: GoalStatus) -> Result<GoalStatus, RuleViolation> {
    use GoalStatus::*;
    let allowed = matches!(
        (from, to),
        (Draft, Active)
            | (Draft, Cancelled)
            | (Active, Achieved)
            | (Active, Missed)
            | (Active, Cancelled)
    );
    if allowed {
        Ok(to)
    } else if from == to {
        Err(RuleViolation::new(format!("the goal is already {from}")))
    } else {
        Err(RuleViolation::new(format!(
            "a {from} goal cannot become {to}"
        )))
    }
}

/// The balance rule: activating a FINANCIAL goal needs a link to at least one CUSTOMER goal
/// when the organization requires it. `linked` holds the perspectives of the linked goals.
pub fn ensure_can_activate(
    perspective: Perspective,
    linked: &[Perspective],
    require_customer_link: bool,
) -> Result<(), RuleViolation> {
    if require_customer_link
        && perspective == Perspective::Financial
        && !linked.contains(&Perspective::Customer)
    {
        return Err(RuleViolation::new(
            "a FINANCIAL goal needs a link to at least one CUSTOMER goal before it can become ACTIVE: \
             link it to the customer outcome that drives it (linkGoals), then activate it",
        ));
    }
    Ok(())
}

/// Whether making `parent` the parent of `goal` would make a goal its own ancestor, given the
/// current parent of every goal.
pub fn creates_cycle<K: Copy + Eq + std::hash::Hash>(
    goal: K,
    parent: K,
    parent_of: &HashMap<K, K>,
) -> bool {
    let mut seen = HashSet::new();
    let mut next = Some(parent);
    while let Some(current) = next {
        if current == goal {
            return true;
        }
        if !seen.insert(current) {
            return false;
        }
        next = parent_of.get(&current).copied();
    }
    false
}

/// A goal's period: first and last day, inclusive (fiscal years need not be calendar years).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoalPeriod {
    start: NaiveDate,
    end: NaiveDate,
}

impl GoalPeriod {
    /// Parses a period; the end must not be before the start, and it may span at most 10 years.
    pub fn new(start: NaiveDate, end: NaiveDate) -> Result<Self, Invalid> {
        if end < start {
            return Err(Invalid::new(format!(
                "the period ends ({end}) before it starts ({start})"
            )));
        }
        if (end - start).num_days() > 3660 {
            return Err(Invalid::new("a period may span at most 10 years"));
        }
        Ok(Self { start, end })
    }

    /// First day.
    pub fn start(self) -> NaiveDate {
        self.start
    }

    /// Last day.
    pub fn end(self) -> NaiveDate {
        self.end
    }

    /// Whether the period shares at least one day with `from..=to`.
    pub fn overlaps(self, from: NaiveDate, to: NaiveDate) -> bool {
        self.start <= to && from <= self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use GoalStatus::*;

    #[test]
    fn goals_move_forward_only() {
        assert_eq!(transition(Draft, Active), Ok(Active));
        assert_eq!(transition(Active, Achieved), Ok(Achieved));
        assert_eq!(transition(Active, Missed), Ok(Missed));
        assert_eq!(transition(Draft, Cancelled), Ok(Cancelled));
        assert!(transition(Draft, Achieved).is_err());
        assert!(transition(Active, Draft).is_err());
        assert!(transition(Achieved, Active).is_err());
        assert!(transition(Cancelled, Active).is_err());
        assert!(
            transition(Active, Active)
                .unwrap_err()
                .message
                .contains("already")
        );
        assert!(Missed.is_closed() && !Active.is_closed());
    }

    #[test]
    fn financial_goals_need_a_customer_link_to_activate() {
        use Perspective::*;
        assert!(ensure_can_activate(Financial, &[], true).is_err());
        assert!(ensure_can_activate(Financial, &[InternalProcess], true).is_err());
        assert!(ensure_can_activate(Financial, &[InternalProcess, Customer], true).is_ok());
        assert!(ensure_can_activate(Financial, &[], false).is_ok());
        assert!(ensure_can_activate(Customer, &[], true).is_ok());
        let message = ensure_can_activate(Financial, &[], true)
            .unwrap_err()
            .message;
        assert!(message.contains("CUSTOMER"), "{message}");
    }

    #[test]
    fn a_goal_cannot_become_its_own_ancestor() {
        // 1 <- 2 <- 3 (3's parent is 2, 2's parent is 1)
        let parents: HashMap<u32, u32> = [(2, 1), (3, 2)].into_iter().collect();
        assert!(creates_cycle(1, 3, &parents));
        assert!(creates_cycle(1, 1, &parents));
        assert!(!creates_cycle(3, 1, &parents));
        assert!(!creates_cycle(4, 3, &parents));
    }

    #[test]
    fn periods_are_ordered_and_overlap() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        assert!(GoalPeriod::new(d(3, 1), d(2, 1)).is_err());
        let q2 = GoalPeriod::new(d(4, 1), d(6, 30)).unwrap();
        assert!(q2.overlaps(d(6, 30), d(9, 30)));
        assert!(!q2.overlaps(d(7, 1), d(9, 30)));
        assert!(q2.overlaps(d(1, 1), d(12, 31)));
    }
}
