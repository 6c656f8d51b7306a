//! `/v1/outbox`: what email is queued, sent and failing, for admins. Addresses are not shown
//! (they are personal data): only how many each message has.

use actix_web::web;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Principal, Role};
use super::error::ApiError;
use super::extract::{self, PageQuery};
use super::with_db;
use crate::db::models::OutboxMessage;
use crate::db::{queries, Pool};
use crate::domain::outbox::{OutboxKind, OutboxStatus};

/// One email of the outbox; its addresses are not shown, only how many.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxMessageView {
    /// Also the local part of the message's `Message-ID`.
    pub id: String,
    /// What the email tells of.
    pub kind: OutboxKind,
    /// Whether it is queued, sent or failed.
    pub status: OutboxStatus,
    /// The email's subject line.
    pub subject: String,
    /// How many addresses it is sent to.
    pub recipient_count: usize,
    /// How many times sending it has been tried.
    pub attempts: i32,
    /// When it is next tried (UTC), while it is queued.
    pub next_attempt_at: chrono::DateTime<chrono::Utc>,
    /// Why the last attempt failed, in cofund's words.
    pub last_error: Option<String>,
    /// When it was queued (UTC).
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it was sent (UTC); null unless it is sent.
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// How many emails of the whole outbox are in each status, whatever the filter.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxCounts {
    /// Emails waiting to be sent.
    pub queued: i64,
    /// Emails sent.
    pub sent: i64,
    /// Emails given up on.
    pub failed: i64,
}

/// A page of the outbox, with counts by status.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::outbox_page)]
pub struct OutboxPage {
    /// How many emails are in each status, across the whole outbox.
    pub counts: OutboxCounts,
    /// The emails of this page, oldest first.
    pub items: Vec<OutboxMessageView>,
    /// Pass as `?cursor=` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// Only emails with this status.
    #[param(value_type = Option<OutboxStatus>)]
    pub status: Option<String>,
    pub cursor: Option<String>,
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

fn view(m: OutboxMessage) -> OutboxMessageView {
    OutboxMessageView {
        recipient_count: m.recipients.lines().filter(|l| !l.is_empty()).count(),
        next_attempt_at: m.next_attempt_at.and_utc(),
        created_at: m.created_at.and_utc(),
        sent_at: m.sent_at.map(|t| t.and_utc()),
        id: m.id,
        kind: m.kind,
        status: m.status,
        subject: m.subject,
        attempts: m.attempts,
        last_error: m.last_error,
    }
}

/// The email outbox, newest last, with counts by status.
#[utoipa::path(
    get, path = "/v1/outbox", tag = "operations", operation_id = "listOutbox",
    description = "Admin only; nothing changes. The emails cofund sends (a document issued, a claim rejected, a cap near or reached, a commitment proposed, accepted or declined), oldest first, with counts by status; addresses are personal data and never shown, only how many each message has. Filter by `status`; pass `next_cursor` back as `cursor` for the next page.",
    params(OutboxQuery),
    responses((status = 200, description = "A page of emails, with counts by status", body = OutboxPage)),
    security(("bearer" = []))
)]
pub async fn list(
    pool: web::Data<Pool>,
    principal: Principal,
    query: web::Query<OutboxQuery>,
) -> Result<web::Json<OutboxPage>, ApiError> {
    principal.require(&[Role::Admin])?;
    let query = query.into_inner();
    let limit = PageQuery {
        cursor: None,
        limit: query.limit,
    }
    .limit()?;
    let status = extract::label::<OutboxStatus>("status", query.status.as_deref())?;
    let page = with_db(&pool, move |conn| {
        let counts = queries::outbox::outbox_counts(conn)?;
        let rows = queries::outbox::list_outbox(conn, status, query.cursor.as_deref(), limit)?;
        Ok((counts, rows))
    })
    .await?;
    let (counts, rows) = page;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|m| m.id.clone()))
        .flatten();
    Ok(web::Json(OutboxPage {
        counts: OutboxCounts {
            queued: counts
                .get(OutboxStatus::Queued.as_str())
                .copied()
                .unwrap_or(0),
            sent: counts
                .get(OutboxStatus::Sent.as_str())
                .copied()
                .unwrap_or(0),
            failed: counts
                .get(OutboxStatus::Failed.as_str())
                .copied()
                .unwrap_or(0),
        },
        items: rows.into_iter().map(view).collect(),
        next_cursor,
    }))
}
