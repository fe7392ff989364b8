//! Reporting periods: a start date and a granularity, and how finer periods fall into
//! coarser buckets.

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};

use crate::error::Invalid;
use crate::metrics::named_enum;

named_enum! {
    /// The length of a reporting period, finest first.
    Granularity {
        /// One calendar day.
        Day => "DAY",
        /// One ISO week, Monday to Sunday.
        Week => "WEEK",
        /// One calendar month.
        Month => "MONTH",
        /// One calendar quarter (January, April, July, October).
        Quarter => "QUARTER",
        /// One calendar year.
        Year => "YEAR",
    }
}

impl Granularity {
    /// The first day of the period of this granularity that contains `date`.
    /// Weeks start on Monday; quarters in January, April, July and October.
    pub fn bucket_start(self, date: NaiveDate) -> NaiveDate {
        let first_of_month =
            |month: u32| NaiveDate::from_ymd_opt(date.year(), month, 1).unwrap_or(date);
        match self {
            Granularity::Day => date,
            Granularity::Week => date
                .checked_sub_days(Days::new(u64::from(date.weekday().num_days_from_monday())))
                .unwrap_or(date),
            Granularity::Month => first_of_month(date.month()),
            Granularity::Quarter => first_of_month((date.month0() / 3) * 3 + 1),
            Granularity::Year => first_of_month(1),
        }
    }

    /// Whether a period of this granularity rolls up exactly into `coarser` periods:
    /// every granularity into itself and the coarser ones, except weeks, which straddle
    /// month boundaries and so roll only into weeks.
    pub fn rolls_into(self, coarser: Granularity) -> bool {
        if self == Granularity::Week {
            return coarser == Granularity::Week;
        }
        self <= coarser
    }
}

/// One reporting period: an aligned start date and a granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    start: NaiveDate,
    granularity: Granularity,
}

impl Period {
    /// Parses a period; the start must be the first day of a period of that granularity
    /// (a Monday for weeks, the 1st for months, 1 Jan/Apr/Jul/Oct for quarters, 1 Jan for years).
    pub fn new(start: NaiveDate, granularity: Granularity) -> Result<Self, Invalid> {
        let aligned = granularity.bucket_start(start);
        if aligned != start {
            return Err(Invalid::new(format!(
                "a {granularity} period must start on {aligned} or another period start, not {start}"
            )));
        }
        Ok(Self { start, granularity })
    }

    /// First day of the period.
    pub fn start(self) -> NaiveDate {
        self.start
    }

    /// The period's granularity.
    pub fn granularity(self) -> Granularity {
        self.granularity
    }

    /// Last day of the period (inclusive).
    pub fn end(self) -> NaiveDate {
        let next = match self.granularity {
            Granularity::Day => self.start.checked_add_days(Days::new(1)),
            Granularity::Week => self.start.checked_add_days(Days::new(7)),
            Granularity::Month => self.start.checked_add_months(Months::new(1)),
            Granularity::Quarter => self.start.checked_add_months(Months::new(3)),
            Granularity::Year => self.start.checked_add_months(Months::new(12)),
        };
        next.and_then(|d| d.pred_opt()).unwrap_or(self.start)
    }

    /// The period of `granularity` that contains this period's start.
    pub fn bucket(self, granularity: Granularity) -> Period {
        Period {
            start: granularity.bucket_start(self.start),
            granularity,
        }
    }
}

/// A closed range of dates `from..=to`, as used by series queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    from: NaiveDate,
    to: NaiveDate,
}

impl DateRange {
    /// Longest range a single query may span, in days (about 50 years).
    pub const MAX_DAYS: i64 = 366 * 50;

    /// Parses a range; `from` must not be after `to`.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self, Invalid> {
        if from > to {
            return Err(Invalid::new(format!(
                "`from` ({from}) is after `to` ({to})"
            )));
        }
        if (to - from).num_days() > Self::MAX_DAYS {
            return Err(Invalid::new("the range may span at most 50 years"));
        }
        Ok(Self { from, to })
    }

    /// First day.
    pub fn from(self) -> NaiveDate {
        self.from
    }

    /// Last day (inclusive).
    pub fn to(self) -> NaiveDate {
        self.to
    }

    /// The periods of `granularity` that cover the range, in order (at most `limit`; `None`
    /// when more would be needed).
    pub fn periods(self, granularity: Granularity, limit: usize) -> Option<Vec<Period>> {
        let mut out = Vec::new();
        let mut start = granularity.bucket_start(self.from);
        while start <= self.to {
            if out.len() == limit {
                return None;
            }
            let period = Period { start, granularity };
            out.push(period);
            start = period.end().succ_opt()?;
        }
        Some(out)
    }

    /// The range widened to whole periods of `granularity`: from the start of the period
    /// holding `from` to the end of the period holding `to`.
    pub fn widen_to(self, granularity: Granularity) -> DateRange {
        let start = granularity.bucket_start(self.from);
        let last = Period {
            start: granularity.bucket_start(self.to),
            granularity,
        };
        DateRange {
            from: start,
            to: last.end(),
        }
    }
}

/// The weekday ISO weeks start on.
pub const WEEK_START: Weekday = Weekday::Mon;

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn weeks_start_on_monday_across_year_ends() {
        // 2026-01-01 is a Thursday; its ISO week starts on Monday 2025-12-29.
        assert_eq!(
            Granularity::Week.bucket_start(d(2026, 1, 1)),
            d(2025, 12, 29)
        );
        assert_eq!(
            Granularity::Week.bucket_start(d(2026, 11, 22)),
            d(2026, 11, 16)
        );
        assert_eq!(
            Granularity::Week.bucket_start(d(2026, 11, 16)),
            d(2026, 11, 16)
        );
        assert_eq!(d(2026, 11, 16).weekday(), WEEK_START);
    }

    #[test]
    fn months_quarters_and_years_bucket_to_their_first_day() {
        assert_eq!(
            Granularity::Month.bucket_start(d(2024, 2, 29)),
            d(2024, 2, 1)
        );
        assert_eq!(
            Granularity::Quarter.bucket_start(d(2026, 3, 31)),
            d(2026, 1, 1)
        );
        assert_eq!(
            Granularity::Quarter.bucket_start(d(2026, 4, 1)),
            d(2026, 4, 1)
        );
        assert_eq!(
            Granularity::Quarter.bucket_start(d(2026, 12, 31)),
            d(2026, 10, 1)
        );
        assert_eq!(Granularity::Year.bucket_start(d(2026, 7, 4)), d(2026, 1, 1));
        assert_eq!(Granularity::Day.bucket_start(d(2026, 7, 4)), d(2026, 7, 4));
    }

    #[test]
    fn period_ends_respect_leap_years() {
        let feb_leap = Period::new(d(2024, 2, 1), Granularity::Month).unwrap();
        assert_eq!(feb_leap.end(), d(2024, 2, 29));
        let feb = Period::new(d(2026, 2, 1), Granularity::Month).unwrap();
        assert_eq!(feb.end(), d(2026, 2, 28));
        let q1_leap = Period::new(d(2024, 1, 1), Granularity::Quarter).unwrap();
        assert_eq!(q1_leap.end(), d(2024, 3, 31));
        let year = Period::new(d(2024, 1, 1), Granularity::Year).unwrap();
        assert_eq!((year.end() - year.start()).num_days() + 1, 366);
        let week = Period::new(d(2024, 2, 26), Granularity::Week).unwrap();
        assert_eq!(week.end(), d(2024, 3, 3));
        let leap_day = Period::new(d(2024, 2, 29), Granularity::Day).unwrap();
        assert_eq!(leap_day.end(), leap_day.start());
    }

    #[test]
    fn misaligned_periods_are_refused() {
        assert!(Period::new(d(2026, 2, 15), Granularity::Month).is_err());
        assert!(Period::new(d(2026, 2, 1), Granularity::Quarter).is_err());
        assert!(Period::new(d(2026, 11, 22), Granularity::Week).is_err());
        assert!(Period::new(d(2026, 2, 1), Granularity::Year).is_err());
        assert!(Period::new(d(2026, 2, 15), Granularity::Day).is_ok());
        let err = Period::new(d(2026, 2, 15), Granularity::Month).unwrap_err();
        assert!(err.message.contains("2026-02-01"), "{}", err.message);
    }

    #[test]
    fn periods_bucket_into_coarser_ones() {
        let day = Period::new(d(2024, 2, 29), Granularity::Day).unwrap();
        assert_eq!(day.bucket(Granularity::Month).start(), d(2024, 2, 1));
        assert_eq!(day.bucket(Granularity::Quarter).start(), d(2024, 1, 1));
        assert_eq!(day.bucket(Granularity::Week).start(), d(2024, 2, 26));
        assert!(Granularity::Day.rolls_into(Granularity::Week));
        assert!(Granularity::Month.rolls_into(Granularity::Year));
        assert!(!Granularity::Week.rolls_into(Granularity::Month));
        assert!(!Granularity::Month.rolls_into(Granularity::Day));
    }

    #[test]
    fn ranges_widen_to_whole_periods() {
        let r = DateRange::new(d(2024, 2, 10), d(2024, 5, 3)).unwrap();
        let q = r.widen_to(Granularity::Quarter);
        assert_eq!((q.from(), q.to()), (d(2024, 1, 1), d(2024, 6, 30)));
        let m = r.widen_to(Granularity::Month);
        assert_eq!((m.from(), m.to()), (d(2024, 2, 1), d(2024, 5, 31)));
        let w = r.widen_to(Granularity::Week);
        assert_eq!((w.from(), w.to()), (d(2024, 2, 5), d(2024, 5, 5)));
    }

    #[test]
    fn ranges_must_be_ordered() {
        assert!(DateRange::new(d(2026, 1, 2), d(2026, 1, 1)).is_err());
        assert!(DateRange::new(d(2026, 1, 1), d(2026, 1, 1)).is_ok());
        assert!(DateRange::new(d(1900, 1, 1), d(2026, 1, 1)).is_err());
    }
}
