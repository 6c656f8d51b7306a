//! `/v1/jobs/{id}`: long bulk work (a large file of claims, a large verification) answered
//! `202 Accepted` and run by a worker; the job says where it stands, how many rows are done
//! and left, and at the end the report the request would have answered, or its problem.

use crate::domain::ids::JobId;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Principal;
use super::error::{ApiError, Problem};
use super::with_db;
use crate::db::models::Job;
use crate::db::Pool;
use crate::domain::jobs::JobState;
use crate::services::error::ServiceError;
use crate::services::jobs::{self as service, RunningJobs};

/// A long bulk request and where it stands.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::job_view)]
pub struct JobView {
    /// Its id, `job_…`; its URL is `/v1/jobs/{id}`.
    pub id: String,
    /// What it does: `submit_claims` (a bulk file) or `verify_claims`.
    pub kind: String,
    /// The project (`prj_…`) it works on.
    pub project_id: String,
    pub state: JobState,
    /// Rows (or claims) it works on, those done so far, and those left.
    pub rows_total: i64,
    pub rows_done: i64,
    pub rows_left: i64,
    /// How many times a worker has started it (again after its process stopped).
    pub attempts: i32,
    /// When it was asked for, started, and finished (UTC).
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Once `succeeded`: the report the request would have answered (submitClaimsBulk's or
    /// verifyClaims').
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// Once `failed`: the problem the request would have answered; nothing of it was applied.
    #[schema(value_type = Option<Object>)]
    pub problem: Option<serde_json::Value>,
}

impl JobView {
    pub fn of(job: Job, running: &RunningJobs) -> JobView {
        let state = job.state;
        let rows_done = running
            .rows_done(&job.id)
            .map_or(job.rows_done, |done| done as i64)
            .min(job.rows_total);
        let stored = job
            .result
            .as_deref()
            .and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok());
        let (result, problem) = match state {
            JobState::Succeeded => (stored, None),
            JobState::Failed => (None, stored),
            _ => (None, None),
        };
        JobView {
            rows_left: job.rows_total - rows_done,
            rows_done,
            id: String::from(job.id),
            kind: job.kind,
            project_id: String::from(job.project_id),
            state,
            rows_total: job.rows_total,
            attempts: job.attempts,
            created_at: job.created_at.and_utc(),
            started_at: job.started_at.map(|t| t.and_utc()),
            finished_at: job.finished_at.map(|t| t.and_utc()),
            result,
            problem,
        }
    }

    /// `202 Accepted`, with the job's URL in `Location` (and, as RFC 7240 asks, that the
    /// answer is asynchronous).
    pub fn accepted(self) -> HttpResponse {
        HttpResponse::Accepted()
            .insert_header((header::LOCATION, format!("/v1/jobs/{}", self.id)))
            .insert_header(("Preference-Applied", "respond-async"))
            .json(self)
    }

    /// [`JobView::accepted`] from a stored answer (the first one's, for a retry).
    pub fn accepted_body(body: String) -> HttpResponse {
        let id = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_owned))
            .unwrap_or_default();
        HttpResponse::Accepted()
            .insert_header((header::LOCATION, format!("/v1/jobs/{id}")))
            .insert_header(("Preference-Applied", "respond-async"))
            .content_type("application/json")
            .body(body)
    }
}

/// A refusal as the request would have answered it: the job's `problem`.
pub fn problem_json(error: ServiceError) -> serde_json::Value {
    let error = ApiError::from(error);
    if let ApiError::Internal(message) = &error {
        tracing::error!(error = %message, "a job failed");
    }
    serde_json::to_value(error.problem()).unwrap_or_default()
}

/// Where a long bulk request stands.
#[utoipa::path(
    get, path = "/v1/jobs/{id}", tag = "claims", operation_id = "getJob",
    description = "The organisation that asked for the job (or an admin); anyone else is told there is none. Where the job stands (`queued`, `running`, `succeeded`, `failed`), rows done and left, and once it has ended the report the request would have answered (`result`), or the problem that refused it (`problem`: nothing of the job was applied). Poll it; a job whose process stopped is taken again from the start by another (at most three times).",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 404, description = "No job with this id that the caller may see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    pool: web::Data<Pool>,
    running: web::Data<RunningJobs>,
    principal: Principal,
    id: web::Path<JobId>,
) -> Result<web::Json<JobView>, ApiError> {
    let id = id.into_inner();
    let job = with_db(&pool, move |conn| Ok(service::get(conn, &principal, &id)?)).await?;
    Ok(web::Json(JobView::of(job, &running)))
}
