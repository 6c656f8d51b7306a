//! Delivers the outbox over SMTP. Several cofund processes may run this worker on one
//! PostgreSQL: each claims a batch of due messages with `FOR UPDATE SKIP LOCKED` and a lease
//! (the message's next attempt is pushed past the time a send can take) in a short transaction
//! of its own, then sends outside any transaction, so that no other worker takes the same
//! message and no database lock is held while the relay answers. Before each send the worker
//! checks that the message is still its own (no other worker has claimed it since, its lease
//! having run out while a slow relay took the ones before it) and renews the lease for the
//! send: a message is sent twice only when a process dies between sending and recording it
//! (at least once, then), and the stable `Message-ID` lets the receiving side drop the copy.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use super::{absolute_links, retry_delay, MailSettings, RelaySecurity, SmtpRelay};
use crate::clock::Clock;
use crate::db::models::DueMessage;
use crate::db::schema::outbox;
use crate::db::{backend_specific, write_tx, DbConn, Pool};
use crate::domain::outbox::OutboxStatus;

/// Messages claimed per round.
const BATCH: i64 = 50;

/// The running worker. Dropping it (with the server that holds it) stops the thread and
/// waits for the round in hand to finish, so that nothing is left half-recorded.
pub struct MailWorker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for MailWorker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Sleeps `total` in short steps, returning early once `stop` is set.
fn pause(total: Duration, stop: &AtomicBool) {
    const STEP: Duration = Duration::from_millis(50);
    let mut left = total;
    while !left.is_zero() && !stop.load(Ordering::Relaxed) {
        let step = left.min(STEP);
        std::thread::sleep(step);
        left -= step;
    }
}

impl MailWorker {
    /// Starts delivering, or with no relay configured, says once that mail stays queued.
    pub fn start(
        pool: Pool,
        settings: MailSettings,
        clock: Clock,
    ) -> Result<Option<MailWorker>, String> {
        let (Some(relay), Some(from)) = (settings.relay.clone(), settings.from.clone()) else {
            tracing::warn!("COFUND_SMTP_URL is not set: email notifications are queued in the outbox and not sent");
            return Ok(None);
        };
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("COFUND_MAIL_FROM is not an address: {e}"))?;
        let transport = transport(&relay, settings.ca_pem.as_deref())?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("cofund-mail".into())
            .spawn(move || {
                tracing::info!(relay = ?relay, "delivering email notifications");
                while !stopped.load(Ordering::Relaxed) {
                    if let Err(e) = deliver_due(&pool, &transport, &from, &settings, &clock) {
                        tracing::warn!(error = %e, "email delivery round failed; retrying");
                    }
                    pause(settings.poll, &stopped);
                }
            })
            .map_err(|e| format!("cannot start the mail worker: {e}"))?;
        Ok(Some(MailWorker {
            stop,
            thread: Some(thread),
        }))
    }
}

/// The connection to the relay: TLS as its URL says, the certificate verified against
/// `ca_pem` if given, else the system's roots.
pub fn transport(relay: &SmtpRelay, ca_pem: Option<&[u8]>) -> Result<SmtpTransport, String> {
    let mut builder = SmtpTransport::builder_dangerous(relay.host.clone())
        .port(relay.port)
        .timeout(Some(Duration::from_secs(20)));
    if relay.security != RelaySecurity::Plain {
        let mut tls = TlsParameters::builder(relay.host.clone());
        if let Some(pem) = ca_pem {
            let ca = Certificate::from_pem(pem)
                .map_err(|e| format!("COFUND_SMTP_CA_FILE holds no usable certificate: {e}"))?;
            tls = tls
                .certificate_store(CertificateStore::None)
                .add_root_certificate(ca);
        }
        let tls = tls
            .build_rustls()
            .map_err(|e| format!("cannot set up TLS to the relay: {e}"))?;
        builder = builder.tls(match relay.security {
            RelaySecurity::StartTls => Tls::Required(tls),
            _ => Tls::Wrapper(tls),
        });
    }
    if let Some((user, password)) = &relay.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

/// What one round did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
    /// Claimed, but taken by another worker before this one came to send them.
    pub passed_on: usize,
}

/// Claims the due messages, sends each, and records what happened.
pub fn deliver_due(
    pool: &Pool,
    transport: &SmtpTransport,
    from: &Mailbox,
    settings: &MailSettings,
    clock: &Clock,
) -> Result<Round, String> {
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let now = clock.now();
    // A read first: most rounds find nothing due, and take no write lock for it.
    let due: Option<String> = outbox::table
        .filter(outbox::status.eq(OutboxStatus::Queued))
        .filter(outbox::next_attempt_at.le(now))
        .select(outbox::id)
        .first(&mut conn)
        .optional()
        .map_err(|e| e.to_string())?;
    if due.is_none() {
        return Ok(Round::default());
    }
    let lease = settings.lease;
    let claimed = write_tx(&mut conn, |conn| claim(conn, now, lease)).map_err(|e| e.to_string())?;
    let mut round = Round::default();
    for message in claimed {
        if !hold(&mut conn, &message, clock.now(), lease).map_err(|e| e.to_string())? {
            round.passed_on += 1;
            continue;
        }
        let outcome = build(&message, from, &settings.public_url)
            .and_then(|m| transport.send(&m).map(|_| ()).map_err(describe));
        let now = clock.now();
        let update = match outcome {
            Ok(()) => {
                round.sent += 1;
                diesel::update(outbox::table.find(&message.id))
                    .set((
                        outbox::status.eq(OutboxStatus::Sent),
                        outbox::sent_at.eq(now),
                        outbox::last_error.eq(None::<String>),
                    ))
                    .execute(&mut conn)
            }
            Err(Failure { permanent, detail }) => {
                let give_up = permanent || message.attempts >= settings.max_attempts;
                tracing::warn!(message_id = %message.id, attempts = message.attempts, give_up, "email not delivered: {detail}");
                let next = now
                    + chrono::Duration::from_std(retry_delay(
                        settings.retry_base,
                        message.attempts,
                    ))
                    .unwrap_or_default();
                if give_up {
                    round.failed += 1;
                } else {
                    round.retried += 1;
                }
                diesel::update(outbox::table.find(&message.id))
                    .set((
                        outbox::status.eq(if give_up {
                            OutboxStatus::Failed
                        } else {
                            OutboxStatus::Queued
                        }),
                        outbox::next_attempt_at.eq(next),
                        outbox::last_error.eq(Some(detail)),
                    ))
                    .execute(&mut conn)
            }
        };
        update.map_err(|e| e.to_string())?;
    }
    Ok(round)
}

/// Takes up to [`BATCH`] due messages for this worker: their attempt is counted and their next
/// attempt moved past the lease, in one short transaction.
fn claim(conn: &mut DbConn, now: NaiveDateTime, lease: Duration) -> QueryResult<Vec<DueMessage>> {
    let due = backend_specific::due_outbox_messages(conn, now, BATCH)?;
    let ids: Vec<&str> = due.iter().map(|m| m.id.as_str()).collect();
    let lease_until = now + chrono::Duration::from_std(lease).unwrap_or_default();
    diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
        .set((
            outbox::attempts.eq(outbox::attempts + 1),
            outbox::next_attempt_at.eq(lease_until),
        ))
        .execute(conn)?;
    Ok(due
        .into_iter()
        .map(|m| DueMessage {
            attempts: m.attempts + 1,
            ..m
        })
        .collect())
}

/// Whether `message` is still this worker's to send, renewing its lease for the send if so:
/// another worker that claimed it since (its lease having run out) counted another attempt.
fn hold(
    conn: &mut DbConn,
    message: &DueMessage,
    now: NaiveDateTime,
    lease: Duration,
) -> QueryResult<bool> {
    let lease_until = now + chrono::Duration::from_std(lease).unwrap_or_default();
    let renewed = diesel::update(
        outbox::table
            .find(&message.id)
            .filter(outbox::status.eq(OutboxStatus::Queued))
            .filter(outbox::attempts.eq(message.attempts)),
    )
    .set(outbox::next_attempt_at.eq(lease_until))
    .execute(conn)?;
    Ok(renewed == 1)
}

struct Failure {
    permanent: bool,
    /// What went wrong, without the relay's own words (which may quote an address).
    detail: String,
}

fn describe(e: lettre::transport::smtp::Error) -> Failure {
    let code = e.status().map(|c| c.to_string());
    let detail = match (&code, e.is_permanent(), e.is_transient()) {
        (Some(code), true, _) => format!("the relay refused the message for good ({code})"),
        (Some(code), _, true) => format!("the relay deferred the message ({code})"),
        (Some(code), _, _) => format!("the relay answered {code}"),
        (None, _, _) if e.is_timeout() => "the relay did not answer in time".to_owned(),
        (None, _, _) => "could not reach the relay".to_owned(),
    };
    Failure {
        permanent: e.is_permanent(),
        detail,
    }
}

/// The message as sent: its outbox id makes its stable `Message-ID`, and its links are made
/// absolute from `public_url`.
fn build(message: &DueMessage, from: &Mailbox, public_url: &str) -> Result<Message, Failure> {
    let bad = |what: &str| Failure {
        permanent: true,
        detail: format!("the message cannot be built: {what}"),
    };
    let domain = from.email.domain().to_owned();
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(message.subject.clone())
        .message_id(Some(format!("<{}@{domain}>", message.id)));
    for address in message.recipients.lines().filter(|l| !l.is_empty()) {
        let to: Mailbox = address
            .parse()
            .map_err(|_| bad("a stored address is not an address"))?;
        builder = builder.to(to);
    }
    builder
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(absolute_links(&message.body, public_url))
        .map_err(|_| bad("its headers or body are not valid"))
}
