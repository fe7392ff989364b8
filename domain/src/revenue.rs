//! Revenue and retention: MRR movements, net and gross revenue retention, and ARR exposure by
//! risk, segment and renewal window. Pure functions over plain values.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::metrics::named_enum;

named_enum! {
    /// What an MRR movement did.
    MovementKind {
        /// A new account started paying.
        New => "NEW",
        /// An existing account paid more.
        Expansion => "EXPANSION",
        /// An existing account paid less.
        Contraction => "CONTRACTION",
        /// An account stopped paying.
        Churn => "CHURN",
    }
}

named_enum! {
    /// An account's risk level.
    Risk {
        /// Healthy.
        Green => "GREEN",
        /// Watch.
        Amber => "AMBER",
        /// At risk.
        Red => "RED",
    }
}

/// One MRR movement; `amount` is the size of the change, always positive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement<K> {
    /// The account.
    pub account: K,
    /// When it took effect.
    pub on: NaiveDate,
    /// What it did.
    pub kind: MovementKind,
    /// How much MRR moved (positive).
    pub amount: Decimal,
}

impl<K> Movement<K> {
    fn signed(&self) -> Decimal {
        match self.kind {
            MovementKind::New | MovementKind::Expansion => self.amount,
            MovementKind::Contraction | MovementKind::Churn => -self.amount,
        }
    }
}

/// Each account's MRR just before `date`: the sum of its movements before that day.
pub fn mrr_before<K: Clone + Eq + Hash>(
    movements: &[Movement<K>],
    date: NaiveDate,
) -> HashMap<K, Decimal> {
    let mut mrr: HashMap<K, Decimal> = HashMap::new();
    for m in movements.iter().filter(|m| m.on < date) {
        *mrr.entry(m.account.clone()).or_default() += m.signed();
    }
    mrr
}

/// The parts of a retention figure, so Finance can check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// MRR at the period start of the accounts active then.
    pub starting: Decimal,
    /// Their expansion during the period.
    pub expansion: Decimal,
    /// Their contraction during the period.
    pub contraction: Decimal,
    /// Their churn during the period.
    pub churn: Decimal,
    /// (starting + expansion - contraction - churn) / starting; `None` without starting MRR.
    pub nrr: Option<Decimal>,
    /// (starting - contraction - churn) / starting; `None` without starting MRR.
    pub grr: Option<Decimal>,
    /// Why the ratios are missing, when they are.
    pub reason: Option<String>,
}

/// Net and gross revenue retention over `from..=to` for the accounts active at `from`
/// (MRR above zero just before it). Movements of accounts that started later are ignored.
pub fn retention<K: Clone + Eq + Hash>(
    movements: &[Movement<K>],
    from: NaiveDate,
    to: NaiveDate,
) -> Retention {
    let start = mrr_before(movements, from);
    let active: HashMap<&K, &Decimal> = start.iter().filter(|(_, v)| **v > Decimal::ZERO).collect();
    let starting: Decimal = active.values().copied().copied().sum();
    let (mut expansion, mut contraction, mut churn) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for m in movements
        .iter()
        .filter(|m| m.on >= from && m.on <= to && active.contains_key(&m.account))
    {
        match m.kind {
            MovementKind::Expansion | MovementKind::New => expansion += m.amount,
            MovementKind::Contraction => contraction += m.amount,
            MovementKind::Churn => churn += m.amount,
        }
    }
    if starting.is_zero() {
        return Retention {
            starting,
            expansion,
            contraction,
            churn,
            nrr: None,
            grr: None,
            reason: Some("no account was paying at the start of the period".to_owned()),
        };
    }
    Retention {
        nrr: Some(((starting + expansion - contraction - churn) / starting).normalize()),
        grr: Some(((starting - contraction - churn) / starting).normalize()),
        starting,
        expansion,
        contraction,
        churn,
        reason: None,
    }
}

/// An account as ARR exposure sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposed<K, S> {
    /// The account.
    pub account: K,
    /// Its segment.
    pub segment: Option<S>,
    /// Its ARR.
    pub arr: Decimal,
    /// Its risk.
    pub risk: Risk,
    /// When it renews.
    pub renewal: Option<NaiveDate>,
}

/// ARR by risk level, by segment within each risk, and by renewal window within each risk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure<S: Ord> {
    /// Total ARR per risk level.
    pub by_risk: BTreeMap<Risk, Decimal>,
    /// ARR per (risk, segment).
    pub by_segment: BTreeMap<(Risk, Option<S>), Decimal>,
    /// ARR per (risk, window in days) for accounts renewing within `as_of..=as_of + days`;
    /// windows are cumulative (60 includes 30).
    pub by_window: BTreeMap<(Risk, u32), Decimal>,
}

/// Totals ARR exposure as of a date for renewal windows of `windows` days.
pub fn exposure<K, S: Ord + Clone>(
    accounts: &[Exposed<K, S>],
    as_of: NaiveDate,
    windows: &[u32],
) -> Exposure<S> {
    let mut out = Exposure {
        by_risk: BTreeMap::new(),
        by_segment: BTreeMap::new(),
        by_window: BTreeMap::new(),
    };
    for a in accounts {
        *out.by_risk.entry(a.risk).or_default() += a.arr;
        *out.by_segment
            .entry((a.risk, a.segment.clone()))
            .or_default() += a.arr;
        if let Some(renewal) = a.renewal {
            let days = (renewal - as_of).num_days();
            for w in windows {
                if days >= 0 && days <= i64::from(*w) {
                    *out.by_window.entry((a.risk, *w)).or_default() += a.arr;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    fn mv(
        account: &'static str,
        on: NaiveDate,
        kind: MovementKind,
        amount: Decimal,
    ) -> Movement<&'static str> {
        Movement {
            account,
            on,
            kind,
            amount,
        }
    }

    /// Worked table, Q3 2026 (1 Jul - 30 Sep):
    ///
    /// | account | before Q3            | MRR at 1 Jul | in Q3               |
    /// |---------|----------------------|--------------|---------------------|
    /// | A       | NEW 1,000            | 1,000        | EXPANSION 200       |
    /// | B       | NEW 500, CONTR. 100  | 400          | CHURN 400           |
    /// | C       | NEW 2,000            | 2,000        | CONTRACTION 300     |
    /// | D       | (none)               | -            | NEW 900 (ignored)   |
    ///
    /// starting 3,400; expansion 200; contraction 300; churn 400
    /// NRR = (3,400 + 200 - 300 - 400) / 3,400 = 2,900 / 3,400 = 0.852941...
    /// GRR = (3,400 - 300 - 400) / 3,400 = 2,700 / 3,400 = 0.794117...
    #[test]
    fn retention_from_a_worked_table() {
        use MovementKind::*;
        let movements = vec![
            mv("A", d(1, 10), New, dec!(1000)),
            mv("B", d(2, 1), New, dec!(500)),
            mv("B", d(5, 1), Contraction, dec!(100)),
            mv("C", d(6, 30), New, dec!(2000)),
            mv("A", d(8, 15), Expansion, dec!(200)),
            mv("B", d(9, 1), Churn, dec!(400)),
            mv("C", d(9, 30), Contraction, dec!(300)),
            mv("D", d(8, 1), New, dec!(900)),
            mv("A", d(10, 1), Expansion, dec!(5000)),
        ];
        let r = retention(&movements, d(7, 1), d(9, 30));
        assert_eq!(
            (r.starting, r.expansion, r.contraction, r.churn),
            (dec!(3400), dec!(200), dec!(300), dec!(400))
        );
        assert_eq!(r.nrr, Some(dec!(2900) / dec!(3400)));
        assert_eq!(r.grr, Some(dec!(2700) / dec!(3400)));
        assert!(r.reason.is_none());
    }

    #[test]
    fn zero_starting_mrr_gives_no_ratio_and_a_reason() {
        let movements = vec![mv("A", d(8, 1), MovementKind::New, dec!(100))];
        let r = retention(&movements, d(7, 1), d(9, 30));
        assert_eq!(r.nrr, None);
        assert!(r.reason.is_some());
    }

    /// Worked table, as of 1 Oct 2026, windows 30/60/90 days:
    ///
    /// | account | segment    | ARR     | risk  | renews  | days |
    /// |---------|------------|---------|-------|---------|------|
    /// | A       | enterprise | 400,000 | RED   | 20 Oct  | 19   |
    /// | B       | enterprise | 220,000 | RED   | 15 Dec  | 75   |
    /// | C       | smb        | 30,000  | RED   | -       | -    |
    /// | D       | smb        | 50,000  | GREEN | 10 Oct  | 9    |
    ///
    /// RED total 650,000; RED renewing in 30 days 400,000, in 90 days 620,000 ("$620K").
    #[test]
    fn exposure_from_a_worked_table() {
        let acct = |account, segment, arr, risk, renewal| Exposed {
            account,
            segment: Some(segment),
            arr,
            risk,
            renewal,
        };
        let accounts = vec![
            acct("A", "enterprise", dec!(400000), Risk::Red, Some(d(10, 20))),
            acct("B", "enterprise", dec!(220000), Risk::Red, Some(d(12, 15))),
            acct("C", "smb", dec!(30000), Risk::Red, None),
            acct("D", "smb", dec!(50000), Risk::Green, Some(d(10, 10))),
        ];
        let e = exposure(&accounts, d(10, 1), &[30, 60, 90]);
        assert_eq!(e.by_risk[&Risk::Red], dec!(650000));
        assert_eq!(e.by_risk[&Risk::Green], dec!(50000));
        assert_eq!(e.by_segment[&(Risk::Red, Some("enterprise"))], dec!(620000));
        assert_eq!(e.by_window[&(Risk::Red, 30)], dec!(400000));
        assert_eq!(e.by_window.get(&(Risk::Red, 60)), Some(&dec!(400000)));
        assert_eq!(e.by_window[&(Risk::Red, 90)], dec!(620000));
        assert_eq!(e.by_window[&(Risk::Green, 30)], dec!(50000));
    }
}
