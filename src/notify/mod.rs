//! Email to the people who must act: a transactional outbox and its delivery worker.
//!
//! A notification is queued in the transaction of the event it tells of (a document issued, a
//! claim rejected, a payer crossing 80 % or 100 % of its cap), so that it exists exactly when
//! the event does; [`worker`] delivers it over SMTP with retries and exponential back-off.
//! Addresses are the organisations' `billing_emails`: personal data, never logged, never
//! published. An organisation with no address is simply not written to.

pub mod worker;

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::models::OutboxMessage;
use crate::db::queries::new_id;
use crate::db::schema::{organisation_billing_emails, organisations, outbox};
use crate::db::DbConn;

/// Where and how mail is sent.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `None`: messages stay queued (and the log says so).
    pub relay: Option<SmtpRelay>,
    /// The `From` address (`COFUND_MAIL_FROM`), required with a relay.
    pub from: Option<String>,
    /// How often the worker looks for due messages.
    pub poll: Duration,
    /// The first retry's delay; each further one doubles it, up to [`MAX_RETRY_DELAY`].
    pub retry_base: Duration,
    /// Attempts before a message is marked `failed` (still listed, never retried).
    pub max_attempts: i32,
}

/// The longest wait between two attempts at one message.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

impl Default for MailSettings {
    fn default() -> MailSettings {
        MailSettings {
            relay: None,
            from: None,
            poll: Duration::from_secs(2),
            retry_base: Duration::from_secs(30),
            max_attempts: 12,
        }
    }
}

/// An SMTP relay from `COFUND_SMTP_URL`: `smtp://[user:password@]host[:port]`. Plain SMTP to a
/// relay cofund trusts (a local MTA or an internal relay); TLS is the relay's business.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpRelay {
    pub host: String,
    pub port: u16,
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for SmtpRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "smtp://{}:{}", self.host, self.port)
    }
}

impl SmtpRelay {
    pub fn parse(url: &str) -> Result<SmtpRelay, String> {
        let rest = url.strip_prefix("smtp://").ok_or_else(|| {
            "COFUND_SMTP_URL must be smtp://[user:password@]host[:port] (TLS to the relay is not built in: use a local relay)".to_owned()
        })?;
        let rest = rest.trim_end_matches('/');
        let (credentials, address) = match rest.rsplit_once('@') {
            Some((userinfo, address)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let decode = |s: &str| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8_lossy()
                        .into_owned()
                };
                (Some((decode(user), decode(password))), address)
            }
            None => (None, rest),
        };
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse()
                    .map_err(|_| "COFUND_SMTP_URL has a port that is not a number".to_owned())?,
            ),
            None => (address, 25),
        };
        if host.is_empty() {
            return Err("COFUND_SMTP_URL names no host".into());
        }
        Ok(SmtpRelay {
            host: host.to_owned(),
            port,
            credentials,
        })
    }
}

/// What a notification tells of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    DocumentIssued,
    ClaimRejected,
    CapNear,
    CapReached,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::DocumentIssued => "document_issued",
            NotificationKind::ClaimRejected => "claim_rejected",
            NotificationKind::CapNear => "cap_near",
            NotificationKind::CapReached => "cap_reached",
        }
    }
}

/// A message to queue.
#[derive(Debug, Clone)]
pub struct Notification {
    pub kind: NotificationKind,
    pub subject: String,
    pub body: String,
}

/// The billing addresses of `organisations`, each once, in order.
pub fn addresses_of(conn: &mut DbConn, organisations_: &[&str]) -> QueryResult<Vec<String>> {
    let mut emails: Vec<String> = organisation_billing_emails::table
        .filter(organisation_billing_emails::organisation_id.eq_any(organisations_))
        .select(organisation_billing_emails::email)
        .load(conn)?;
    emails.sort_unstable();
    emails.dedup();
    Ok(emails)
}

/// An organisation's name, for a message's text.
pub fn name_of(conn: &mut DbConn, organisation_id: &str) -> QueryResult<String> {
    organisations::table
        .find(organisation_id)
        .select(organisations::name)
        .first(conn)
}

/// Queues `notification` for the billing addresses of `to`, in the caller's transaction.
/// Nothing is queued when none of them has an address. Returns whether it was queued.
pub fn enqueue(
    conn: &mut DbConn,
    to: &[&str],
    notification: Notification,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let recipients = addresses_of(conn, to)?;
    if recipients.is_empty() {
        tracing::debug!(
            kind = notification.kind.as_str(),
            "no billing address to notify"
        );
        return Ok(false);
    }
    diesel::insert_into(outbox::table)
        .values(OutboxMessage {
            id: new_id("msg"),
            kind: notification.kind.as_str().to_owned(),
            recipients: recipients.join("\n"),
            subject: notification.subject,
            body: notification.body,
            status: QUEUED.to_owned(),
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            sent_at: None,
        })
        .execute(conn)?;
    Ok(true)
}

pub const QUEUED: &str = "queued";
pub const SENT: &str = "sent";
pub const FAILED: &str = "failed";

/// The delay before attempt `attempts + 1`, after `attempts` failures: `base × 2^(attempts−1)`,
/// at most [`MAX_RETRY_DELAY`].
pub fn retry_delay(base: Duration, attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    base.saturating_mul(1 << doublings).min(MAX_RETRY_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relays_are_read_from_smtp_urls() {
        let relay = SmtpRelay::parse("smtp://127.0.0.1:2525").unwrap();
        assert_eq!(
            (relay.host.as_str(), relay.port, relay.credentials.clone()),
            ("127.0.0.1", 2525, None)
        );
        let relay = SmtpRelay::parse("smtp://mailer:p%40ss@relay.internal").unwrap();
        assert_eq!(relay.port, 25);
        assert_eq!(relay.credentials, Some(("mailer".into(), "p@ss".into())));
        assert!(
            !format!("{relay:?}").contains("p@ss"),
            "a relay's password is never printed"
        );
        for bad in [
            "smtps://relay",
            "http://relay",
            "smtp://",
            "smtp://relay:port",
        ] {
            assert!(SmtpRelay::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        let base = Duration::from_secs(30);
        assert_eq!(retry_delay(base, 1), Duration::from_secs(30));
        assert_eq!(retry_delay(base, 2), Duration::from_secs(60));
        assert_eq!(retry_delay(base, 4), Duration::from_secs(240));
        assert_eq!(retry_delay(base, 40), MAX_RETRY_DELAY);
    }
}

/// The texts of the notifications, from plain facts.
pub mod messages {
    use super::{Notification, NotificationKind};
    use crate::domain::position::CapWarning;

    pub struct IssuedDocument<'a> {
        pub kind_label: &'a str,
        pub number: &'a str,
        pub document_id: &'a str,
        pub issuer: &'a str,
        pub recipient: &'a str,
        pub project: &'a str,
        pub period: &'a str,
        pub total: &'a str,
        /// None for a credit note.
        pub due_on: Option<&'a str>,
    }

    pub fn document_issued(d: &IssuedDocument) -> Notification {
        Notification {
            kind: NotificationKind::DocumentIssued,
            subject: match d.due_on {
                Some(due) => format!("{} {} from {}: {}, due {due}", d.kind_label, d.number, d.issuer, d.total),
                None => format!("{} {} from {}: {}", d.kind_label, d.number, d.issuer, d.total),
            },
            body: format!(
                "{issuer} has issued {kind} {number} to {recipient} for {period} of {project}.\n\n\
                 Total: {total}\nDue: {due}\n\nThe document, its lines and how the amounts were split: \
                 /v1/documents/{id} (as CSV: /v1/documents/{id}.csv; printable: /v1/documents/{id}.html).\n",
                issuer = d.issuer,
                kind = d.kind_label.to_lowercase(),
                number = d.number,
                recipient = d.recipient,
                period = d.period,
                project = d.project,
                total = d.total,
                due = d.due_on.unwrap_or("nothing is due on a credit note"),
                id = d.document_id,
            ),
        }
    }

    pub fn claim_rejected(
        claim_id: &str,
        project: &str,
        outcome: &str,
        achieved_on: &str,
        reason: &str,
    ) -> Notification {
        Notification {
            kind: NotificationKind::ClaimRejected,
            subject: format!("Claim {claim_id} on {project} was rejected"),
            body: format!(
                "The claim {claim_id} for outcome {outcome}, achieved on {achieved_on}, on {project} was rejected.\n\n\
                 Reason given: {reason}\n\nThe claim: /v1/claims/{claim_id}\n"
            ),
        }
    }

    pub fn cap_crossed(
        project: &str,
        payer: &str,
        level: CapWarning,
        allocated: &str,
        cap: &str,
    ) -> Notification {
        let (kind, percent, consequence) = match level {
            CapWarning::Near => (NotificationKind::CapNear, "80 %", "Outcomes beyond the cap will not be paid by this payer."),
            CapWarning::Reached => (
                NotificationKind::CapReached,
                "100 %",
                "This payer pays nothing more: further outcomes are a shortfall or reallocated, as the project's cap policy says.",
            ),
        };
        Notification {
            kind,
            subject: format!("{project}: {payer} has reached {percent} of its cap"),
            body: format!(
                "On {project}, {payer} has been allocated {allocated} of its maximum commitment of {cap} ({percent} or more).\n\n{consequence}\n"
            ),
        }
    }
}
