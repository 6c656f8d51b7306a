//! The access rules of [`crate::domain::access`] applied to stored projects: loading a project
//! only for those who may see it, and telling whose money they see on it. Every handler that
//! shows a project, its claims or its money goes through here.

use crate::db::models::{Project, ProjectRecord, SettlementDocument};
use crate::db::queries::{self, projects::ProjectScope};
use crate::db::DbConn;
use crate::domain::access::{
    money_scope, sees_document, sees_project, MemberRole, MoneyScope, Principal, ProjectParties,
};
use crate::domain::ids::{DocumentId, OrganisationId, ProjectId};
use crate::services::stored_terms::{check_currency, CorruptTerms};

/// Why a project could not be given to the caller.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Missing, or not visible to the caller: the two are not told apart.
    #[error("no project with this id that you can see")]
    NotFound(String),
    /// A settlement document that is missing or not the caller's: not told apart either.
    #[error("no document with this id that you can see")]
    NoDocument(String),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    /// A stored label (currency, route, role…) cofund does not know: nothing is shown of the
    /// project rather than a guess.
    #[error(transparent)]
    Corrupt(#[from] CorruptTerms),
}

/// A project the caller may see, with what the access rules need to know about it.
#[derive(Debug, Clone)]
pub struct VisibleProject {
    pub record: ProjectRecord,
    pub fund_owner: Option<OrganisationId>,
}

impl VisibleProject {
    pub fn parties(&self) -> ProjectParties<'_> {
        parties(&self.record, self.fund_owner.as_ref())
    }

    /// Whose money `principal` sees on this project.
    pub fn money(&self, principal: &Principal) -> MoneyScope {
        money_scope(principal, &self.parties())
    }
}

pub fn parties<'a>(
    record: &'a ProjectRecord,
    fund_owner: Option<&'a OrganisationId>,
) -> ProjectParties<'a> {
    ProjectParties {
        provider: &record.project.provider_organisation_id,
        fund_owner,
        validators: &record.validator_organisation_ids,
        payers: record
            .payers
            .iter()
            .map(|p| (&p.payer.organisation_id, p.payer.lead))
            .collect(),
        route: record.project.settlement_route,
    }
}

/// Loads a project the caller may see; [`AccessError::NotFound`] for one it may not, so that
/// its existence is not revealed either.
pub fn load_visible(
    conn: &mut DbConn,
    principal: &Principal,
    id: &ProjectId,
) -> Result<VisibleProject, AccessError> {
    let not_found = || AccessError::NotFound(id.to_string());
    let (record, fund_owner) =
        queries::projects::get_project_and_fund_owner(conn, id)?.ok_or_else(not_found)?;
    let project = VisibleProject { record, fund_owner };
    if !sees_project(principal, &project.parties()) {
        return Err(not_found());
    }
    check_currency(&project.record.project)?;
    Ok(project)
}

/// A project the caller may see, with only what the access rules need: the row, its fund's
/// owner, its payers and its validators (two statements; [`load_visible`] reads the whole
/// registry record in six). For pages that show a project's claims or money but not its terms.
#[derive(Debug, Clone)]
pub struct ProjectAccess {
    pub project: Project,
    pub fund_owner: Option<OrganisationId>,
    /// Payer organisations in the project's order, with their lead flag.
    payers: Vec<(OrganisationId, bool)>,
    validators: Vec<OrganisationId>,
}

impl ProjectAccess {
    pub fn parties(&self) -> ProjectParties<'_> {
        ProjectParties {
            provider: &self.project.provider_organisation_id,
            fund_owner: self.fund_owner.as_ref(),
            validators: &self.validators,
            payers: self.payers.iter().map(|(o, lead)| (o, *lead)).collect(),
            route: self.project.settlement_route,
        }
    }

    /// Whose money `principal` sees on this project.
    pub fn money(&self, principal: &Principal) -> MoneyScope {
        money_scope(principal, &self.parties())
    }
}

/// Loads what the access rules need of a project the caller may see; not found for one it may
/// not, exactly as [`load_visible`] decides. The labels it reads (the project's own, and its
/// payers' roles and commitments) fail the load if one is corrupt, as in [`load_visible`],
/// before the access decision (whoever asks gets the same error, not a 404); the rate card's
/// units, which it does not read, fail wherever the whole record is loaded.
pub fn load_access(
    conn: &mut DbConn,
    principal: &Principal,
    id: &ProjectId,
) -> Result<ProjectAccess, AccessError> {
    let not_found = || AccessError::NotFound(id.to_string());
    let queries::projects::ProjectWithPayers {
        project,
        fund_owner,
        payers,
    } = queries::projects::get_project_parties(conn, id)?.ok_or_else(not_found)?;
    let validators = queries::projects::project_validator_ids(conn, id)?;
    let access = ProjectAccess {
        payers: payers
            .iter()
            .map(|p| (p.organisation_id.clone(), p.lead))
            .collect(),
        project,
        fund_owner,
        validators,
    };
    if !sees_project(principal, &access.parties()) {
        return Err(not_found());
    }
    check_currency(&access.project)?;
    Ok(access)
}

/// Loads a document the caller may see; not found for one it may not, so that its existence
/// is not revealed either.
pub fn load_document(
    conn: &mut DbConn,
    principal: &Principal,
    id: &DocumentId,
) -> Result<SettlementDocument, AccessError> {
    let not_found = || AccessError::NoDocument(id.to_string());
    let document = queries::documents::get_document(conn, id)?.ok_or_else(not_found)?;
    let fund_owner = queries::documents::project_fund_owner(conn, &document.project_id)?;
    let parties = (
        &document.issuer_organisation_id,
        &document.recipient_organisation_id,
    );
    if !sees_document(principal, parties, fund_owner.as_ref()) {
        return Err(not_found());
    }
    Ok(document)
}

/// Which projects a caller may see: [`sees_project`] as a query.
pub fn project_scope(principal: &Principal) -> ProjectScope {
    let Some((role, org)) = principal.member() else {
        return ProjectScope::All;
    };
    let org = org.to_owned();
    match role {
        MemberRole::FundManager => ProjectScope::FundOwner(org),
        MemberRole::Commissioner => ProjectScope::Payer(org),
        MemberRole::Provider => ProjectScope::Provider(org),
        MemberRole::Validator => ProjectScope::Validator(org),
    }
}

/// The member a caller's token names, with what the rules need to know of it: a member's
/// token has its id (`mem_…`) as subject. A key's principal names the key, not a member, and
/// a token with any other subject names nobody.
pub fn acting_member(
    conn: &mut DbConn,
    caller: &Principal,
) -> Result<Option<crate::domain::members::MemberFacts>, diesel::result::Error> {
    if !names_member(caller) {
        return Ok(None);
    }
    Ok(queries::members::get_member(conn, caller.subject())?.map(|m| m.facts()))
}

/// Whether a token's subject names a member (and so is checked against the members).
pub fn names_member(principal: &Principal) -> bool {
    principal.subject().starts_with("mem_")
}
