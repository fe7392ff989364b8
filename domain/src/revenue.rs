//! Revenue and retention: MRR movements, net and gross revenue retention, and ARR exposure by
//! risk, segment and renewal window. Pure functions over plain values.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use chrono::{Datelike, Months, NaiveDate};
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

/// Each account's MRR just before `date`: the sum of its movements before that day.
pub fn mrr_before<K: Clone + Eq + Hash>(
    movements: &[Movement<K>],
    date: NaiveDate,
) -> HashMap<K, Decimal> {
    let mut mrr: HashMap<K, Decimal> = HashMap::new();
    for m in movements.iter().filter(|m| m.on < date) {
        *mrr.entry(m.account.clone()).or_default() += signed(m.kind, m.amount);
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

impl Retention {
    /// Builds the figure from its four parts; the ratios are absent when `starting` is zero.
    pub fn from_parts(
        starting: Decimal,
        expansion: Decimal,
        contraction: Decimal,
        churn: Decimal,
    ) -> Self {
        if starting <= Decimal::ZERO {
            return Self {
                starting,
                expansion,
                contraction,
                churn,
                nrr: None,
                grr: None,
                reason: Some("no account was paying at the start of the period".to_owned()),
            };
        }
        let ratio = |kept: Decimal| kept.checked_div(starting).map(|r| r.normalize());
        Self {
            nrr: ratio(starting + expansion - contraction - churn),
            grr: ratio(starting - contraction - churn),
            starting,
            expansion,
            contraction,
            churn,
            reason: None,
        }
    }
}

/// MRR movements of one account summed by kind, for one period or for everything before the
/// first period (`period: None`). Storage may hand several rows for the same key; they add up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow<K> {
    /// The account.
    pub account: K,
    /// Index of the period in the series; `None` for movements before its first period.
    pub period: Option<usize>,
    /// What the movements did.
    pub kind: MovementKind,
    /// Their total size (positive).
    pub amount: Decimal,
}

/// Which period of a series a date falls in: `Some(None)` before the first period,
/// `Some(Some(i))` in period `i` (periods given by their start dates, ascending, the last one
/// ending on `last_day`), `None` after the series.
pub fn period_index(
    starts: &[NaiveDate],
    last_day: NaiveDate,
    on: NaiveDate,
) -> Option<Option<usize>> {
    if on > last_day {
        return None;
    }
    Some(starts.partition_point(|s| *s <= on).checked_sub(1))
}

/// Net and gross revenue retention for each of `periods` consecutive periods. In each period
/// the accounts counted are those active at its start (MRR above zero from every earlier
/// movement); their movements in the period are its parts (a NEW movement of an account that
/// was already paying counts as expansion). Movements of accounts that start paying during a
/// period count from the next period on.
pub fn retention_series<K: Clone + Eq + Hash>(flows: &[Flow<K>], periods: usize) -> Vec<Retention> {
    let mut mrr: HashMap<&K, Decimal> = HashMap::new();
    let mut by_period: Vec<Vec<&Flow<K>>> = vec![Vec::new(); periods];
    for f in flows {
        match f.period {
            None => *mrr.entry(&f.account).or_default() += signed(f.kind, f.amount),
            Some(i) => {
                if let Some(bucket) = by_period.get_mut(i) {
                    bucket.push(f);
                }
            }
        }
    }
    let mut out = Vec::with_capacity(periods);
    for bucket in by_period {
        let active = |k: &K| mrr.get(k).is_some_and(|v| *v > Decimal::ZERO);
        let starting: Decimal = mrr.values().filter(|v| **v > Decimal::ZERO).sum();
        let (mut expansion, mut contraction, mut churn) =
            (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        for f in bucket.iter().filter(|f| active(&f.account)) {
            match f.kind {
                MovementKind::Expansion | MovementKind::New => expansion += f.amount,
                MovementKind::Contraction => contraction += f.amount,
                MovementKind::Churn => churn += f.amount,
            }
        }
        out.push(Retention::from_parts(
            starting,
            expansion,
            contraction,
            churn,
        ));
        for f in bucket {
            *mrr.entry(&f.account).or_default() += signed(f.kind, f.amount);
        }
    }
    out
}

fn signed(kind: MovementKind, amount: Decimal) -> Decimal {
    match kind {
        MovementKind::New | MovementKind::Expansion => amount,
        MovementKind::Contraction | MovementKind::Churn => -amount,
    }
}

/// Net and gross revenue retention over `from..=to` for the accounts active at `from`
/// (MRR above zero just before it). Movements of accounts that started later are ignored.
pub fn retention<K: Clone + Eq + Hash>(
    movements: &[Movement<K>],
    from: NaiveDate,
    to: NaiveDate,
) -> Retention {
    let flows: Vec<Flow<K>> = movements
        .iter()
        .filter_map(|m| {
            let period = period_index(&[from], to, m.on)?;
            Some(Flow {
                account: m.account.clone(),
                period,
                kind: m.kind,
                amount: m.amount,
            })
        })
        .collect();
    retention_series(&flows, 1).pop().unwrap_or_else(|| {
        Retention::from_parts(Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO)
    })
}

/// One account's MRR over one calendar month: what it paid at the start, what moved during the
/// month, and what it paid at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerMonth {
    /// First day of the month.
    pub month: NaiveDate,
    /// MRR at the start of the month (every earlier movement).
    pub opening: Decimal,
    /// NEW movements during the month.
    pub new: Decimal,
    /// EXPANSION movements during the month.
    pub expansion: Decimal,
    /// CONTRACTION movements during the month.
    pub contraction: Decimal,
    /// CHURN movements during the month.
    pub churn: Decimal,
    /// MRR at the end of the month.
    pub closing: Decimal,
}

/// First day of the month holding `date`.
pub fn month_of(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

/// One account's monthly ledger from its movements (any order): a month for every month from
/// its first movement's to its last's, months without movements carrying the MRR over, so the
/// MRR at the start of any month in that span is one row away. Empty without movements.
pub fn monthly_ledger(movements: &[(NaiveDate, MovementKind, Decimal)]) -> Vec<LedgerMonth> {
    let mut by_month: BTreeMap<NaiveDate, [Decimal; 4]> = BTreeMap::new();
    for (on, kind, amount) in movements {
        let sums = by_month.entry(month_of(*on)).or_default();
        let slot = match kind {
            MovementKind::New => 0,
            MovementKind::Expansion => 1,
            MovementKind::Contraction => 2,
            MovementKind::Churn => 3,
        };
        sums[slot] += *amount;
    }
    let (Some(first), Some(last)) = (
        by_month.keys().next().copied(),
        by_month.keys().next_back().copied(),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut opening = Decimal::ZERO;
    let mut month = first;
    while month <= last {
        let [new, expansion, contraction, churn] =
            by_month.get(&month).copied().unwrap_or_default();
        let closing = opening + new + expansion - contraction - churn;
        out.push(LedgerMonth {
            month,
            opening,
            new,
            expansion,
            contraction,
            churn,
            closing,
        });
        opening = closing;
        let Some(next) = month.checked_add_months(Months::new(1)) else {
            break;
        };
        month = next;
    }
    out
}

/// The flows [`retention_series`] needs for one account, from its ledger months: its MRR at
/// `first_start` (the first period's start, a month start) as a flow before the series, then
/// the movements of each month in the period `period_of` names. `months` are the account's
/// ledger months from `first_start` on, or, when it has none there, its last month before.
pub fn ledger_flows<K: Clone>(
    account: &K,
    months: &[LedgerMonth],
    first_start: NaiveDate,
    period_of: impl Fn(NaiveDate) -> Option<usize>,
) -> Vec<Flow<K>> {
    let mut out = Vec::new();
    let flow = |period, kind, amount| Flow {
        account: account.clone(),
        period,
        kind,
        amount,
    };
    let at_start = match months.iter().find(|m| m.month >= first_start) {
        Some(m) => m.opening,
        None => months.last().map_or(Decimal::ZERO, |m| m.closing),
    };
    if at_start > Decimal::ZERO {
        out.push(flow(None, MovementKind::New, at_start));
    } else if at_start < Decimal::ZERO {
        out.push(flow(None, MovementKind::Churn, -at_start));
    }
    for m in months.iter().filter(|m| m.month >= first_start) {
        let Some(period) = period_of(m.month) else {
            continue;
        };
        for (kind, amount) in [
            (MovementKind::New, m.new),
            (MovementKind::Expansion, m.expansion),
            (MovementKind::Contraction, m.contraction),
            (MovementKind::Churn, m.churn),
        ] {
            if !amount.is_zero() {
                out.push(flow(Some(period), kind, amount));
            }
        }
    }
    out
}

/// Whether periods given as `(start, end)` are whole calendar months or runs of them, so a
/// monthly ledger can answer for them.
pub fn whole_months(periods: &[(NaiveDate, NaiveDate)]) -> bool {
    periods.iter().all(|(start, end)| {
        start.day() == 1 && end.succ_opt().is_some_and(|next| next.day() == 1) && start <= end
    })
}

/// Highest health score.
pub const MAX_HEALTH_SCORE: u32 = 100;

/// Checks an account's figures; problems name the input field they concern.
pub fn check_account(
    arr: Decimal,
    health_score: Option<Decimal>,
    started_on: Option<NaiveDate>,
    renews_on: Option<NaiveDate>,
) -> Vec<(&'static str, crate::Invalid)> {
    let mut problems = Vec::new();
    if arr < Decimal::ZERO {
        problems.push(("arr", crate::Invalid::new("must not be negative")));
    }
    if let Some(h) = health_score
        && (h < Decimal::ZERO || h > Decimal::from(MAX_HEALTH_SCORE))
    {
        problems.push((
            "healthScore",
            crate::Invalid::new(format!("must be between 0 and {MAX_HEALTH_SCORE}")),
        ));
    }
    if let (Some(start), Some(renewal)) = (started_on, renews_on)
        && renewal < start
    {
        problems.push((
            "renewsOn",
            crate::Invalid::new(format!("is before the start date {start}")),
        ));
    }
    problems
}

/// Checks an MRR movement's size: positive, the kind saying which way it went.
pub fn check_movement_amount(amount: Decimal) -> Result<(), crate::Invalid> {
    if amount <= Decimal::ZERO {
        return Err(crate::Invalid::new(
            "must be above zero; the kind says whether MRR went up or down",
        ));
    }
    Ok(())
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

/// Whether an account renews within `days` days of `as_of` (both ends included).
pub fn renews_within(renewal: Option<NaiveDate>, as_of: NaiveDate, days: u32) -> bool {
    renewal.is_some_and(|r| {
        let ahead = (r - as_of).num_days();
        ahead >= 0 && ahead <= i64::from(days)
    })
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
        for w in windows {
            if renews_within(a.renewal, as_of, *w) {
                *out.by_window.entry((a.risk, *w)).or_default() += a.arr;
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

    /// Worked table, monthly series July - September 2026 (periods 0, 1, 2):
    ///
    /// | account | before July | July          | August           | September     |
    /// |---------|-------------|---------------|------------------|---------------|
    /// | A       | NEW 1,000   | EXPANSION 100 |                  | CHURN 1,100   |
    /// | B       | NEW 500     |               | CONTRACTION 50   |               |
    /// | C       |             | NEW 300       | EXPANSION 30     |               |
    ///
    /// July: starting 1,500 (A, B); exp 100 -> NRR 1,600/1,500, GRR 1
    /// August: starting 1,100 + 500 + 300 = 1,900; exp 30 (C), contr 50 -> NRR 1,880/1,900,
    ///         GRR 1,850/1,900
    /// September: starting 1,100 + 450 + 330 = 1,880; churn 1,100 -> NRR = GRR = 780/1,880
    #[test]
    fn monthly_series_from_a_worked_table() {
        use MovementKind::*;
        let flow = |account, period, kind, amount| Flow {
            account,
            period,
            kind,
            amount,
        };
        let flows = vec![
            flow("A", None, New, dec!(1000)),
            flow("B", None, New, dec!(500)),
            flow("A", Some(0), Expansion, dec!(100)),
            flow("C", Some(0), New, dec!(300)),
            flow("B", Some(1), Contraction, dec!(20)),
            flow("B", Some(1), Contraction, dec!(30)),
            flow("C", Some(1), Expansion, dec!(30)),
            flow("A", Some(2), Churn, dec!(1100)),
        ];
        let s = retention_series(&flows, 3);
        let parts: Vec<_> = s
            .iter()
            .map(|r| (r.starting, r.expansion, r.contraction, r.churn))
            .collect();
        assert_eq!(
            parts,
            vec![
                (dec!(1500), dec!(100), dec!(0), dec!(0)),
                (dec!(1900), dec!(30), dec!(50), dec!(0)),
                (dec!(1880), dec!(0), dec!(0), dec!(1100)),
            ]
        );
        assert_eq!(s[0].nrr, Some((dec!(1600) / dec!(1500)).normalize()));
        assert_eq!(s[0].grr, Some(dec!(1)));
        assert_eq!(s[1].grr, Some((dec!(1850) / dec!(1900)).normalize()));
        assert_eq!(s[2].nrr, s[2].grr);
        assert_eq!(s[2].nrr, Some((dec!(780) / dec!(1880)).normalize()));
    }

    #[test]
    fn dates_fall_in_the_period_that_holds_them() {
        let starts = [d(7, 1), d(8, 1), d(9, 1)];
        assert_eq!(period_index(&starts, d(9, 30), d(6, 30)), Some(None));
        assert_eq!(period_index(&starts, d(9, 30), d(7, 1)), Some(Some(0)));
        assert_eq!(period_index(&starts, d(9, 30), d(8, 31)), Some(Some(1)));
        assert_eq!(period_index(&starts, d(9, 30), d(9, 30)), Some(Some(2)));
        assert_eq!(period_index(&starts, d(9, 30), d(10, 1)), None);
    }

    #[test]
    fn account_and_movement_checks_name_the_field() {
        let fields = |p: Vec<(&'static str, crate::Invalid)>| {
            p.into_iter().map(|(f, _)| f).collect::<Vec<_>>()
        };
        assert!(check_account(dec!(0), Some(dec!(100)), Some(d(1, 1)), Some(d(1, 1))).is_empty());
        assert_eq!(
            fields(check_account(
                dec!(-1),
                Some(dec!(100.5)),
                Some(d(2, 1)),
                Some(d(1, 1))
            )),
            vec!["arr", "healthScore", "renewsOn"]
        );
        assert!(check_movement_amount(dec!(0.01)).is_ok());
        assert!(check_movement_amount(dec!(0)).is_err());
        assert!(check_movement_amount(dec!(-5)).is_err());
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

    /// Worked ledger: NEW 1,000 on 10 Jan and EXPANSION 200 on 20 Jan, nothing in February or
    /// March, CONTRACTION 100 on 5 Apr.
    ///
    /// | month | opening | new   | expansion | contraction | closing |
    /// |-------|---------|-------|-----------|-------------|---------|
    /// | Jan   | 0       | 1,000 | 200       | 0           | 1,200   |
    /// | Feb   | 1,200   | 0     | 0         | 0           | 1,200   |
    /// | Mar   | 1,200   | 0     | 0         | 0           | 1,200   |
    /// | Apr   | 1,200   | 0     | 0         | 100         | 1,100   |
    #[test]
    fn monthly_ledger_from_a_worked_table() {
        use MovementKind::*;
        let ledger = monthly_ledger(&[
            (d(4, 5), Contraction, dec!(100)),
            (d(1, 20), Expansion, dec!(200)),
            (d(1, 10), New, dec!(1000)),
        ]);
        let rows: Vec<_> = ledger
            .iter()
            .map(|m| {
                (
                    m.month,
                    m.opening,
                    m.new,
                    m.expansion,
                    m.contraction,
                    m.closing,
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                (d(1, 1), dec!(0), dec!(1000), dec!(200), dec!(0), dec!(1200)),
                (d(2, 1), dec!(1200), dec!(0), dec!(0), dec!(0), dec!(1200)),
                (d(3, 1), dec!(1200), dec!(0), dec!(0), dec!(0), dec!(1200)),
                (d(4, 1), dec!(1200), dec!(0), dec!(0), dec!(100), dec!(1100)),
            ]
        );
        assert!(monthly_ledger(&[]).is_empty());
    }

    #[test]
    fn whole_months_needs_month_starts_and_month_ends() {
        assert!(whole_months(&[(d(1, 1), d(1, 31)), (d(2, 1), d(4, 30))]));
        assert!(whole_months(&[(d(2, 1), d(2, 28))]));
        assert!(!whole_months(&[(d(1, 2), d(1, 31))]));
        assert!(!whole_months(&[(d(1, 1), d(1, 30))]));
        assert!(!whole_months(&[(d(1, 5), d(1, 11))]));
    }

    /// Retention read from monthly ledgers equals retention from the movements themselves, for
    /// monthly, quarterly and yearly periods, over accounts that start, grow, shrink, churn and
    /// come back at pseudo-random dates (2025-2026).
    #[test]
    fn ledger_flows_give_the_same_retention_as_movements() {
        use MovementKind::*;
        let mut seed: u64 = 42;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        let base = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        let mut movements: Vec<Movement<u32>> = Vec::new();
        for account in 0..40u32 {
            let mut on = base + chrono::Days::new(next(500));
            let mut mrr = Decimal::ZERO;
            for _ in 0..next(12) + 1 {
                let amount = Decimal::from(next(900) + 1);
                let kind = match (mrr.is_zero(), next(4)) {
                    (true, _) => New,
                    (false, 0) => Churn,
                    (false, 1) => Contraction,
                    _ => Expansion,
                };
                let amount = match kind {
                    Churn => mrr,
                    Contraction => amount.min(mrr),
                    _ => amount,
                };
                mrr += signed(kind, amount);
                movements.push(mv_of(account, on, kind, amount));
                on = on + chrono::Days::new(next(90));
            }
        }
        let day = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        let monthly: Vec<(NaiveDate, NaiveDate)> = (1..=12)
            .map(|m| {
                let start = day(2026, m, 1);
                (
                    start,
                    start
                        .checked_add_months(Months::new(1))
                        .unwrap()
                        .pred_opt()
                        .unwrap(),
                )
            })
            .collect();
        let quarterly = vec![
            (day(2025, 4, 1), day(2025, 6, 30)),
            (day(2025, 7, 1), day(2025, 9, 30)),
            (day(2025, 10, 1), day(2025, 12, 31)),
            (day(2026, 1, 1), day(2026, 3, 31)),
        ];
        let yearly = vec![(day(2025, 12, 1), day(2026, 11, 30))];
        let late = vec![(day(2027, 6, 1), day(2027, 6, 30))];
        for periods in [monthly, quarterly, yearly, late] {
            assert!(whole_months(&periods));
            let starts: Vec<NaiveDate> = periods.iter().map(|p| p.0).collect();
            let last_day = periods.last().unwrap().1;
            let from_movements: Vec<Flow<u32>> = movements
                .iter()
                .filter_map(|m| {
                    Some(Flow {
                        account: m.account,
                        period: period_index(&starts, last_day, m.on)?,
                        kind: m.kind,
                        amount: m.amount,
                    })
                })
                .collect();
            let mut from_ledger = Vec::new();
            for account in 0..40u32 {
                let own: Vec<_> = movements
                    .iter()
                    .filter(|m| m.account == account)
                    .map(|m| (m.on, m.kind, m.amount))
                    .collect();
                let ledger = monthly_ledger(&own);
                let from = ledger.iter().position(|m| m.month >= starts[0]);
                let months = match from {
                    Some(i) => &ledger[i..],
                    None => &ledger[ledger.len().saturating_sub(1)..],
                };
                let months: Vec<LedgerMonth> = months
                    .iter()
                    .filter(|m| m.month <= last_day)
                    .cloned()
                    .collect();
                from_ledger.extend(ledger_flows(&account, &months, starts[0], |month| {
                    period_index(&starts, last_day, month).flatten()
                }));
            }
            assert_eq!(
                retention_series(&from_ledger, periods.len()),
                retention_series(&from_movements, periods.len()),
                "periods {periods:?}"
            );
        }
    }

    fn mv_of(account: u32, on: NaiveDate, kind: MovementKind, amount: Decimal) -> Movement<u32> {
        Movement {
            account,
            on,
            kind,
            amount,
        }
    }
}
