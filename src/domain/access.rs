//! Who sees and decides what: cofund's access rules, stated once. Pure: the caller brings the
//! authenticated [`Principal`] and the [`ProjectParties`] of the project concerned; handlers
//! and services ask these functions and never re-derive a rule.
//!
//! | action | who |
//! | --- | --- |
//! | see a project | admin; a fund manager of the organisation that owns the project's fund or pays into it; a commissioner whose organisation pays into it; its provider; a validator organisation named on it |
//! | see money (payer totals, allocations) on a project one sees | every payer's: admin, the organisation owning the project's fund, the provider (it is owed every line), the named validators (they decide the split) and, under `via_commissioner`, the lead commissioner (it is invoiced for every outcome's whole value); anyone else only its own organisation's lines, whatever its role |
//! | submit claims | a provider token of the project's provider organisation |
//! | decide a claim (verify, reject, revoke) | admin; a validator token of an organisation named as the project's validator; a commissioner token of the project's lead commissioner, unless the claim's split gives the lead nothing and the route is `direct` (a home-area claim of another council). A commissioner that pays nothing of a claim never decides it. The identity that submitted a claim never verifies it. |
//! | build a period's settlement drafts | admin; the project's provider (it issues the invoices); under `via_commissioner`, the lead commissioner (it issues the top-up claims). A payer never rebuilds the drafts addressed to others. |
//! | issue or void a document | its issuer (void: or an admin) |
//! | record a payment | the document's recipient, or an admin |
//! | create organisations | admin |
//! | create funds | admin; a fund manager for its own organisation |
//! | create projects | admin; a fund manager in its own organisation's fund (or, without a fund, paying into it) |
//!
//! A token's role must fit its organisation's kind ([`role_fits`]), checked when the token is
//! accepted.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ids::OrganisationId;
use super::registry::{NewProject, OrganisationKind, ProjectFacts, SettlementRoute};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    clap::ValueEnum,
    diesel::AsExpression,
    diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
#[clap(rename_all = "snake_case")]
pub enum Role {
    Admin,
    FundManager,
    Commissioner,
    Provider,
    Validator,
}

impl Role {
    pub const ALL: &'static [Role] = &[
        Role::Admin,
        Role::FundManager,
        Role::Commissioner,
        Role::Provider,
        Role::Validator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::FundManager => "fund_manager",
            Role::Commissioner => "commissioner",
            Role::Provider => "provider",
            Role::Validator => "validator",
        }
    }

    pub fn from_label(text: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| r.as_str() == text)
    }
}

// A token's role is a label too: a stored job keeps the role it was asked in.
super::label_impls!(Role);

/// Whether an organisation of `kind` may act in `role`: fund managers for central funds,
/// commissioners for public bodies that pay outcomes, providers for delivery organisations,
/// validators for anyone but a provider or an investor (who would check their own money).
pub fn role_fits(role: Role, kind: OrganisationKind) -> bool {
    use OrganisationKind::*;
    match role {
        Role::Admin => true,
        Role::FundManager => kind == CentralFund,
        Role::Commissioner => matches!(kind, LocalAuthority | NhsBody | CentralFund | Other),
        Role::Provider => matches!(kind, Provider | Intermediary | Other),
        Role::Validator => !matches!(kind, Provider | Investor),
    }
}

/// Refusal of an action, with the reason the caller is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

/// The role of a member of an organisation: every role but admin, who acts for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberRole {
    FundManager,
    Commissioner,
    Provider,
    Validator,
}

impl From<MemberRole> for Role {
    fn from(role: MemberRole) -> Role {
        match role {
            MemberRole::FundManager => Role::FundManager,
            MemberRole::Commissioner => Role::Commissioner,
            MemberRole::Provider => Role::Provider,
            MemberRole::Validator => Role::Validator,
        }
    }
}

/// Who is calling: an admin, who runs the installation and acts for no organisation, or a
/// member acting in one role for one organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Admin {
        subject: String,
    },
    Member {
        subject: String,
        role: MemberRole,
        organisation_id: OrganisationId,
    },
}

impl Principal {
    /// The principal a token or a stored job names: an admin names no organisation, and
    /// everyone else names one.
    pub fn new(
        subject: String,
        role: Role,
        organisation_id: Option<OrganisationId>,
    ) -> Result<Principal, String> {
        let role = match role {
            Role::Admin if organisation_id.is_some() => {
                return Err("an admin token names no organisation: admins act for none".into())
            }
            Role::Admin => return Ok(Principal::Admin { subject }),
            Role::FundManager => MemberRole::FundManager,
            Role::Commissioner => MemberRole::Commissioner,
            Role::Provider => MemberRole::Provider,
            Role::Validator => MemberRole::Validator,
        };
        match organisation_id {
            Some(organisation_id) => Ok(Principal::Member {
                subject,
                role,
                organisation_id,
            }),
            None => Err(format!(
                "a {} token must name its organisation in the 'org' claim",
                Role::from(role).as_str()
            )),
        }
    }

    /// The identity that acts (a token's subject).
    pub fn subject(&self) -> &str {
        match self {
            Principal::Admin { subject } | Principal::Member { subject, .. } => subject,
        }
    }

    pub fn role(&self) -> Role {
        match self {
            Principal::Admin { .. } => Role::Admin,
            Principal::Member { role, .. } => Role::from(*role),
        }
    }

    /// The organisation a member acts for; `None` for an admin.
    pub fn organisation(&self) -> Option<&OrganisationId> {
        self.member().map(|(_, organisation_id)| organisation_id)
    }

    /// A member's role and organisation; `None` for an admin.
    pub fn member(&self) -> Option<(MemberRole, &OrganisationId)> {
        match self {
            Principal::Admin { .. } => None,
            Principal::Member {
                role,
                organisation_id,
                ..
            } => Some((*role, organisation_id)),
        }
    }

    /// Refuses the request unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), Denied> {
        if roles.contains(&self.role()) {
            Ok(())
        } else {
            let allowed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(Denied(format!(
                "a {} token may not do this (allowed: {})",
                self.role().as_str(),
                allowed.join(", ")
            )))
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::Admin { .. })
    }

    /// True when the caller is a member acting for `organisation_id`.
    pub fn acts_for(&self, organisation_id: &OrganisationId) -> bool {
        self.organisation() == Some(organisation_id)
    }

    /// The scope of idempotency keys: the organisation (so that a colleague's retry of the
    /// same request is recognised), or the admin's own subject.
    pub fn idempotency_scope(&self) -> String {
        match self {
            Principal::Member {
                organisation_id, ..
            } => format!("org:{organisation_id}"),
            Principal::Admin { subject } => format!("admin:{subject}"),
        }
    }
}

/// The parties of one project, as the access rules see them.
#[derive(Debug, Clone)]
pub struct ProjectParties<'a> {
    pub provider: &'a OrganisationId,
    /// The organisation owning the project's fund, if it has one.
    pub fund_owner: Option<&'a OrganisationId>,
    pub validators: &'a [OrganisationId],
    /// Payer organisations in the project's order, with their lead flag.
    pub payers: Vec<(&'a OrganisationId, bool)>,
    pub route: SettlementRoute,
}

impl ProjectParties<'_> {
    fn pays(&self, org: &OrganisationId) -> bool {
        self.payers.iter().any(|(o, _)| *o == org)
    }

    fn validates(&self, org: &OrganisationId) -> bool {
        self.validators.iter().any(|v| v == org)
    }
}

/// True when `principal` may see the project at all. A project one may not see is answered
/// 404, so that its existence is not revealed either.
pub fn sees_project(principal: &Principal, project: &ProjectParties) -> bool {
    let Some((role, org)) = principal.member() else {
        return true;
    };
    match role {
        MemberRole::FundManager => project.pays(org) || project.fund_owner == Some(org),
        MemberRole::Commissioner => project.pays(org),
        MemberRole::Provider => project.provider == org,
        MemberRole::Validator => project.validates(org),
    }
}

/// Whose money a caller sees on a project it can see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyScope {
    /// Every payer's lines and totals.
    Every,
    /// Only the lines and totals of this payer organisation.
    OnlyOf(OrganisationId),
}

impl MoneyScope {
    pub fn sees(&self, payer_organisation_id: &OrganisationId) -> bool {
        match self {
            MoneyScope::Every => true,
            MoneyScope::OnlyOf(org) => org == payer_organisation_id,
        }
    }

    /// The organisation to filter by, or `None` for every payer.
    pub fn only(&self) -> Option<&OrganisationId> {
        match self {
            MoneyScope::Every => None,
            MoneyScope::OnlyOf(org) => Some(org),
        }
    }
}

pub fn money_scope(principal: &Principal, project: &ProjectParties) -> MoneyScope {
    let Some((role, org)) = principal.member() else {
        return MoneyScope::Every;
    };
    // Under `via_commissioner` the lead is invoiced for every outcome's whole value and claims
    // each central fund's share back: every line is its business.
    let fronts = role == MemberRole::Commissioner
        && project.route == SettlementRoute::ViaCommissioner
        && project.payers.iter().any(|(o, lead)| *lead && *o == org);
    let sees_every = project.fund_owner == Some(org)
        || role == MemberRole::Provider && project.provider == org
        || role == MemberRole::Validator && project.validates(org)
        || fronts;
    if sees_every {
        MoneyScope::Every
    } else {
        MoneyScope::OnlyOf(org.clone())
    }
}

pub fn may_submit(principal: &Principal, project: &ProjectParties) -> Result<(), Denied> {
    principal.require(&[Role::Provider])?;
    if principal.acts_for(project.provider) {
        Ok(())
    } else {
        Err(Denied(
            "only the project's provider may submit its claims".into(),
        ))
    }
}

/// Whether `principal` may build the project's settlement drafts: those who issue them.
pub fn may_build_settlements(
    principal: &Principal,
    project: &ProjectParties,
) -> Result<(), Denied> {
    let issues = match principal.member() {
        None => true,
        Some((MemberRole::Provider, org)) => project.provider == org,
        Some((MemberRole::Commissioner, org)) => {
            project.route == SettlementRoute::ViaCommissioner
                && project.payers.iter().any(|(o, lead)| *lead && *o == org)
        }
        Some((MemberRole::FundManager | MemberRole::Validator, _)) => false,
    };
    if issues {
        Ok(())
    } else {
        Err(Denied(
            "only the project's provider, under via_commissioner its lead commissioner, or an admin builds its settlement documents"
                .into(),
        ))
    }
}

/// In what capacity a caller decides a project's claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decider {
    Admin,
    Validator,
    /// The lead commissioner, the payer at `payer_position`; under `via_commissioner` it
    /// fronts every claim, so it decides every claim.
    Lead {
        payer_position: usize,
        fronts_every_claim: bool,
    },
}

/// Whether `viewer` sees which person (a token's subject, which may name someone) acted for
/// `organisation` (none for an admin): admins do, and that organisation's own people.
pub fn sees_person_of(viewer: &Principal, organisation: Option<&OrganisationId>) -> bool {
    viewer.is_admin() || organisation.is_some_and(|org| viewer.acts_for(org))
}

/// Whether `viewer` is an admin or acts for the organisation: those who see its contacts (its
/// billing emails, personal data) and the corrections of its record.
pub fn admin_or_own(viewer: &Principal, organisation_id: &OrganisationId) -> bool {
    viewer.is_admin() || viewer.acts_for(organisation_id)
}

/// Whether `principal` keeps (may correct, and sees the corrections of) a fund or project
/// whose fund is owned by `owner`: an admin, or a fund manager acting for the owner.
pub fn keeps_record(principal: &Principal, owner: Option<&OrganisationId>) -> bool {
    match principal.member() {
        None => true,
        Some((role, org)) => role == MemberRole::FundManager && owner == Some(org),
    }
}

/// Whether `principal` sees a settlement document of `issuer` to `recipient` on a project
/// whose fund `fund_owner` owns: admins, the two parties, and the fund's owner. Nobody else,
/// whatever else they see of the project: a commissioner never sees another payer's invoice.
pub fn sees_document(
    principal: &Principal,
    (issuer, recipient): (&OrganisationId, &OrganisationId),
    fund_owner: Option<&OrganisationId>,
) -> bool {
    match principal.organisation() {
        None => true,
        Some(org) => issuer == org || recipient == org || fund_owner == Some(org),
    }
}

/// Who may move a settlement document on, by the move: issue it (its issuer alone), record a
/// payment (its recipient, or an admin), void it or record a refund (its issuer, or an
/// admin), set a credit note off (either party, or an admin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentParty {
    Issuer,
    IssuerOrAdmin,
    RecipientOrAdmin,
    EitherOrAdmin,
}

impl DocumentParty {
    /// Refuses `principal` unless it is this party to a document of `issuer` to `recipient`.
    pub fn check(
        self,
        principal: &Principal,
        (issuer, recipient): (&OrganisationId, &OrganisationId),
    ) -> Result<(), Denied> {
        let admin = principal.is_admin();
        let (allowed, who) = match self {
            DocumentParty::Issuer => (principal.acts_for(issuer), "its issuer"),
            DocumentParty::IssuerOrAdmin => (
                admin || principal.acts_for(issuer),
                "its issuer or an admin",
            ),
            DocumentParty::RecipientOrAdmin => (
                admin || principal.acts_for(recipient),
                "its recipient or an admin",
            ),
            DocumentParty::EitherOrAdmin => (
                admin || principal.acts_for(issuer) || principal.acts_for(recipient),
                "its issuer, its recipient or an admin",
            ),
        };
        if allowed {
            Ok(())
        } else {
            Err(Denied(format!("only {who} may do this to the document")))
        }
    }
}

/// Who may create a fund owned by `owner_organisation_id`, among those whose role may create
/// funds at all (admins and fund managers): a fund manager only for its own organisation.
pub fn may_create_fund(
    principal: &Principal,
    owner_organisation_id: &OrganisationId,
) -> Result<(), Denied> {
    if principal.role() == Role::FundManager && !principal.acts_for(owner_organisation_id) {
        return Err(Denied(
            "a fund manager may create funds only for its own organisation".into(),
        ));
    }
    Ok(())
}

/// Who may create `input`, among those whose role may create projects at all (admins and fund
/// managers): a fund manager commits only its own organisation's money. A project in a fund
/// must be in a fund its organisation owns (a fund that does not exist is left to validation
/// to report); a project without one must have its organisation among the payers; and every
/// fund a payer tops up from must be its organisation's too.
pub fn may_create_project(
    principal: &Principal,
    input: &NewProject,
    facts: &ProjectFacts,
) -> Result<(), Denied> {
    let Some((MemberRole::FundManager, org)) = principal.member() else {
        return Ok(());
    };
    let allowed = match (&input.fund_id, &facts.fund) {
        (Some(_), Some(fund)) => fund.owner_organisation_id == *org,
        (Some(_), None) => true,
        (None, _) => input.payers.iter().any(|p| *org == p.organisation_id),
    };
    let others_fund = input
        .fund_id
        .iter()
        .chain(input.payers.iter().filter_map(|p| p.fund_id.as_ref()))
        .filter_map(|id| facts.funds.get(id))
        .any(|fund| fund.owner_organisation_id != *org);
    if !allowed || others_fund {
        return Err(Denied(
            "a fund manager may commit only its own organisation's funds".into(),
        ));
    }
    Ok(())
}

/// Who accepts or declines a payer's commitment: an admin, or the payer's own people who
/// commit its money (its commissioners; a central fund's fund managers).
pub fn may_decide_commitment(
    principal: &Principal,
    payer_organisation_id: &OrganisationId,
) -> bool {
    match principal.member() {
        None => true,
        Some((role, org)) => {
            matches!(role, MemberRole::Commissioner | MemberRole::FundManager)
                && org == payer_organisation_id
        }
    }
}

/// The roles that may decide claims at all (verify, reject, revoke); [`decider`] says which
/// of them may on a given project.
pub const CLAIM_DECIDERS: &[Role] = &[Role::Validator, Role::Commissioner, Role::Admin];

/// The capacity in which `principal` may decide the project's claims, if any.
pub fn decider(principal: &Principal, project: &ProjectParties) -> Result<Decider, Denied> {
    let Some((role, org)) = principal.member() else {
        return Ok(Decider::Admin);
    };
    let lead = project
        .payers
        .iter()
        .position(|(o, lead)| *lead && *o == org);
    match (role, lead) {
        (MemberRole::Validator, _) if project.validates(org) => Ok(Decider::Validator),
        (MemberRole::Commissioner, Some(position)) => Ok(Decider::Lead {
            payer_position: position,
            fronts_every_claim: project.route == SettlementRoute::ViaCommissioner,
        }),
        _ => Err(Denied(
            "only the project's validators, its lead commissioner or an admin may decide its claims"
                .into(),
        )),
    }
}

impl Decider {
    /// Whether this decider may decide a claim whose split gives each payer (in project
    /// order) the weight in `weights`: a lead commissioner that pays nothing of it may not,
    /// unless it fronts every claim.
    pub fn may_decide(&self, weights: &[i128]) -> bool {
        match *self {
            Decider::Admin | Decider::Validator => true,
            Decider::Lead {
                payer_position,
                fronts_every_claim,
            } => fronts_every_claim || weights.get(payer_position).is_some_and(|w| *w > 0),
        }
    }
}

pub fn not_yours_to_decide() -> &'static str {
    "this claim is charged entirely to other payers: its lead commissioner pays nothing of it, \
     so only the project's validators or an admin may decide it"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commitment_is_decided_by_the_payer_s_own_people_who_commit_money_or_an_admin() {
        let council = id("org_council");
        assert!(may_decide_commitment(&who(Role::Admin, ""), council));
        assert!(may_decide_commitment(
            &who(Role::Commissioner, council),
            council
        ));
        assert!(may_decide_commitment(
            &who(Role::FundManager, council),
            council
        ));
        assert!(!may_decide_commitment(
            &who(Role::Commissioner, "org_other"),
            council
        ));
        assert!(!may_decide_commitment(
            &who(Role::FundManager, "org_fund"),
            council
        ));
        for role in [Role::Provider, Role::Validator] {
            assert!(!may_decide_commitment(&who(role, council), council));
        }
    }

    fn who(role: Role, org: &str) -> Principal {
        Principal::new(
            "someone".into(),
            role,
            (role != Role::Admin).then(|| OrganisationId::from(org)),
        )
        .unwrap()
    }

    /// An organisation id that lives as long as the test (parties borrow theirs).
    fn id(text: &str) -> &'static OrganisationId {
        Box::leak(Box::new(OrganisationId::from(text)))
    }

    fn skill_mill(validators: &[OrganisationId]) -> ProjectParties<'_> {
        ProjectParties {
            provider: id("prov"),
            fund_owner: Some(id("dcms")),
            validators,
            payers: vec![
                (id("dcms"), false),
                (id("durham"), true),
                (id("newcastle"), false),
            ],
            route: SettlementRoute::Direct,
        }
    }

    #[test]
    fn a_payer_that_does_not_own_the_fund_sees_only_its_own_money_whatever_its_role() {
        let validators = vec![OrganisationId::from("val")];
        let p = skill_mill(&validators);
        // A fund manager of an organisation that only pays into the project.
        let mut payer_only = p.clone();
        payer_only.fund_owner = Some(id("someone-else"));
        assert_eq!(
            money_scope(&who(Role::FundManager, "dcms"), &payer_only),
            MoneyScope::OnlyOf(OrganisationId::from("dcms"))
        );
        assert_eq!(
            money_scope(&who(Role::FundManager, "dcms"), &p),
            MoneyScope::Every
        );
        assert_eq!(
            money_scope(&who(Role::Commissioner, "newcastle"), &p),
            MoneyScope::OnlyOf(OrganisationId::from("newcastle"))
        );
        assert_eq!(
            money_scope(&who(Role::Provider, "prov"), &p),
            MoneyScope::Every
        );
        assert_eq!(
            money_scope(&who(Role::Validator, "val"), &p),
            MoneyScope::Every
        );
        assert_eq!(money_scope(&who(Role::Admin, ""), &p), MoneyScope::Every);
    }

    #[test]
    fn only_validators_the_lead_and_admin_decide_and_the_lead_only_what_it_pays() {
        let validators = vec![OrganisationId::from("val")];
        let p = skill_mill(&validators);
        assert!(decider(&who(Role::Commissioner, "newcastle"), &p).is_err());
        assert!(decider(&who(Role::Validator, "other"), &p).is_err());
        assert!(decider(&who(Role::FundManager, "dcms"), &p).is_err());
        assert_eq!(
            decider(&who(Role::Validator, "val"), &p),
            Ok(Decider::Validator)
        );
        let lead = decider(&who(Role::Commissioner, "durham"), &p).unwrap();
        // A Newcastle home-area claim: Durham's weight is pooled onto Newcastle.
        assert!(!lead.may_decide(&[30, 0, 70]));
        assert!(lead.may_decide(&[30, 70, 0]));
        let mut via = p.clone();
        via.route = SettlementRoute::ViaCommissioner;
        let lead = decider(&who(Role::Commissioner, "durham"), &via).unwrap();
        assert!(lead.may_decide(&[30, 0, 70]));
        // Fronting every claim, it sees every line; under `direct` only its own.
        assert_eq!(
            money_scope(&who(Role::Commissioner, "durham"), &via),
            MoneyScope::Every
        );
        assert_eq!(
            money_scope(&who(Role::Commissioner, "durham"), &p),
            MoneyScope::OnlyOf(OrganisationId::from("durham"))
        );
    }

    #[test]
    fn an_admin_acts_for_no_organisation_and_every_member_for_one() {
        let admin = Principal::new("a".into(), Role::Admin, None).unwrap();
        assert!(admin.is_admin());
        assert_eq!(admin.organisation(), None);
        assert_eq!(admin.idempotency_scope(), "admin:a");
        assert!(Principal::new("a".into(), Role::Admin, Some("org_x".into())).is_err());
        assert!(Principal::new("p".into(), Role::Provider, None).is_err());
        let provider = Principal::new("p".into(), Role::Provider, Some("org_x".into())).unwrap();
        assert_eq!(provider.member(), Some((MemberRole::Provider, id("org_x"))));
        assert_eq!(provider.role(), Role::Provider);
        assert!(provider.acts_for(id("org_x")) && !provider.acts_for(id("")));
        assert_eq!(provider.idempotency_scope(), "org:org_x");
        // An admin sees every document, and nobody matches an empty party by acting for none.
        assert!(sees_document(&admin, (id(""), id("")), None));
        assert!(!sees_document(&provider, (id(""), id("")), Some(id(""))));
    }

    #[test]
    fn roles_fit_organisation_kinds() {
        assert!(!role_fits(Role::Provider, OrganisationKind::LocalAuthority));
        assert!(role_fits(Role::Provider, OrganisationKind::Provider));
        assert!(!role_fits(
            Role::FundManager,
            OrganisationKind::LocalAuthority
        ));
        assert!(!role_fits(Role::Validator, OrganisationKind::Provider));
        assert!(role_fits(Role::Commissioner, OrganisationKind::NhsBody));
        assert!(!role_fits(Role::Commissioner, OrganisationKind::Provider));
    }
}
