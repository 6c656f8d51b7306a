//! The OpenAPI document, generated from the handlers' annotations. The same document is kept
//! in `openapi/openapi.json`; a test fails when the two differ (`cofund openapi` rewrites it).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{claims, error, funds, health, organisations, projects, Page};
use crate::domain::{money, registry, FieldError};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "cofund",
        description = "Outcome funds: registry, outcome claims, the exact multi-payer split ledger, settlement and open data. Money is `{\"amount\": \"1234.56\", \"currency\": \"GBP\"}`; errors are `application/problem+json`.",
        license(name = "AGPL-3.0-or-later")
    ),
    paths(
        health::healthz, health::readyz,
        organisations::create, organisations::list, organisations::get,
        funds::create, funds::list, funds::get,
        projects::create, projects::list, projects::get,
        claims::submit_one, claims::submit_bulk, claims::list, claims::get,
        claims::verify_one, claims::verify_many, claims::reject, claims::revoke,
        claims::allocations_list,
    ),
    components(schemas(
        error::Problem, FieldError, money::MoneyJson,
        registry::NewOrganisation, registry::NewFund, registry::NewProject, registry::NewPayer,
        registry::NewPhase, registry::NewOutcome, registry::Requirement,
        organisations::OrganisationView, funds::FundView, projects::ProjectView,
        Page<organisations::OrganisationView>, Page<funds::FundView>, Page<projects::ProjectView>,
        crate::domain::claims::ClaimInput, crate::domain::claims::Reason,
        claims::ClaimView, claims::AllocationView, claims::BulkReport, claims::BulkVerifyRequest,
        claims::BulkVerifyReport, claims::ReasonRequest,
        Page<claims::ClaimView>, Page<claims::AllocationView>,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "registry", description = "Organisations, funds, projects, payers and rate cards"),
        (name = "claims", description = "Outcome claims, verification and the split ledger"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document as committed: pretty JSON with a final newline.
pub fn document() -> String {
    let mut json = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    json.push('\n');
    json
}
