//! GraphQL enums mirroring the domain's closed sets, converted both ways.

use tandem_domain::{metrics as m, periods as p};

/// Declares a GraphQL enum with the same variants as a domain enum, and conversions.
macro_rules! mirror_enum {
    ($(#[$meta:meta])* $name:ident => $domain:path { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl From<$name> for $domain {
            fn from(v: $name) -> Self {
                match v { $($name::$variant => <$domain>::$variant),+ }
            }
        }

        impl From<$domain> for $name {
            fn from(v: $domain) -> Self {
                match v { $(<$domain>::$variant => $name::$variant),+ }
            }
        }
    };
}

mirror_enum! {
    /// Balanced-scorecard perspective.
    Perspective => m::Perspective {
        /// Revenue, margin, cost.
        Financial,
        /// Customer outcomes: retention, satisfaction, adoption.
        Customer,
        /// Operational processes that deliver to customers.
        InternalProcess,
        /// People, skills and systems.
        LearningGrowth,
    }
}

mirror_enum! {
    /// What a metric's numbers count.
    Unit => m::UnitKind {
        /// Money in one ISO 4217 currency (see `currency`).
        Currency,
        /// A percentage (45 means 45%).
        Percent,
        /// A count of things.
        Count,
        /// A duration in days.
        Days,
        /// A plain ratio (1.12 means 112%).
        Ratio,
        /// A score on a scale (NPS, health score).
        Score,
    }
}

mirror_enum! {
    /// Which way is good for a metric.
    Direction => m::Direction {
        /// More is better.
        HigherIsBetter,
        /// Less is better.
        LowerIsBetter,
    }
}

mirror_enum! {
    /// Lever or outcome.
    MetricKind => m::MetricKind {
        /// A lead indicator teams act on directly.
        Input,
        /// A lag indicator that inputs ladder into.
        Output,
    }
}

mirror_enum! {
    /// How observations combine over time and across segments.
    Aggregation => m::Aggregation {
        /// Add the values.
        Sum,
        /// Arithmetic mean of the values.
        Average,
        /// The value at the latest period (balances such as ARR).
        Last,
        /// The smallest value.
        Min,
        /// The largest value.
        Max,
    }
}

mirror_enum! {
    /// Where a metric is in its glossary life cycle.
    MetricStatus => m::MetricStatus {
        /// Proposed; may still change.
        Draft,
        /// Agreed definition others may rely on.
        Approved,
        /// No longer in use; kept for history, takes no new observations.
        Retired,
    }
}

mirror_enum! {
    /// Length of a reporting period.
    Granularity => p::Granularity {
        /// One calendar day.
        Day,
        /// One ISO week, starting Monday.
        Week,
        /// One calendar month.
        Month,
        /// One calendar quarter, starting January, April, July or October.
        Quarter,
        /// One calendar year.
        Year,
    }
}

mirror_enum! {
    /// An account's risk level.
    Risk => tandem_domain::revenue::Risk {
        /// Healthy.
        Green,
        /// Needs watching.
        Amber,
        /// At risk of churning or shrinking.
        Red,
    }
}

mirror_enum! {
    /// What an MRR movement did.
    MovementKind => tandem_domain::revenue::MovementKind {
        /// A new account started paying.
        New,
        /// An existing account pays more.
        Expansion,
        /// An existing account pays less.
        Contraction,
        /// An account stopped paying.
        Churn,
    }
}

mirror_enum! {
    /// How a front end is advised to draw a panel.
    ChartHint => tandem_domain::dashboards::ChartHint {
        /// A line per series.
        Line,
        /// Bars per bucket.
        Bar,
        /// Bars with segments or stages stacked.
        StackedBar,
        /// Filled area.
        Area,
        /// One headline number (the latest bucket).
        Number,
        /// A table of values.
        Table,
        /// A segment x stage grid coloured by value.
        Heatmap,
    }
}

mirror_enum! {
    /// Who may read a dashboard.
    Visibility => tandem_domain::dashboards::Visibility {
        /// Its owner and administrators.
        Private,
        /// Everyone in the organization who may read metrics.
        Organization,
    }
}

mirror_enum! {
    /// Which way a value moved from the previous period.
    TrendDirection => tandem_domain::dashboards::TrendDirection {
        /// It went up.
        Up,
        /// It went down.
        Down,
        /// It did not change.
        Flat,
    }
}
