//! Who may do what: the access roles carried in tokens and the permissions each grants.

use crate::metrics::{Perspective, named_enum};
use crate::scorecards::OwnerKind;

named_enum! {
    /// An access role carried in a token's `roles` claim (written in lower case there).
    AccessRole {
        /// Everything in its organization.
        Admin => "ADMIN",
        /// Reads all; writes company goals, trade-off rules, governance and decisions.
        Executive => "EXECUTIVE",
        /// Reads all; writes financial observations, revenue events, incentive plans, payouts.
        Finance => "FINANCE",
        /// The glossary, segments, stages, metric trees, dashboards, observations, accounts.
        Revops => "REVOPS",
        /// People, teams, roles, role KPI assignments, plan assignments; reads payouts.
        Hr => "HR",
        /// Goals, OKRs and check-ins of its teams; reads its reports' scorecards and payouts.
        Manager => "MANAGER",
        /// Reads organization-visible data; checks in on own key results.
        Member => "MEMBER",
        /// Read-only service account for BI tools.
        Bi => "BI",
        /// Service account that may only run the HR sync.
        HrSync => "HR_SYNC",
    }
}

impl AccessRole {
    /// Parses the lower-case spelling used in token claims (`admin`, `hr_sync`, ...).
    pub fn from_claim(claim: &str) -> Option<Self> {
        claim.to_ascii_uppercase().parse().ok()
    }

    /// The lower-case spelling used in token claims.
    pub fn claim(self) -> String {
        self.as_str().to_ascii_lowercase()
    }
}

/// Something a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read organization-visible data: glossary, segments, stages, observations, series.
    ReadOrgData,
    /// Define, change, approve and retire metrics.
    ManageGlossary,
    /// Create and change segments and journey stages.
    ManageDimensions,
    /// Record observations of metrics in the given perspective.
    RecordObservations(Perspective),
    /// Read the audit trail.
    ReadAudit,
    /// Read people (names, teams, roles, managers), teams, job roles and scorecards.
    ReadPeople,
    /// Read anyone's contact data (email); people always see their own.
    ReadContactData,
    /// Create and change people, teams and job roles.
    ManagePeople,
    /// Define and change scorecards of the given kind of owner.
    ManageScorecards(OwnerKind),
    /// Run the HR sync.
    RunHrSync,
    /// Change organization-wide settings.
    ManageSettings,
    /// Create and change any goal, objective and key result.
    ManageAllGoals,
    /// Create and change goals, objectives and key results owned by one's own teams and reports.
    ManageTeamGoals,
    /// Check in on any key result.
    CheckInAny,
    /// Check in on key results one owns (and, for managers, those of one's teams and reports).
    CheckInOwn,
    /// Define incentive plans and compute payouts.
    ManagePlans,
    /// Read anyone's payout statements.
    ReadAllPay,
    /// Read plans and pay totals (no individual pay).
    ReadPayAggregates,
    /// Run governance: forums, review sessions, trade-off rules, decisions, maturity.
    ManageGovernance,
    /// Create and change customer accounts.
    ManageAccounts,
    /// Record MRR movements (revenue events).
    RecordRevenue,
    /// Link and unlink metrics in the metric tree.
    ManageMetricTree,
    /// Save, share and delete dashboards.
    ManageDashboards,
}

/// Whether a single role grants a permission.
pub fn role_allows(role: AccessRole, permission: Permission) -> bool {
    use AccessRole::*;
    match permission {
        Permission::ReadOrgData => role != HrSync,
        Permission::ManageGlossary | Permission::ManageDimensions => matches!(role, Admin | Revops),
        Permission::RecordObservations(perspective) => match role {
            Admin | Revops => true,
            Finance => perspective == Perspective::Financial,
            _ => false,
        },
        Permission::ReadAudit | Permission::ManageSettings => role == Admin,
        Permission::ReadPeople => role != HrSync,
        Permission::ReadContactData | Permission::ManagePeople => matches!(role, Admin | Hr),
        Permission::ManageScorecards(OwnerKind::Role) => matches!(role, Admin | Hr),
        Permission::ManageScorecards(OwnerKind::Team | OwnerKind::Company) => {
            matches!(role, Admin | Executive)
        }
        Permission::RunHrSync => matches!(role, Admin | Hr | HrSync),
        Permission::ManageAllGoals | Permission::CheckInAny => matches!(role, Admin | Executive),
        Permission::ManageTeamGoals => role == Manager,
        Permission::CheckInOwn => matches!(role, Manager | Member),
        Permission::ManagePlans => matches!(role, Admin | Finance),
        Permission::ReadAllPay => matches!(role, Admin | Finance | Hr),
        Permission::ReadPayAggregates => matches!(role, Admin | Finance | Hr | Executive | Bi),
        Permission::ManageGovernance => matches!(role, Admin | Executive),
        Permission::ManageAccounts
        | Permission::ManageMetricTree
        | Permission::ManageDashboards => {
            matches!(role, Admin | Revops)
        }
        Permission::RecordRevenue => matches!(role, Admin | Finance),
    }
}

/// Whether any of the caller's roles grants a permission.
pub fn allows(roles: &[AccessRole], permission: Permission) -> bool {
    roles.iter().any(|r| role_allows(*r, permission))
}

/// The roles that grant a permission, in declaration order: what a caller refused it may
/// ask for.
pub fn roles_with(permission: Permission) -> Vec<AccessRole> {
    AccessRole::ALL
        .iter()
        .copied()
        .filter(|role| role_allows(*role, permission))
        .collect()
}

/// Why a caller holding `held` is refused `permission`, naming the roles that would allow it
/// (as written in token claims): the text of a `FORBIDDEN` error.
pub fn refusal(held: &[AccessRole], permission: Permission) -> String {
    let claims = |roles: &[AccessRole]| {
        roles
            .iter()
            .map(|r| r.claim())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let held = if held.is_empty() {
        "none".to_owned()
    } else {
        claims(held)
    };
    format!(
        "your roles ({held}) do not allow this operation; it needs one of these roles: {}",
        claims(&roles_with(permission))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccessRole::*;

    #[test]
    fn roles_with_lists_exactly_the_roles_that_grant_a_permission() {
        assert_eq!(roles_with(Permission::ManageGlossary), [Admin, Revops]);
        assert_eq!(
            roles_with(Permission::RecordObservations(Perspective::Financial)),
            [Admin, Finance, Revops]
        );
        assert_eq!(
            roles_with(Permission::RecordObservations(Perspective::Customer)),
            [Admin, Revops]
        );
        assert_eq!(roles_with(Permission::ReadAudit), [Admin]);
        assert_eq!(roles_with(Permission::RunHrSync), [Admin, Hr, HrSync]);
        // The list agrees with the table for every role and permission.
        for permission in [
            Permission::ReadOrgData,
            Permission::ManagePlans,
            Permission::ReadPayAggregates,
            Permission::ManageScorecards(OwnerKind::Role),
            Permission::ManageTeamGoals,
        ] {
            for role in AccessRole::ALL {
                assert_eq!(
                    roles_with(permission).contains(role),
                    role_allows(*role, permission),
                    "{role} {permission:?}"
                );
            }
        }
    }

    #[test]
    fn a_refusal_names_the_roles_held_and_the_roles_that_may() {
        assert_eq!(
            refusal(&[Member, Bi], Permission::ManageGlossary),
            "your roles (member, bi) do not allow this operation; it needs one of these roles: \
             admin, revops"
        );
        assert_eq!(
            refusal(&[], Permission::RunHrSync),
            "your roles (none) do not allow this operation; it needs one of these roles: \
             admin, hr, hr_sync"
        );
    }

    #[test]
    fn claims_parse_case_insensitively_and_round_trip() {
        assert_eq!(AccessRole::from_claim("hr_sync"), Some(HrSync));
        assert_eq!(AccessRole::from_claim("ADMIN"), Some(Admin));
        assert_eq!(AccessRole::from_claim("root"), None);
        for role in AccessRole::ALL {
            assert_eq!(AccessRole::from_claim(&role.claim()), Some(*role));
        }
    }

    #[test]
    fn only_admin_and_revops_manage_the_glossary() {
        for role in AccessRole::ALL {
            assert_eq!(
                role_allows(*role, Permission::ManageGlossary),
                matches!(role, Admin | Revops),
                "{role}"
            );
        }
    }

    #[test]
    fn finance_records_only_financial_observations() {
        assert!(allows(
            &[Finance],
            Permission::RecordObservations(Perspective::Financial)
        ));
        assert!(!allows(
            &[Finance],
            Permission::RecordObservations(Perspective::Customer)
        ));
        assert!(allows(
            &[Revops],
            Permission::RecordObservations(Perspective::Customer)
        ));
        assert!(!allows(
            &[Bi, Member, Executive],
            Permission::RecordObservations(Perspective::Financial)
        ));
    }

    #[test]
    fn hr_sync_may_only_sync() {
        let everything = [
            Permission::ReadOrgData,
            Permission::ManageGlossary,
            Permission::ManageDimensions,
            Permission::RecordObservations(Perspective::Financial),
            Permission::ReadAudit,
            Permission::ReadPeople,
            Permission::ReadContactData,
            Permission::ManagePeople,
            Permission::ManageScorecards(OwnerKind::Role),
            Permission::ManageScorecards(OwnerKind::Company),
            Permission::ManageSettings,
            Permission::ManageAllGoals,
            Permission::ManageTeamGoals,
            Permission::CheckInAny,
            Permission::CheckInOwn,
            Permission::ManagePlans,
            Permission::ReadAllPay,
            Permission::ReadPayAggregates,
            Permission::ManageGovernance,
            Permission::ManageAccounts,
            Permission::RecordRevenue,
            Permission::ManageMetricTree,
            Permission::ManageDashboards,
        ];
        for p in everything {
            assert!(!role_allows(HrSync, p), "{p:?}");
        }
        assert!(role_allows(HrSync, Permission::RunHrSync));
        assert!(allows(&[Hr], Permission::RunHrSync));
        assert!(!allows(
            &[Revops, Bi, Manager, Member, Executive, Finance],
            Permission::RunHrSync
        ));
    }

    #[test]
    fn accounts_trees_and_dashboards_belong_to_revops_and_revenue_events_to_finance() {
        for p in [
            Permission::ManageAccounts,
            Permission::ManageMetricTree,
            Permission::ManageDashboards,
        ] {
            assert!(allows(&[Revops], p) && allows(&[Admin], p), "{p:?}");
            assert!(
                !allows(&[Finance, Executive, Bi, Manager, Member, Hr], p),
                "{p:?}"
            );
        }
        assert!(allows(&[Finance], Permission::RecordRevenue));
        assert!(!allows(
            &[Revops, Executive, Bi, Manager, Member, Hr],
            Permission::RecordRevenue
        ));
    }

    #[test]
    fn role_kpis_belong_to_hr_and_company_scorecards_to_executives() {
        assert!(allows(&[Hr], Permission::ManageScorecards(OwnerKind::Role)));
        assert!(!allows(
            &[Hr],
            Permission::ManageScorecards(OwnerKind::Company)
        ));
        assert!(allows(
            &[Executive],
            Permission::ManageScorecards(OwnerKind::Team)
        ));
        assert!(!allows(
            &[Executive],
            Permission::ManageScorecards(OwnerKind::Role)
        ));
        assert!(!allows(&[Bi], Permission::ReadContactData));
        assert!(allows(&[Bi], Permission::ReadPeople));
    }

    #[test]
    fn goals_belong_to_executives_and_managers_of_their_teams() {
        assert!(allows(&[Executive], Permission::ManageAllGoals));
        assert!(!allows(&[Manager], Permission::ManageAllGoals));
        assert!(allows(&[Manager], Permission::ManageTeamGoals));
        assert!(!allows(
            &[Member, Bi, Finance, Revops, Hr],
            Permission::ManageTeamGoals
        ));
        assert!(allows(&[Member], Permission::CheckInOwn));
        assert!(!allows(&[Bi, Finance], Permission::CheckInOwn));
    }

    #[test]
    fn individual_pay_is_for_admin_finance_and_hr_and_bi_sees_aggregates() {
        for role in AccessRole::ALL {
            assert_eq!(
                role_allows(*role, Permission::ReadAllPay),
                matches!(role, Admin | Finance | Hr),
                "{role}"
            );
        }
        assert!(allows(&[Bi], Permission::ReadPayAggregates));
        assert!(!allows(
            &[Member, Manager, Revops],
            Permission::ReadPayAggregates
        ));
        assert!(allows(&[Finance], Permission::ManagePlans));
        assert!(!allows(&[Hr], Permission::ManagePlans));
    }

    #[test]
    fn hr_sync_reads_nothing_and_only_admin_reads_audit() {
        assert!(!allows(&[HrSync], Permission::ReadOrgData));
        assert!(allows(&[Bi], Permission::ReadOrgData));
        assert!(allows(&[Admin], Permission::ReadAudit));
        assert!(!allows(
            &[Executive, Finance, Revops, Hr, Bi],
            Permission::ReadAudit
        ));
        assert!(!allows(&[], Permission::ReadOrgData));
    }
}
