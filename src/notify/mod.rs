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
use crate::domain::ids::OrganisationId;
use crate::domain::outbox::{OutboxKind, OutboxStatus};

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
    /// How long a claimed message is left to its worker before another may take it: far
    /// longer than one send can take (each step of the conversation times out at 20 s).
    pub lease: Duration,
    /// The certificate authorities (PEM) that the relay's certificate must chain to
    /// (`COFUND_SMTP_CA_FILE`), instead of the system's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Where people reach this server (`COFUND_PUBLIC_URL`, no trailing slash): links in
    /// emails are made absolute from it when they are sent.
    pub public_url: String,
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
            lease: Duration::from_secs(300),
            ca_pem: None,
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

/// An SMTP relay from `COFUND_SMTP_URL`: `scheme://[user:password@]host[:port]`, where the
/// scheme says how the connection is protected (see [`RelaySecurity`]).
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpRelay {
    pub host: String,
    pub port: u16,
    pub credentials: Option<(String, String)>,
    pub security: RelaySecurity,
}

/// How the connection to the relay is protected. With TLS the relay's certificate is verified
/// (against the system's roots or `COFUND_SMTP_CA_FILE`), and a relay that cannot do TLS is
/// never written to in plain text instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelaySecurity {
    /// `smtp://` (port 25 unless given): plain text, for a relay on the same host or network
    /// that cofund trusts.
    Plain,
    /// `smtp+starttls://` (port 587): plain text until STARTTLS, which is required.
    StartTls,
    /// `smtps://` (port 465): TLS from the first byte.
    Tls,
}

impl RelaySecurity {
    fn scheme(self) -> &'static str {
        match self {
            RelaySecurity::Plain => "smtp",
            RelaySecurity::StartTls => "smtp+starttls",
            RelaySecurity::Tls => "smtps",
        }
    }
}

impl std::fmt::Debug for SmtpRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.security.scheme();
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

impl SmtpRelay {
    pub fn parse(url: &str) -> Result<SmtpRelay, String> {
        let schemes = [
            (RelaySecurity::Plain, 25),
            (RelaySecurity::StartTls, 587),
            (RelaySecurity::Tls, 465),
        ];
        let (security, default_port, rest) = schemes
            .into_iter()
            .find_map(|(security, port)| {
                let rest = url.strip_prefix(&format!("{}://", security.scheme()))?;
                Some((security, port, rest))
            })
            .ok_or_else(|| {
                "COFUND_SMTP_URL must be smtp://, smtp+starttls:// (STARTTLS required) or smtps:// (TLS), then [user:password@]host[:port]".to_owned()
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
            None => (address, default_port),
        };
        if host.is_empty() {
            return Err("COFUND_SMTP_URL names no host".into());
        }
        Ok(SmtpRelay {
            host: host.to_owned(),
            port,
            credentials,
            security,
        })
    }
}

/// A message to queue.
#[derive(Debug, Clone)]
pub struct Notification {
    pub kind: OutboxKind,
    pub subject: String,
    pub body: String,
}

/// The billing addresses of `organisations`, each once, in order.
pub fn addresses_of(
    conn: &mut DbConn,
    organisations_: &[&OrganisationId],
) -> QueryResult<Vec<String>> {
    let mut emails: Vec<String> = organisation_billing_emails::table
        .filter(organisation_billing_emails::organisation_id.eq_any(organisations_))
        .select(organisation_billing_emails::email)
        .load(conn)?;
    emails.sort_unstable();
    emails.dedup();
    Ok(emails)
}

/// An organisation's name, for a message's text.
pub fn name_of(conn: &mut DbConn, organisation_id: &OrganisationId) -> QueryResult<String> {
    organisations::table
        .find(organisation_id)
        .select(organisations::name)
        .first(conn)
}

/// Queues `notification` for the billing addresses of `to`, in the caller's transaction.
/// Nothing is queued when none of them has an address. Returns whether it was queued.
pub fn enqueue(
    conn: &mut DbConn,
    to: &[&OrganisationId],
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
            kind: notification.kind,
            recipients: recipients.join("\n"),
            subject: notification.subject,
            body: notification.body,
            status: OutboxStatus::Queued,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            sent_at: None,
        })
        .execute(conn)?;
    Ok(true)
}

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
    use crate::domain::ids::ClaimId;

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
        let relay = SmtpRelay::parse("smtps://relay.example").unwrap();
        assert_eq!((relay.security, relay.port), (RelaySecurity::Tls, 465));
        let relay = SmtpRelay::parse("smtp+starttls://u:p@relay.example").unwrap();
        assert_eq!((relay.security, relay.port), (RelaySecurity::StartTls, 587));
        assert_eq!(format!("{relay:?}"), "smtp+starttls://relay.example:587");
        for bad in [
            "smtp+tls://relay",
            "http://relay",
            "smtp://",
            "smtp://relay:port",
        ] {
            assert!(SmtpRelay::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_the_templates_links_are_made_absolute() {
        let message = messages::claim_rejected(
            &ClaimId::from("clm_1"),
            "P</v1/x",
            "a",
            "2026-01-01",
            "see </b>",
        );
        let body = absolute_links(&message.body, "https://cofund.example.org/");
        assert!(
            body.contains("<https://cofund.example.org/v1/claims/clm_1>"),
            "{body}"
        );
        assert!(
            body.contains("P< /v1/x") && body.contains("see < /b>"),
            "{body}"
        );
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

/// Writes the links of a stored message absolute: a link is stored as `</path>` (angle
/// brackets mark a link in plain-text mail), so that a message queued before the server moved
/// links to where it is when sent. Text from people (names, reasons) never holds `</`: see
/// [`messages`].
pub fn absolute_links(body: &str, public_url: &str) -> String {
    body.replace("</", &format!("<{}/", public_url.trim_end_matches('/')))
}

/// Text from people for a message body: never the start of a stored link (`</`).
fn not_a_link(text: &str) -> String {
    text.replace("</", "< /")
}

/// The texts of the notifications, from plain facts. Links are written `</path>` (see
/// [`absolute_links`]).
pub mod messages {
    use super::{not_a_link as text, Notification, OutboxKind};
    use crate::domain::ids::{ClaimId, DocumentId, PayerId, ProjectId};
    use crate::domain::position::CapWarning;

    pub struct IssuedDocument<'a> {
        pub kind_label: &'a str,
        pub number: &'a str,
        pub document_id: &'a DocumentId,
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
            kind: OutboxKind::DocumentIssued,
            subject: match d.due_on {
                Some(due) => format!("{} {} from {}: {}, due {due}", d.kind_label, d.number, d.issuer, d.total),
                None => format!("{} {} from {}: {}", d.kind_label, d.number, d.issuer, d.total),
            },
            body: format!(
                "{issuer} has issued {kind} {number} to {recipient} for {period} of {project}.\n\n\
                 Total: {total}\nDue: {due}\n\nThe document, its lines and how the amounts were split:\n\
                 </v1/documents/{id}.html> (printable)\n</v1/documents/{id}.csv> (CSV)\n\n\
                 These open with your organisation's cofund API token, sent as the header \
                 \"Authorization: Bearer <token>\" (your cofund administrator issues tokens).\n",
                issuer = text(d.issuer),
                kind = d.kind_label.to_lowercase(),
                number = text(d.number),
                recipient = text(d.recipient),
                period = d.period,
                project = text(d.project),
                total = d.total,
                due = d.due_on.unwrap_or("nothing is due on a credit note"),
                id = d.document_id,
            ),
        }
    }

    pub fn claim_rejected(
        claim_id: &ClaimId,
        project: &str,
        outcome: &str,
        achieved_on: &str,
        reason: &str,
    ) -> Notification {
        let (project, outcome, reason) = (text(project), text(outcome), text(reason));
        Notification {
            kind: OutboxKind::ClaimRejected,
            subject: format!("Claim {claim_id} on {project} was rejected"),
            body: format!(
                "The claim {claim_id} for outcome {outcome}, achieved on {achieved_on}, on {project} was rejected.\n\n\
                 Reason given: {reason}\n\nThe claim: </v1/claims/{claim_id}> (with your organisation's \
                 cofund API token, sent as the header \"Authorization: Bearer <token>\")\n"
            ),
        }
    }

    /// A payer's commitment to a project, for the messages that ask for it and answer.
    pub struct Commitment<'a> {
        pub project_id: &'a ProjectId,
        pub project: &'a str,
        pub payer_id: &'a PayerId,
        pub payer: &'a str,
        pub max_commitment: &'a str,
    }

    pub fn commitment_proposed(c: &Commitment) -> Notification {
        let (project, payer) = (text(c.project), text(c.payer));
        Notification {
            kind: OutboxKind::CommitmentProposed,
            subject: format!(
                "{project}: {payer} is asked to commit up to {}",
                c.max_commitment
            ),
            body: format!(
                "{payer} is named as a payer of {project}, committing up to {max}. The commitment \
                 binds {payer} only once it accepts it, and no claim of the project is verified \
                 until every payer has.\n\nThe project: </v1/projects/{id}>\n\
                 To accept: POST </v1/projects/{id}/payers/{payer_id}/accept>\n\
                 To decline, saying why: POST </v1/projects/{id}/payers/{payer_id}/decline> \
                 with {{\"reason\": \"…\"}}\n\n\
                 These open with your organisation's cofund API token (a commissioner's or a fund \
                 manager's), sent as the header \"Authorization: Bearer <token>\".\n",
                max = c.max_commitment,
                id = c.project_id,
                payer_id = c.payer_id,
            ),
        }
    }

    /// `status`: `accepted` or `declined`; `reason`: why it was declined.
    pub fn commitment_decided(c: &Commitment, status: &str, reason: Option<&str>) -> Notification {
        let (project, payer) = (text(c.project), text(c.payer));
        let why = reason
            .map(|r| format!("\nReason given: {}\n", text(r)))
            .unwrap_or_default();
        Notification {
            kind: OutboxKind::CommitmentDecided,
            subject: format!("{project}: {payer} has {status} its commitment"),
            body: format!(
                "{payer} has {status} its commitment of up to {max} to {project}.\n{why}\n\
                 The project and where each payer's commitment stands: </v1/projects/{id}>\n\
                 Its history: </v1/projects/{id}/commitments>\n",
                max = c.max_commitment,
                id = c.project_id,
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
            CapWarning::Near => (OutboxKind::CapNear, "80 %", "Outcomes beyond the cap will not be paid by this payer."),
            CapWarning::Reached => (
                OutboxKind::CapReached,
                "100 %",
                "This payer pays nothing more: further outcomes are a shortfall or reallocated, as the project's cap policy says.",
            ),
        };
        let (project, payer) = (text(project), text(payer));
        Notification {
            kind,
            subject: format!("{project}: {payer} has reached {percent} of its cap"),
            body: format!(
                "On {project}, {payer} has been allocated {allocated} of its maximum commitment of {cap} ({percent} or more).\n\n{consequence}\n"
            ),
        }
    }
}
