//! Organisations: registered, read, listed, and their billing emails.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::Error as DieselError;

use super::new_id;
use crate::db::models::*;
use crate::db::schema::*;
use crate::db::{DbConn, MultiBackend};
use crate::domain::ids::OrganisationId;
use crate::domain::registry::{OrganisationKind, OrganisationPlan};

/// Stores a validated organisation, registered at `at`.
pub fn insert_organisation(
    conn: &mut DbConn,
    plan: OrganisationPlan,
    at: NaiveDateTime,
) -> Result<OrganisationRecord, DieselError> {
    let organisation = Organisation {
        id: OrganisationId::from(new_id("org")),
        name: plan.name,
        kind: plan.kind,
        identifier: plan.identifier,
        created_at: at,
    };
    diesel::insert_into(organisations::table)
        .values(&organisation)
        .execute(conn)?;
    let areas: Vec<OrganisationAreaCode> = plan
        .area_codes
        .iter()
        .map(|code| OrganisationAreaCode {
            organisation_id: organisation.id.clone(),
            area_code: code.clone(),
        })
        .collect();
    insert_rows!(conn, organisation_area_codes::table, &areas)?;
    let emails: Vec<OrganisationBillingEmail> = plan
        .billing_emails
        .iter()
        .map(|email| OrganisationBillingEmail {
            organisation_id: organisation.id.clone(),
            email: email.clone(),
        })
        .collect();
    insert_rows!(conn, organisation_billing_emails::table, &emails)?;
    Ok(OrganisationRecord {
        organisation,
        area_codes: plan.area_codes,
        billing_emails: plan.billing_emails,
    })
}

/// Adds billing addresses, each `(organisation id, address)`.
pub fn add_billing_emails(
    conn: &mut DbConn,
    addresses: &[(String, String)],
) -> Result<(), DieselError> {
    let rows: Vec<OrganisationBillingEmail> = addresses
        .iter()
        .map(|(organisation_id, email)| OrganisationBillingEmail {
            organisation_id: OrganisationId::from(organisation_id.clone()),
            email: email.clone(),
        })
        .collect();
    insert_rows!(conn, organisation_billing_emails::table, &rows)?;
    Ok(())
}

pub fn identifier_taken(conn: &mut DbConn, identifier: &str) -> Result<bool, DieselError> {
    let n: i64 = organisations::table
        .filter(organisations::identifier.eq(identifier))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

pub fn get_organisation(
    conn: &mut DbConn,
    id: &str,
) -> Result<Option<OrganisationRecord>, DieselError> {
    let found = organisations::table
        .find(id)
        .select(Organisation::as_select())
        .first(conn)
        .optional()?;
    match found {
        None => Ok(None),
        Some(org) => Ok(attach_organisation_details(conn, vec![org])?.pop()),
    }
}

pub fn list_organisations(
    conn: &mut DbConn,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<OrganisationRecord>, DieselError> {
    let mut query = organisations::table
        .select(Organisation::as_select())
        .into_boxed::<MultiBackend>();
    if let Some(after) = after {
        query = query.filter(organisations::id.gt(after.to_owned()));
    }
    let rows = query
        .order(organisations::id.asc())
        .limit(limit)
        .load(conn)?;
    attach_organisation_details(conn, rows)
}

fn attach_organisation_details(
    conn: &mut DbConn,
    rows: Vec<Organisation>,
) -> Result<Vec<OrganisationRecord>, DieselError> {
    let ids: Vec<&str> = rows.iter().map(|o| o.id.as_str()).collect();
    let mut areas: HashMap<String, Vec<String>> = HashMap::new();
    for row in organisation_area_codes::table
        .filter(organisation_area_codes::organisation_id.eq_any(&ids))
        .order(organisation_area_codes::area_code.asc())
        .select(OrganisationAreaCode::as_select())
        .load(conn)?
    {
        areas
            .entry(row.organisation_id.to_string())
            .or_default()
            .push(row.area_code);
    }
    let mut emails: HashMap<String, Vec<String>> = HashMap::new();
    for row in organisation_billing_emails::table
        .filter(organisation_billing_emails::organisation_id.eq_any(&ids))
        .order(organisation_billing_emails::email.asc())
        .select(OrganisationBillingEmail::as_select())
        .load(conn)?
    {
        emails
            .entry(row.organisation_id.to_string())
            .or_default()
            .push(row.email);
    }
    Ok(rows
        .into_iter()
        .map(|organisation| OrganisationRecord {
            area_codes: areas.remove(organisation.id.as_str()).unwrap_or_default(),
            billing_emails: emails.remove(organisation.id.as_str()).unwrap_or_default(),
            organisation,
        })
        .collect())
}

/// Kinds of those of `ids` that exist (a stored kind cofund does not know fails the load).
pub fn organisation_kinds(
    conn: &mut DbConn,
    ids: &[&str],
) -> Result<HashMap<String, OrganisationKind>, DieselError> {
    let rows: Vec<(String, OrganisationKind)> = organisations::table
        .filter(organisations::id.eq_any(ids))
        .select((organisations::id, organisations::kind))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

pub fn count_organisations(conn: &mut DbConn) -> Result<i64, DieselError> {
    organisations::table.count().get_result(conn)
}
