//! `/v1/projects/{id}/commitments` and `/v1/projects/{id}/payers/{payer_id}/accept|decline`:
//! each payer agrees its own commitment before the project's claims are verified.

use crate::domain::ids::{PayerId, ProjectId};
use actix_web::web;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Principal;
use super::claims::ReasonRequest;
use super::error::{ApiError, Problem};
use super::extract::{JsonBody, NoBody};
use super::with_db;
use crate::config::Config;
use crate::db::models::CommitmentEvent;
use crate::db::Pool;
use crate::domain::access::sees_person_of;
use crate::domain::commitment::{agreement, Agreement, CommitmentStatus, Decision};
use crate::services::commitments::{self as service, Acting, ProjectCommitments};

/// One step of a payer's commitment: made, proposed, accepted or declined.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommitmentEventView {
    /// The payer (`pyr_…`) on the project, and its organisation.
    pub payer_id: String,
    pub organisation_id: String,
    /// Where the commitment stood after this step.
    pub status: CommitmentStatus,
    /// The subject of the token that took the step (a person, perhaps: shown only to admins
    /// and to that organisation's own people), and the organisation it acted for (null for an
    /// admin).
    pub decided_by: Option<String>,
    pub decided_by_organisation_id: Option<String>,
    pub decided_at: chrono::DateTime<chrono::Utc>,
    /// Why it was declined; null otherwise.
    pub reason: Option<String>,
    /// What the step was, in words ("recorded by an admin as agreed (a contract signed
    /// elsewhere)", "accepted by the payer", …).
    pub note: String,
}

/// Where a project's commitments stand, with every step, oldest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::commitments)]
pub struct CommitmentsView {
    pub project_id: String,
    /// `agreed` once every payer has accepted (only then are claims verified), `declined` if
    /// any payer has declined, `proposed` otherwise.
    pub agreement: Agreement,
    pub events: Vec<CommitmentEventView>,
}

/// The project's commitments as `viewer` may see them.
fn commitments_view(
    ProjectCommitments { project, events }: ProjectCommitments,
    viewer: &Principal,
) -> Result<CommitmentsView, ApiError> {
    let payers = &project.record.payers;
    let agreement = agreement(payers.iter().map(|p| p.payer.commitment));
    let organisation_of = |payer_id: &str| {
        payers
            .iter()
            .find(|p| p.payer.id == payer_id)
            .map(|p| p.payer.organisation_id.to_string())
            .unwrap_or_default()
    };
    let events = events
        .into_iter()
        .map(|e: CommitmentEvent| {
            let sees_who = sees_person_of(viewer, e.decided_by_organisation_id.as_ref());
            CommitmentEventView {
                organisation_id: organisation_of(&e.payer_id),
                payer_id: String::from(e.payer_id),
                status: e.status,
                decided_by: sees_who.then_some(e.decided_by),
                decided_by_organisation_id: e.decided_by_organisation_id.map(String::from),
                decided_at: e.decided_at.and_utc(),
                reason: e.reason,
                note: e.note,
            }
        })
        .collect();
    Ok(CommitmentsView {
        project_id: String::from(project.record.project.id),
        agreement,
        events,
    })
}

/// Where a project's commitments stand.
#[utoipa::path(
    get, path = "/v1/projects/{id}/commitments", tag = "registry", operation_id = "projectCommitments",
    description = "Anyone who sees the project: its agreement (`agreed`, `proposed` or `declined`) and every step of each payer's commitment, oldest first, with who took it and when (the person only to admins and their own organisation) and why a commitment was declined.",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The project's commitments", body = CommitmentsView),
        (status = 404, description = "No such project, or one the caller cannot see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    pool: web::Data<Pool>,
    principal: Principal,
    id: web::Path<ProjectId>,
) -> Result<web::Json<CommitmentsView>, ApiError> {
    let id = id.into_inner();
    let viewer = principal.clone();
    let commitments = with_db(&pool, move |conn| {
        Ok(service::of_project(conn, &principal, &id)?)
    })
    .await?;
    Ok(web::Json(commitments_view(commitments, &viewer)?))
}

/// Records a decision and answers the project's commitments.
async fn decide(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    (project_id, payer_id): (String, String),
    decision: Decision,
) -> Result<web::Json<CommitmentsView>, ApiError> {
    let at = config.clock.now();
    let viewer = principal.clone();
    let commitments = with_db(&pool, move |conn| {
        let acting = Acting {
            principal: &principal,
            at,
        };
        Ok(service::decide(
            conn,
            &acting,
            &ProjectId::from(project_id),
            &PayerId::from(payer_id),
            &decision,
        )?)
    })
    .await?;
    Ok(web::Json(commitments_view(commitments, &viewer)?))
}

/// Accept a proposed commitment.
#[utoipa::path(
    post, path = "/v1/projects/{id}/payers/{payer_id}/accept", tag = "registry", operation_id = "acceptCommitment",
    description = "The payer's own commissioners (a council, an NHS body) or fund managers (a central fund), or an admin. Accepts the payer's `proposed` commitment: who and when are recorded, and the payer's billing contacts and the fund's owner are emailed. Once every payer has accepted, the project's claims are verified. A commitment already accepted or declined is a 409. No body (a body other than `{}` is a 422, and nothing is done).",
    params(("id" = String, Path), ("payer_id" = String, Path)),
    responses(
        (status = 200, description = "Accepted: the project's commitments", body = CommitmentsView),
        (status = 403, description = "Not the payer's own commissioner or fund manager, nor an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project or payer, or a project the caller cannot see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The commitment is not `proposed`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A body was sent (accepting takes none)", body = crate::api::error::documented::ValidationProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn accept(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    path: web::Path<(String, String)>,
    // A body is a mistake, perhaps a decline's reason sent to the wrong door: nothing is done.
    _no_body: NoBody,
) -> Result<web::Json<CommitmentsView>, ApiError> {
    decide(pool, config, principal, path.into_inner(), Decision::Accept).await
}

/// Decline a proposed commitment, saying why.
#[utoipa::path(
    post, path = "/v1/projects/{id}/payers/{payer_id}/decline", tag = "registry", operation_id = "declineCommitment",
    description = "Those who accept (acceptCommitment). Declines the payer's `proposed` commitment with a reason (1 to 2,000 characters): who, when and why are recorded, and the payer's billing contacts and the fund's owner are emailed. The project's claims are then never verified (a new project, or a later variation, is the way on). A commitment already accepted or declined is a 409.",
    params(("id" = String, Path), ("payer_id" = String, Path)),
    request_body = ReasonRequest,
    responses(
        (status = 200, description = "Declined: the project's commitments", body = CommitmentsView),
        (status = 403, description = "Not the payer's own commissioner or fund manager, nor an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project or payer, or a project the caller cannot see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The commitment is not `proposed`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No reason, or one over 2,000 characters", body = crate::api::error::documented::ValidationProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn decline(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    path: web::Path<(String, String)>,
    body: JsonBody,
) -> Result<web::Json<CommitmentsView>, ApiError> {
    let decision = Decision::Decline(body.parse::<ReasonRequest>()?.validated()?);
    decide(pool, config, principal, path.into_inner(), decision).await
}
