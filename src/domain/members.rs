//! Members and API keys: who manages whom, which roles a member or a key may hold. Pure: the
//! caller brings the facts (the acting member, the member acted on, the organisation's kind,
//! how many administrators it has) and gets a decision.
//!
//! | action | who |
//! | --- | --- |
//! | invite, read, list, change, disable or enable an organisation's members | admin (a token that names no member too); a member of the organisation (not disabled) who administers it |
//! | make or unmake an admin (who acts for no organisation) | admin, on the command line (`cofund member add --role admin`) |
//! | change one's own role | nobody |
//! | leave an organisation with no administrator (one not disabled, invited or active) | nobody who administers it (an admin may) |
//! | create an API key for an organisation | a member of it (not disabled), in its own role; an admin member, in any role the organisation's kind allows |
//! | see or revoke a key | its creator; whoever manages the organisation's members |

use chrono::{Duration, NaiveDateTime};
use serde::Deserialize;
use utoipa::ToSchema;

use super::access::{role_fits, Denied, Principal, Role};
use super::ids::{MemberId, OrganisationId};
use super::limits::text_problem;
use super::registry::OrganisationKind;
use super::FieldError;

string_enum! {
    /// Where a member stands.
    MemberStatus {
        /// Invited and not yet signed in.
        Invited => "invited",
        /// Has signed in (or was made active on the command line).
        Active => "active",
        /// May not act: their sign-ins, tokens and API keys are refused.
        Disabled => "disabled",
    }
}

/// What the rules need to know of a member: the caller, or the member acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberFacts {
    pub id: MemberId,
    pub organisation_id: Option<OrganisationId>,
    pub role: Role,
    pub administers: bool,
    pub status: MemberStatus,
}

impl MemberFacts {
    /// Manages its organisation's members (an admin: every organisation's).
    fn is_administrator(&self) -> bool {
        self.status != MemberStatus::Disabled && (self.role == Role::Admin || self.administers)
    }
}

/// Whether `caller` (with its member record, when its token names one) manages the members
/// of `organisation`: an admin, or a member of it (not disabled) who administers it.
pub fn may_manage_members(
    caller: &Principal,
    caller_member: Option<&MemberFacts>,
    organisation: &OrganisationId,
) -> Result<(), Denied> {
    if caller.is_admin() {
        return Ok(());
    }
    let administers = caller_member
        .is_some_and(|m| m.is_administrator() && m.organisation_id.as_ref() == Some(organisation));
    if administers && caller.organisation() == Some(organisation) {
        Ok(())
    } else {
        Err(Denied(
            "only an admin or an administrator of this organisation manages its members".into(),
        ))
    }
}

/// An invitation as asked for.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"display_name": "Asha Patel", "email": "asha.patel@herefordshire.example", "role": "commissioner", "administers": false}))]
pub struct NewMember {
    /// How pages and histories name them (1 to 200 characters).
    pub display_name: String,
    /// The address the invitation goes to, matched (in any case) against the one the identity
    /// provider gives at the first sign-in. Personal data: shown only to those who manage
    /// members, never logged.
    pub email: String,
    /// A role that fits the organisation's kind (never `admin`: admins belong to none).
    pub role: Role,
    /// Whether they manage this organisation's members (default false).
    #[serde(default)]
    pub administers: bool,
}

/// An invitation that the rules accept, its email lower-cased.
#[derive(Debug, Clone)]
pub struct MemberPlan {
    pub display_name: String,
    pub email: String,
    pub role: Role,
    pub administers: bool,
}

/// Checks an invitation into an organisation of `kind` (`None`: an admin, on the command
/// line), field by field.
pub fn validate_member(
    input: NewMember,
    kind: Option<OrganisationKind>,
) -> Result<MemberPlan, Vec<FieldError>> {
    let mut errors = Vec::new();
    if let Some(problem) = name_problem(&input.display_name, 200) {
        errors.push(FieldError::new("display_name", problem));
    }
    let email = input.email.trim().to_lowercase();
    if email.parse::<lettre::Address>().is_err() {
        errors.push(FieldError::new("email", "not an email address"));
    }
    if let Some(problem) = role_problem(input.role, kind) {
        errors.push(FieldError::new("role", problem));
    }
    if input.administers && kind.is_none() {
        errors.push(FieldError::new(
            "administers",
            "an admin manages every organisation's members already",
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(MemberPlan {
        display_name: input.display_name,
        email,
        role: input.role,
        administers: input.administers,
    })
}

/// Why a name cannot be stored: empty (or blank), too long, or holding a control character.
fn name_problem(name: &str, max_chars: usize) -> Option<String> {
    if name.trim().is_empty() {
        return Some("must not be empty".into());
    }
    text_problem(name, max_chars, false)
}

/// Why `role` cannot be held in an organisation of `kind` (`None`: in no organisation).
fn role_problem(role: Role, kind: Option<OrganisationKind>) -> Option<String> {
    match kind {
        None if role != Role::Admin => {
            Some("a member of no organisation is an admin; name the organisation".into())
        }
        None => None,
        Some(_) if role == Role::Admin => {
            Some("an admin belongs to no organisation; use `cofund member add --role admin`".into())
        }
        Some(kind) if !role_fits(role, kind) => Some(format!(
            "a {} organisation has no {} members",
            kind.as_str(),
            role.as_str()
        )),
        Some(_) => None,
    }
}

/// A change to a member as asked for: each field left out stays as it is.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "validator", "administers": true}))]
pub struct MemberChange {
    /// A new role that fits the organisation's kind.
    pub role: Option<Role>,
    /// Whether they manage the organisation's members.
    pub administers: Option<bool>,
    /// `disabled` (refused at once wherever they act) or back to `active`; set through
    /// `POST …/disable` and `…/enable`.
    #[serde(skip)]
    pub status: Option<MemberStatus>,
}

/// Why a change is refused: not the caller's to make (403), not a valid change (422), or one
/// that would leave the organisation with nobody to manage it (409).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeRefused {
    Denied(Denied),
    Invalid(Vec<FieldError>),
    LastAdministrator(String),
}

/// Checks `change` to `target` (of an organisation of `kind`), made by `caller`. `others`
/// counts the administrators of the target's organisation (or the admins, for an admin)
/// other than the target who are not disabled (an invited one counts: it may act).
pub fn check_change(
    caller: &Principal,
    caller_member: Option<&MemberFacts>,
    target: &MemberFacts,
    kind: Option<OrganisationKind>,
    change: &MemberChange,
    others: u64,
) -> Result<MemberFacts, ChangeRefused> {
    match &target.organisation_id {
        Some(organisation) => may_manage_members(caller, caller_member, organisation)
            .map_err(ChangeRefused::Denied)?,
        None if caller.is_admin() => {}
        None => {
            return Err(ChangeRefused::Denied(Denied(
                "only an admin manages the admins".into(),
            )))
        }
    }
    let is_self = caller_member.is_some_and(|m| m.id == target.id);
    let mut after = target.clone();
    if let Some(role) = change.role {
        if let Some(problem) = role_problem(role, kind) {
            return Err(ChangeRefused::Invalid(vec![FieldError::new(
                "role", problem,
            )]));
        }
        if is_self && role != target.role {
            return Err(ChangeRefused::Denied(Denied(
                "nobody changes their own role; ask another administrator".into(),
            )));
        }
        after.role = role;
    }
    if let Some(administers) = change.administers {
        if administers && kind.is_none() {
            return Err(ChangeRefused::Invalid(vec![FieldError::new(
                "administers",
                "an admin manages every organisation's members already",
            )]));
        }
        after.administers = administers;
    }
    if let Some(status) = change.status {
        after.status = status;
    }
    let removes_self = is_self && target.is_administrator() && !after.is_administrator();
    if removes_self && others == 0 {
        return Err(ChangeRefused::LastAdministrator(
            "this would leave nobody to manage these members: make another administrator first"
                .into(),
        ));
    }
    Ok(after)
}

/// Keys live at most this long: a program's access is looked at again at least once a year.
pub const KEY_MAX_DAYS: i64 = 366;
/// A key's lifetime when none is asked for.
pub const KEY_DEFAULT_DAYS: i64 = 90;

/// A key as asked for.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Finance system: quarterly statements", "role": "commissioner", "expires_in_days": 180}))]
pub struct NewApiKey {
    /// What it is for (1 to 100 characters), as the key list shows it.
    pub name: String,
    /// The role it acts in: the creator's own (default); an admin chooses any role the
    /// organisation's kind allows.
    pub role: Option<Role>,
    /// Days until it stops working: 1 to 366 (default 90).
    pub expires_in_days: Option<i64>,
}

/// A key the rules accept.
#[derive(Debug, Clone)]
pub struct ApiKeyPlan {
    pub name: String,
    pub role: Role,
    pub expires_at: NaiveDateTime,
}

/// Checks a new key for `organisation` (of `kind`), asked for by `creator` at `now`.
pub fn check_new_key(
    creator: Option<&MemberFacts>,
    organisation: &OrganisationId,
    kind: OrganisationKind,
    input: NewApiKey,
    now: NaiveDateTime,
) -> Result<ApiKeyPlan, ChangeRefused> {
    let creator = creator.filter(|m| m.status != MemberStatus::Disabled).ok_or_else(|| {
        ChangeRefused::Denied(Denied(
            "API keys are made by members, so that each names who made it: act as a member (`cofund member add`)".into(),
        ))
    })?;
    let is_admin = creator.role == Role::Admin;
    if !is_admin && creator.organisation_id.as_ref() != Some(organisation) {
        return Err(ChangeRefused::Denied(Denied(
            "a member makes keys for its own organisation only".into(),
        )));
    }
    let mut errors = Vec::new();
    let role = match input.role {
        Some(role) => role,
        None if is_admin => {
            errors.push(FieldError::new(
                "role",
                "an admin's key needs a role that the organisation's kind allows",
            ));
            creator.role
        }
        None => creator.role,
    };
    if let Some(problem) = name_problem(&input.name, 100) {
        errors.push(FieldError::new("name", problem));
    }
    if !is_admin && role != creator.role {
        errors.push(FieldError::new(
            "role",
            format!(
                "a key acts in its maker's own role, {}",
                creator.role.as_str()
            ),
        ));
    } else if let Some(problem) = role_problem(role, Some(kind)).filter(|_| errors.is_empty()) {
        errors.push(FieldError::new("role", problem));
    }
    let days = input.expires_in_days.unwrap_or(KEY_DEFAULT_DAYS);
    if !(1..=KEY_MAX_DAYS).contains(&days) {
        errors.push(FieldError::new(
            "expires_in_days",
            format!("between 1 and {KEY_MAX_DAYS} days"),
        ));
    }
    if !errors.is_empty() {
        return Err(ChangeRefused::Invalid(errors));
    }
    Ok(ApiKeyPlan {
        name: input.name,
        role,
        expires_at: now + Duration::days(days),
    })
}

/// Whether `caller` may see or revoke a key of `organisation` made by `creator`.
pub fn may_handle_key(
    caller: &Principal,
    caller_member: Option<&MemberFacts>,
    organisation: &OrganisationId,
    creator: &MemberId,
) -> bool {
    caller_member.is_some_and(|m| &m.id == creator && m.status != MemberStatus::Disabled)
        || may_manage_members(caller, caller_member, organisation).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, org: Option<&str>, role: Role, administers: bool) -> MemberFacts {
        MemberFacts {
            id: MemberId::from(id),
            organisation_id: org.map(OrganisationId::from),
            role,
            administers,
            status: MemberStatus::Active,
        }
    }

    fn token(m: &MemberFacts) -> Principal {
        Principal::new(m.id.to_string(), m.role, m.organisation_id.clone()).unwrap()
    }

    #[test]
    fn an_administrator_manages_its_own_organisation_only() {
        let boss = member("mem_1", Some("org_a"), Role::Commissioner, true);
        let clerk = member("mem_2", Some("org_a"), Role::Commissioner, false);
        let a = OrganisationId::from("org_a");
        let b = OrganisationId::from("org_b");
        assert!(may_manage_members(&token(&boss), Some(&boss), &a).is_ok());
        assert!(may_manage_members(&token(&boss), Some(&boss), &b).is_err());
        assert!(may_manage_members(&token(&clerk), Some(&clerk), &a).is_err());
        let mut gone = boss.clone();
        gone.status = MemberStatus::Disabled;
        assert!(may_manage_members(&token(&gone), Some(&gone), &a).is_err());
        // A token for the organisation that does not name an administering member.
        assert!(may_manage_members(&token(&boss), None, &a).is_err());
        let admin = Principal::new("ops".into(), Role::Admin, None).unwrap();
        assert!(may_manage_members(&admin, None, &b).is_ok());
    }

    #[test]
    fn nobody_raises_their_own_role_or_leaves_nobody_in_charge() {
        let boss = member("mem_1", Some("org_a"), Role::Commissioner, true);
        let kind = Some(OrganisationKind::LocalAuthority);
        let own_role = MemberChange {
            role: Some(Role::Validator),
            ..MemberChange::default()
        };
        assert!(matches!(
            check_change(&token(&boss), Some(&boss), &boss, kind, &own_role, 1),
            Err(ChangeRefused::Denied(_))
        ));
        let step_down = MemberChange {
            administers: Some(false),
            ..MemberChange::default()
        };
        assert!(matches!(
            check_change(&token(&boss), Some(&boss), &boss, kind, &step_down, 0),
            Err(ChangeRefused::LastAdministrator(_))
        ));
        let after = check_change(&token(&boss), Some(&boss), &boss, kind, &step_down, 1).unwrap();
        assert!(!after.administers);
        let disable = MemberChange {
            status: Some(MemberStatus::Disabled),
            ..MemberChange::default()
        };
        assert!(check_change(&token(&boss), Some(&boss), &boss, kind, &disable, 0).is_err());
        // An admin may change anyone, the last administrator included.
        let admin = Principal::new("ops".into(), Role::Admin, None).unwrap();
        assert!(check_change(&admin, None, &boss, kind, &disable, 0).is_ok());
    }

    #[test]
    fn a_role_must_fit_the_organisation_and_admins_belong_to_none() {
        let boss = member("mem_1", Some("org_a"), Role::Commissioner, true);
        let clerk = member("mem_2", Some("org_a"), Role::Commissioner, false);
        let kind = Some(OrganisationKind::LocalAuthority);
        for role in [Role::Provider, Role::FundManager, Role::Admin] {
            let change = MemberChange {
                role: Some(role),
                ..MemberChange::default()
            };
            assert!(matches!(
                check_change(&token(&boss), Some(&boss), &clerk, kind, &change, 0),
                Err(ChangeRefused::Invalid(_))
            ));
        }
        let invite = |role, administers| NewMember {
            display_name: "Asha".into(),
            email: " Asha@Example.ORG ".into(),
            role,
            administers,
        };
        let plan = validate_member(invite(Role::Validator, true), kind).unwrap();
        assert_eq!(plan.email, "asha@example.org");
        assert!(validate_member(invite(Role::Admin, false), kind).is_err());
        assert!(validate_member(invite(Role::Admin, false), None).is_ok());
        assert!(validate_member(invite(Role::Admin, true), None).is_err());
        assert!(validate_member(invite(Role::Commissioner, false), None).is_err());
    }

    #[test]
    fn a_key_acts_in_its_makers_role_for_its_makers_organisation_for_at_most_a_year() {
        let clerk = member("mem_2", Some("org_a"), Role::Commissioner, false);
        let a = OrganisationId::from("org_a");
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc();
        let kind = OrganisationKind::LocalAuthority;
        let ask = |role, days| NewApiKey {
            name: "finance".into(),
            role,
            expires_in_days: days,
        };
        let plan = check_new_key(Some(&clerk), &a, kind, ask(None, None), now).unwrap();
        assert_eq!(plan.role, Role::Commissioner);
        assert_eq!(plan.expires_at, now + Duration::days(KEY_DEFAULT_DAYS));
        for refused in [
            ask(Some(Role::Validator), None),
            ask(None, Some(367)),
            ask(None, Some(0)),
        ] {
            assert!(matches!(
                check_new_key(Some(&clerk), &a, kind, refused, now),
                Err(ChangeRefused::Invalid(_))
            ));
        }
        let b = OrganisationId::from("org_b");
        assert!(check_new_key(Some(&clerk), &b, kind, ask(None, None), now).is_err());
        assert!(check_new_key(None, &a, kind, ask(None, None), now).is_err());
        let admin = member("mem_0", None, Role::Admin, false);
        let plan = check_new_key(
            Some(&admin),
            &b,
            kind,
            ask(Some(Role::Validator), None),
            now,
        );
        assert_eq!(plan.unwrap().role, Role::Validator);
        assert!(check_new_key(Some(&admin), &b, kind, ask(None, None), now).is_err());
    }
}
