//! Corrections to registry records (see `domain::corrections`), each field changed recorded
//! with who changed it and when, in the correction's own transaction.
//!
//! Who may correct what, as who may create it: an organisation, an admin; a fund, an admin or
//! a fund manager of the organisation that owns it; a project, an admin or a fund manager of
//! the organisation that owns its fund.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::backend_specific::{lock_row_for_update, LockableTable};
use crate::db::queries::{self, new_id};
use crate::db::schema::{
    funds, organisation_billing_emails, organisations, projects, registry_changes,
};
use crate::db::{write_tx, DbConn};
use crate::domain::access::{admin_or_own, keeps_record, Principal};
use crate::domain::corrections::{FundCorrection, OrganisationCorrection, ProjectCorrection};
use crate::domain::ids::{FundId, OrganisationId, ProjectId};
use crate::services::access::load_visible;
use crate::services::error::ServiceError;

/// One field of a registry record as corrected.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = registry_changes)]
pub struct RegistryChange {
    pub id: String,
    /// The organisation, fund or project corrected.
    pub subject_id: String,
    pub field: String,
    /// The values before and after; none for billing addresses (personal data).
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    /// The token's subject that made the change.
    pub changed_by: String,
    pub changed_by_organisation_id: Option<OrganisationId>,
    pub changed_at: NaiveDateTime,
}

/// Who corrects, and when.
pub struct Corrector<'a> {
    pub principal: &'a Principal,
    pub at: NaiveDateTime,
}

impl Corrector<'_> {
    fn change(
        &self,
        subject: &str,
        field: &str,
        old: Option<String>,
        new: Option<String>,
    ) -> RegistryChange {
        RegistryChange {
            id: new_id("chg"),
            subject_id: subject.to_owned(),
            field: field.to_owned(),
            old_value: old,
            new_value: new,
            changed_by: self.principal.subject().to_owned(),
            changed_by_organisation_id: self.principal.organisation().cloned(),
            changed_at: self.at,
        }
    }
}

/// Corrects an organisation (admins only). A field given as it already is changes nothing and
/// is not recorded.
fn correct_organisation(
    conn: &mut DbConn,
    by: &Corrector,
    id: &str,
    correction: OrganisationCorrection,
) -> Result<(), ServiceError> {
    if !by.principal.is_admin() {
        return Err(ServiceError::Forbidden(
            "only an admin corrects an organisation".into(),
        ));
    }
    // Two corrections at once apply one after the other, each reading what it changes.
    lock_row_for_update(conn, LockableTable::Organisations, id)?;
    let record = queries::organisations::get_organisation(conn, id)?
        .ok_or_else(|| ServiceError::NotFound("no such organisation".into()))?;
    let org = &record.organisation;
    let mut changes = Vec::new();
    if let Some(name) = correction.name.filter(|n| *n != org.name) {
        diesel::update(organisations::table.find(id))
            .set(organisations::name.eq(&name))
            .execute(conn)?;
        changes.push(by.change(id, "name", Some(org.name.clone()), Some(name)));
    }
    if let Some(identifier) = correction
        .identifier
        .filter(|i| Some(i) != org.identifier.as_ref())
    {
        if queries::organisations::identifier_taken(conn, &identifier)? {
            return Err(ServiceError::Conflict(format!(
                "an organisation with identifier {identifier} is already registered"
            )));
        }
        diesel::update(organisations::table.find(id))
            .set(organisations::identifier.eq(&identifier))
            .execute(conn)?;
        changes.push(by.change(id, "identifier", org.identifier.clone(), Some(identifier)));
    }
    if let Some(emails) = correction
        .billing_emails
        .filter(|e| lowercase_set(e) != lowercase_set(&record.billing_emails))
    {
        let of_org = organisation_billing_emails::organisation_id.eq(id);
        diesel::delete(organisation_billing_emails::table.filter(of_org)).execute(conn)?;
        let rows: Vec<_> = emails
            .iter()
            .map(|email| {
                (
                    organisation_billing_emails::organisation_id.eq(id),
                    organisation_billing_emails::email.eq(email),
                )
            })
            .collect();
        for row in rows {
            diesel::insert_into(organisation_billing_emails::table)
                .values(row)
                .execute(conn)?;
        }
        changes.push(by.change(id, "billing_emails", None, None));
    }
    record_changes(conn, &changes)
}

/// Corrects a fund (an admin, or a fund manager of its owner).
fn correct_fund(
    conn: &mut DbConn,
    by: &Corrector,
    id: &FundId,
    correction: FundCorrection,
) -> Result<(), ServiceError> {
    lock_row_for_update(conn, LockableTable::Funds, id)?;
    let fund = queries::funds::get_fund(conn, id)?
        .ok_or_else(|| ServiceError::NotFound("no such fund".into()))?;
    if !keeps_record(by.principal, Some(&fund.owner_organisation_id)) {
        return Err(ServiceError::Forbidden(
            "only an admin or the fund's own managers correct it".into(),
        ));
    }
    let mut changes = Vec::new();
    if let Some(name) = correction.name.filter(|n| *n != fund.name) {
        diesel::update(funds::table.find(id))
            .set(funds::name.eq(&name))
            .execute(conn)?;
        changes.push(by.change(id, "name", Some(fund.name), Some(name)));
    }
    record_changes(conn, &changes)
}

/// Corrects a project (an admin, or a fund manager of the organisation owning its fund); a
/// project the caller cannot see is not found.
fn correct_project(
    conn: &mut DbConn,
    by: &Corrector,
    id: &ProjectId,
    correction: ProjectCorrection,
) -> Result<(), ServiceError> {
    lock_row_for_update(conn, LockableTable::Projects, id)?;
    let visible = load_visible(conn, by.principal, id)?;
    if !keeps_record(by.principal, visible.fund_owner.as_ref()) {
        return Err(ServiceError::Forbidden(
            "only an admin or the managers of the project's fund correct it".into(),
        ));
    }
    let project = &visible.record.project;
    let mut changes = Vec::new();
    if let Some(name) = correction.name.filter(|n| *n != project.name) {
        diesel::update(projects::table.find(id))
            .set(projects::name.eq(&name))
            .execute(conn)?;
        changes.push(by.change(id, "name", Some(project.name.clone()), Some(name)));
    }
    if let Some(published) = correction.published.filter(|p| *p != project.published) {
        diesel::update(projects::table.find(id))
            .set(projects::published.eq(published))
            .execute(conn)?;
        let text = |b: bool| Some(b.to_string());
        changes.push(by.change(id, "published", text(project.published), text(published)));
    }
    record_changes(conn, &changes)
}

/// Addresses as a set, whatever their order and case.
fn lowercase_set(emails: &[String]) -> std::collections::BTreeSet<String> {
    emails.iter().map(|e| e.to_lowercase()).collect()
}

fn record_changes(conn: &mut DbConn, changes: &[RegistryChange]) -> Result<(), ServiceError> {
    for change in changes {
        diesel::insert_into(registry_changes::table)
            .values(change)
            .execute(conn)?;
    }
    Ok(())
}

/// A correction to one registry record, as its request gave it.
#[derive(Debug, Clone)]
pub enum Correction {
    Organisation(OrganisationCorrection),
    Fund(FundCorrection),
    Project(ProjectCorrection),
}

/// The use case "correct a registry record": `by` corrects record `id`, in its own
/// transaction, and sees the record's corrections as they then stand.
pub fn correct(
    conn: &mut DbConn,
    by: &Corrector,
    id: &str,
    correction: Correction,
) -> Result<Vec<RegistryChange>, ServiceError> {
    write_tx(conn, |conn| {
        let record = match correction {
            Correction::Organisation(c) => {
                correct_organisation(conn, by, id, c)?;
                Record::Organisation(OrganisationId::from(id))
            }
            Correction::Fund(c) => {
                let id = FundId::from(id);
                correct_fund(conn, by, &id, c)?;
                Record::Fund(id)
            }
            Correction::Project(c) => {
                let id = ProjectId::from(id);
                correct_project(conn, by, &id, c)?;
                Record::Project(id)
            }
        };
        history(conn, by.principal, &record)
    })
}

/// A registry record that may be corrected, by id.
#[derive(Debug, Clone)]
pub enum Record {
    Organisation(OrganisationId),
    Fund(FundId),
    Project(ProjectId),
}

/// Every correction of a record, oldest first: for those who may correct it, and for an
/// organisation's own people its own.
pub fn history(
    conn: &mut DbConn,
    principal: &Principal,
    record: &Record,
) -> Result<Vec<RegistryChange>, ServiceError> {
    let forbidden =
        || ServiceError::Forbidden("only those who keep this record see its corrections".into());
    let id = match record {
        Record::Organisation(id) => {
            queries::organisations::get_organisation(conn, id)?
                .ok_or_else(|| ServiceError::NotFound("no such organisation".into()))?;
            if !admin_or_own(principal, id) {
                return Err(forbidden());
            }
            id.as_str()
        }
        Record::Fund(id) => {
            let fund = queries::funds::get_fund(conn, id)?
                .ok_or_else(|| ServiceError::NotFound("no such fund".into()))?;
            if !keeps_record(principal, Some(&fund.owner_organisation_id)) {
                return Err(forbidden());
            }
            id.as_str()
        }
        Record::Project(id) => {
            let visible = load_visible(conn, principal, id)?;
            if !keeps_record(principal, visible.fund_owner.as_ref()) {
                return Err(forbidden());
            }
            id.as_str()
        }
    };
    Ok(registry_changes::table
        .filter(registry_changes::subject_id.eq(id))
        .order((registry_changes::changed_at, registry_changes::id))
        .select(RegistryChange::as_select())
        .load(conn)?)
}
