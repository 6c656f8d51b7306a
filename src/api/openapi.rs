//! The OpenAPI document, generated from the handlers' annotations. The same document is kept
//! in `openapi/openapi.json`; a test fails when the two differ (`cofund openapi` rewrites it).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    audit, claims, commitments, corrections, documents, error, finance, funds, jobs, members,
    organisations, outbox, projects, Page,
};
use crate::domain::{money, registry, FieldError};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "cofund",
        description = "Outcome funds: registry, outcome claims, the exact multi-payer split ledger, settlement and open data. Money is `{\"amount\": \"1234.56\", \"currency\": \"GBP\"}`; errors are `application/problem+json`.",
        license(name = "AGPL-3.0-or-later")
    ),
    components(schemas(
        error::Problem, error::documented::ValidationProblem,
        error::documented::ClaimRejectedProblem, error::documented::BulkRejectedProblem,
        error::documented::ClaimSubmissionProblem, error::documented::BulkSubmissionProblem,
        FieldError, money::MoneyJson,
        crate::domain::claims::ClaimStatus, crate::domain::outbox::OutboxKind, crate::domain::outbox::OutboxStatus,
        crate::domain::settlement::DocumentAction,
        registry::NewOrganisation, registry::NewFund, registry::NewProject, registry::NewPayer,
        registry::NewPhase, registry::NewOutcome, registry::Requirement,
        organisations::OrganisationView, funds::FundView, projects::ProjectView,
        crate::domain::corrections::OrganisationCorrection, crate::domain::corrections::FundCorrection,
        crate::domain::corrections::ProjectCorrection, corrections::ChangeView, corrections::HistoryView,
        commitments::CommitmentsView, commitments::CommitmentEventView,
        crate::domain::commitment::CommitmentStatus, crate::domain::commitment::Agreement,
        Page<organisations::OrganisationView>, Page<funds::FundView>, Page<projects::ProjectView>,
        crate::domain::claims::ClaimInput, crate::domain::claims::Reason,
        claims::ClaimView, claims::AllocationView, crate::domain::claim_reports::BulkReport, claims::BulkVerifyRequest,
        crate::domain::claim_reports::BulkVerifyReport, claims::ReasonRequest, jobs::JobView,
        crate::domain::jobs::JobState,
        Page<claims::ClaimView>, Page<claims::AllocationView>,
        documents::SettlementRequest, documents::SettlementReport, documents::DocumentSummary,
        documents::DocumentView, documents::LineView, documents::PaymentView, documents::EventView,
        documents::PartyView, documents::PaymentRequest, documents::SetOffRequest, documents::VoidRequest, documents::VoidReport,
        crate::domain::settlement::DocumentKind, crate::domain::settlement::DocumentStatus,
        Page<documents::DocumentSummary>,
        finance::Amounts, finance::PayerPositionView, finance::PlanQuarterView, finance::ProjectPositionView,
        finance::WarningView, finance::FundPositionView, crate::domain::position::PlannedQuarter, crate::domain::position::PaymentPlanRequest, finance::PaymentPlanView, finance::PlannedQuarterView,
        finance::StatementLineView, finance::StatementView, crate::domain::position::CapWarning,
        outbox::OutboxMessageView, outbox::OutboxCounts, outbox::OutboxPage,
        crate::services::open_data::release::Manifest, crate::services::open_data::release::FileEntry,
        crate::domain::members::NewMember, crate::domain::members::MemberChange, crate::domain::members::MemberStatus,
        crate::domain::members::NewApiKey, members::MemberView, members::ApiKeyView, members::NewApiKeyView,
        Page<members::MemberView>, Page<members::ApiKeyView>,
        crate::domain::audit::AuditAction, audit::AuditEventView, Page<audit::AuditEventView>,
    )),
    tags(
        (name = "registry", description = "Organisations, funds, projects, payers and rate cards"),
        (name = "claims", description = "Outcome claims, verification and the split ledger"),
        (name = "settlement", description = "Invoices, top-up claims and credit notes built from the ledger, their payments and renderings"),
        (name = "members", description = "The people of each organisation, their roles, and their programs' API keys"),
        (name = "operations", description = "Health and readiness"),
        (name = "open data", description = "The standardised, anonymised dataset: tables, CSV, the data dictionary, INDIGO documents and releases; no authentication"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

/// Examples for the schemas of types the services define: the API's examples are the API's
/// own, and a service type does not name them (it would import upwards).
struct ServiceSchemaExamples;

impl Modify for ServiceSchemaExamples {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{schema::Schema, RefOr};
        let schemas = &mut openapi
            .components
            .get_or_insert_with(Default::default)
            .schemas;
        for (name, example) in [
            ("BulkReport", super::examples::bulk_report()),
            ("BulkVerifyReport", super::examples::bulk_verify_report()),
        ] {
            match schemas.get_mut(name) {
                Some(RefOr::T(Schema::Object(object))) => object.example = Some(example),
                _ => panic!("the OpenAPI document has no object schema {name}"),
            }
        }
    }
}

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

/// Documents the problems an operation can answer with because of what it takes, so that each
/// path lists only what is particular to it: 400 (malformed path, query or body: operations
/// with parameters or a body), 401 and 403 (secured operations), 404 (paths with an id), 413
/// and 415 (operations with a body), 422 with `errors` (secured operations with a body, query
/// or header to validate), 414 (any URL over 2,048 bytes), 500, and 503 (every operation that
/// reads the database).
struct CommonProblems;

impl Modify for CommonProblems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                for (status, description, schema) in common_problems(path, operation) {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| problem_response(description, schema).into());
                }
            }
        }
    }
}

/// (status, description, problem schema) of what `operation` at `path` can fail with.
fn common_problems(
    path: &str,
    operation: &utoipa::openapi::path::Operation,
) -> Vec<(&'static str, &'static str, &'static str)> {
    use utoipa::openapi::path::ParameterIn;
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_body = operation.request_body.is_some();
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let has_input = has_body || !parameters.is_empty();
    let validates = has_body
        || parameters
            .iter()
            .any(|p| matches!(p.parameter_in, ParameterIn::Query | ParameterIn::Header));
    let mut common = Vec::new();
    if has_input {
        common.push((
            "400",
            "Malformed request: bad JSON, path or query",
            "Problem",
        ));
    }
    if secured {
        common.push(("401", "Missing, invalid or expired bearer token", "Problem"));
        common.push((
            "403",
            "The token's role or organisation may not do this",
            "Problem",
        ));
        if validates {
            common.push((
                "422",
                "Invalid fields; `errors` names each",
                "ValidationProblem",
            ));
        }
    }
    if path.contains('{') {
        common.push(("404", "Not found, or not visible to this caller", "Problem"));
    }
    if has_body {
        common.push(("413", "Request body too large", "Problem"));
        common.push(("415", "Unsupported content type", "Problem"));
    }
    common.push((
        "414",
        "The URL is longer than 2,048 bytes (refused before anything is read)",
        "Problem",
    ));
    common.push((
        "500",
        "Internal error (logged with the request id)",
        "Problem",
    ));
    if path != "/healthz" {
        common.push((
            "503",
            "The database is unavailable or busy; retry after `Retry-After`",
            "Problem",
        ));
    }
    common
}

fn problem_response(description: &str, schema: &str) -> utoipa::openapi::Response {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            super::error::PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        )
        .build()
}

/// OpenAPI links from what a create returns to the operations that take its id, so that
/// clients (and schemathesis' stateful tests) can follow a new organisation, fund, project or
/// claim to where it is read and decided. Operations are named by `operationRef`.
struct ResponseLinks;

impl Modify for ResponseLinks {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::link::LinkBuilder;
        use utoipa::openapi::RefOr;
        // (create path, [(link name, target path, target method)])
        type Targets = &'static [(&'static str, &'static str, &'static str)];
        let follow: [(&str, Targets); 4] = [
            (
                "/v1/organisations",
                &[("getOrganisation", "/v1/organisations/{id}", "get")],
            ),
            ("/v1/funds", &[("getFund", "/v1/funds/{id}", "get")]),
            (
                "/v1/projects",
                &[
                    ("getProject", "/v1/projects/{id}", "get"),
                    ("listClaims", "/v1/projects/{id}/claims", "get"),
                    ("submitClaim", "/v1/projects/{id}/claims", "post"),
                    ("listAllocations", "/v1/projects/{id}/allocations", "get"),
                ],
            ),
            (
                "/v1/projects/{id}/claims",
                &[
                    ("getClaim", "/v1/claims/{id}", "get"),
                    ("verifyClaim", "/v1/claims/{id}/verify", "post"),
                    ("rejectClaim", "/v1/claims/{id}/reject", "post"),
                ],
            ),
        ];
        for (create, targets) in follow {
            let Some(RefOr::T(created)) = openapi
                .paths
                .paths
                .get_mut(create)
                .and_then(|item| item.post.as_mut())
                .and_then(|op| op.responses.responses.get_mut("201"))
            else {
                continue;
            };
            for (name, path, method) in targets {
                let pointer = format!("#/paths/{}/{method}", path.replace('/', "~1"));
                let link = LinkBuilder::new()
                    .operation_ref(pointer)
                    .parameter("id", "$response.body#/id")
                    .build();
                created.links.insert((*name).to_owned(), link.into());
            }
        }
    }
}

/// The whole document: the components and tags above, the operations of every route as the
/// routes declare them ([`super::RoutePaths`], [`super::OpenDataPaths`]), then the modifiers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut openapi = ApiDoc::openapi();
    openapi.merge(super::RoutePaths::openapi());
    openapi.merge(super::OpenDataPaths::openapi());
    let modifiers: [&dyn Modify; 4] = [
        &BearerAuth,
        &CommonProblems,
        &ResponseLinks,
        &ServiceSchemaExamples,
    ];
    for modifier in modifiers {
        modifier.modify(&mut openapi);
    }
    openapi
}

/// The document as served at `/openapi.json`. Two things utoipa 5 writes are put right here:
/// a link's `operationRef` comes out as `operation_ref`, which no OpenAPI tool reads; and a
/// page (`Page_ClaimView`) inlines its item type where it should name it (utoipa issue 1586),
/// which gives client generators one anonymous copy of every item type per list.
pub fn document_value() -> serde_json::Value {
    let mut value = serde_json::to_value(openapi()).expect("the OpenAPI document serialises");
    name_page_items(&mut value);
    one_line_summaries(&mut value);
    let responses = value["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter_map(|operation| operation.get_mut("responses"))
        .filter_map(|responses| responses.as_object_mut())
        .flat_map(|responses| responses.values_mut());
    for response in responses {
        let links = response.get_mut("links").and_then(|l| l.as_object_mut());
        for link in links.into_iter().flat_map(|l| l.values_mut()) {
            if let Some(link) = link.as_object_mut() {
                if let Some(target) = link.remove("operation_ref") {
                    link.insert("operationRef".into(), target);
                }
            }
        }
    }
    value
}

/// Each operation's summary is the first sentence of its handler's doc comment, on one line
/// (what generators print beside a method); the comment's further sentences open its
/// description.
fn one_line_summaries(document: &mut serde_json::Value) {
    let operations = document["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let Some(summary) = operation["summary"].as_str() else {
            continue;
        };
        let summary = summary.split_whitespace().collect::<Vec<_>>().join(" ");
        let (first, rest) = match summary.find(". ") {
            Some(end) => (&summary[..=end], summary[end + 2..].to_owned()),
            None => (summary.as_str(), String::new()),
        };
        let first = first.to_owned();
        if !rest.is_empty() {
            let description = operation["description"].as_str().unwrap_or_default();
            operation["description"] = serde_json::json!(format!("{rest}\n\n{description}"));
        }
        operation["summary"] = serde_json::json!(first);
    }
}

/// `Page_X.items` as an array of `#/components/schemas/X`.
fn name_page_items(document: &mut serde_json::Value) {
    let Some(schemas) = document["components"]["schemas"].as_object_mut() else {
        return;
    };
    let pages: Vec<(String, String)> = schemas
        .keys()
        .filter_map(|name| {
            let item = name.strip_prefix("Page_")?;
            Some((name.clone(), item.to_owned()))
        })
        .filter(|(_, item)| schemas.contains_key(item))
        .collect();
    for (page, item) in pages {
        schemas[&page]["properties"]["items"]["items"] =
            serde_json::json!({"$ref": format!("#/components/schemas/{item}")});
    }
}

/// The document as committed: pretty JSON with a final newline.
pub fn document() -> String {
    let mut json =
        serde_json::to_string_pretty(&document_value()).expect("the OpenAPI document serialises");
    json.push('\n');
    json
}
