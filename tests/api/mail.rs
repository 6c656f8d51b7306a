//! Email through a real SMTP server (aiosmtpd, from PyPI, in a virtualenv under `target/`
//! made on first use): every notification arrives once, including after the server was down
//! for a while and while a slow relay outlasts a worker's lease, with two cofund servers
//! sharing the outbox; links are absolute; TLS to the relay is verified and never dropped.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;
use cofund::api::auth::Role;
use cofund::notify::{MailSettings, SmtpRelay};

fn python() -> &'static Path {
    test_python()
}

/// aiosmtpd on a port, storing what it receives in a maildir.
struct SmtpServer {
    port: u16,
    maildir: tempfile::TempDir,
    child: Option<Child>,
    /// The handler class (`module.Class`), found on `PYTHONPATH` = the maildir's parent.
    handler: String,
    /// More arguments for aiosmtpd (TLS certificates).
    options: Vec<String>,
}

/// A handler that takes 0.7 s over each message, as a busy relay does.
const SLOW_HANDLER: &str = r#"import asyncio
from aiosmtpd.handlers import Mailbox

class Slow(Mailbox):
    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.7)
        return await super().handle_DATA(server, session, envelope)
"#;

impl SmtpServer {
    /// A server not yet listening: its port is chosen, nothing answers there.
    fn down() -> SmtpServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        SmtpServer {
            port,
            maildir: tempfile::tempdir().unwrap(),
            child: None,
            handler: "aiosmtpd.handlers.Mailbox".into(),
            options: Vec::new(),
        }
    }

    /// A server whose every message takes 0.7 s.
    fn slow() -> SmtpServer {
        let mut server = SmtpServer::down();
        std::fs::write(server.maildir.path().join("slow.py"), SLOW_HANDLER).unwrap();
        server.handler = "slow.Slow".into();
        server
    }

    fn start(&mut self) {
        let child = Command::new(python())
            .env("PYTHONPATH", self.maildir.path())
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{}", self.port),
            ])
            .args(&self.options)
            .args(["-c", &self.handler])
            .arg(self.maildir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn relay(&self) -> MailSettings {
        MailSettings {
            relay: Some(SmtpRelay::parse(&format!("smtp://127.0.0.1:{}", self.port)).unwrap()),
            from: Some("cofund <cofund@fund.example.org>".into()),
            poll: Duration::from_millis(100),
            retry_base: Duration::from_millis(200),
            max_attempts: 1000,
            public_url: "https://cofund.fund.example.org".into(),
            ..MailSettings::default()
        }
    }

    /// The text of every message received.
    fn texts(&self) -> Vec<String> {
        let dir = self.maildir.path().join("mail/new");
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect()
    }

    /// Every message received: (Message-ID, To, Subject).
    fn received(&self) -> Vec<(String, String, String)> {
        let mut messages: Vec<(String, String, String)> = self
            .texts()
            .into_iter()
            .map(|text| {
                // Long headers are folded onto several lines.
                let text = text
                    .replace("\r\n", "\n")
                    .replace("\n ", " ")
                    .replace("\n\t", " ");
                let header = |name: &str| {
                    text.lines()
                        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                        .unwrap_or("")
                        .to_owned()
                };
                (header("Message-ID"), header("To"), header("Subject"))
            })
            .collect();
        messages.sort();
        messages
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn outbox_counts(app: &TestApp) -> (i64, i64, i64) {
    let page = app.get("/v1/outbox", Some(&app.admin())).await;
    let counts = &page.assert_status(200)["counts"];
    let n = |k: &str| counts[k].as_i64().unwrap();
    (n("queued"), n("sent"), n("failed"))
}

async fn wait_until_sent(app: &TestApp, expected: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (queued, sent, failed) = outbox_counts(app).await;
        assert_eq!(failed, 0, "no message given up");
        if queued == 0 && sent == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still {queued} queued, {sent} sent of {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn org_with_email(app: &TestApp, name: &str, kind: &str, email: &str) -> String {
    let reply = app
        .post(
            "/v1/organisations",
            Some(&app.admin()),
            &json!({"name": name, "kind": kind, "billing_emails": [email]}),
        )
        .await;
    reply.assert_status(201)["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_notification_arrives_once_even_after_the_mail_server_was_down() {
    let mut smtp = SmtpServer::down();
    let app = spawn_app_with(Options {
        mail: smtp.relay(),
        ..Options::default()
    })
    .await;
    let second = app.second_server().await;
    let fund_owner = org_with_email(
        &app,
        "Central Fund",
        "central_fund",
        "fund.team@central.example",
    )
    .await;
    let council = org_with_email(
        &app,
        "Council",
        "local_authority",
        "payables@council.example",
    )
    .await;
    let provider = org_with_email(&app, "Provider", "provider", "claims@provider.example").await;
    let validator = app.org("Validator", "validator", &[]).await;
    let fund = app.fund(&fund_owner, "100000.00").await;
    let body = json!({
        "name": "Small caps", "fund_id": fund, "provider_organisation_id": provider,
        "service_start": "2016-01-01", "service_end": "2030-12-31",
        "payers": [
            {"organisation_id": fund_owner, "role": "central_top_up", "max_commitment": gbp("1000.00"), "share": "0.2"},
            {"organisation_id": council, "role": "local_commissioner", "lead": true, "max_commitment": gbp("100000.00"), "share": "0.8"},
        ],
        "outcomes": [{"code": "x", "name": "X", "price": gbp("2000.00"), "unit": "achievement"}],
        "validator_organisation_ids": [validator],
    });
    let project = app.post("/v1/projects", Some(&app.admin()), &body).await;
    let project = project.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let provider_token = app.token(Role::Provider, Some(&provider));
    let validator_token = app.token(Role::Validator, Some(&validator));
    let submit = |participant: &str| json!({"participant_ref": participant, "outcome_code": "x", "achieved_on": "2020-01-01"});
    let mut claims = Vec::new();
    for participant in ["A", "B", "C"] {
        let claim = app
            .post(
                &format!("/v1/projects/{project}/claims"),
                Some(&provider_token),
                &submit(participant),
            )
            .await;
        claims.push(claim.assert_status(201)["id"].as_str().unwrap().to_owned());
    }
    // Rejected: the provider is told.
    app.post(
        &format!("/v1/claims/{}/reject", claims[0]),
        Some(&validator_token),
        &json!({"reason": "no evidence of sustainment"}),
    )
    .await
    .assert_status(200);
    // 2,000.00 split 1/5 to the fund: 400.00 of its 1,000.00; then 800.00, 80 %: one warning
    // to the fund and to the payer.
    for claim in &claims[1..] {
        app.post(
            &format!("/v1/claims/{claim}/verify"),
            Some(&validator_token),
            &json!({}),
        )
        .await
        .assert_status(200);
    }
    // Issued: the council's payables team is told.
    let period = cofund::domain::period::Period::containing(
        app.clock.today(),
        cofund::domain::registry::SettlementFrequency::Quarterly,
    );
    let report = app
        .post(
            &format!("/v1/projects/{project}/settlements"),
            Some(&provider_token),
            &json!({"period": period.to_string()}),
        )
        .await;
    let council_invoice = report.assert_status(201)["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["recipient_organisation_id"] == council.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/v1/documents/{council_invoice}/issue"),
        Some(&provider_token),
        &json!({}),
    )
    .await
    .assert_status(200);

    // The mail server is down: everything stays queued, tried and told why.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let outbox = app
        .get("/v1/outbox?status=queued", Some(&app.admin()))
        .await;
    let queued = outbox.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        queued.len(),
        3,
        "rejection, cap warning, invoice: {queued:?}"
    );
    assert!(queued
        .iter()
        .all(|m| m["attempts"].as_i64().unwrap() >= 1
            && m["last_error"] == "could not reach the relay"));
    let text = outbox.body.to_string();
    assert!(
        !text.contains("@council.example") && !text.contains("@provider.example"),
        "the outbox shows no address"
    );

    // Back up: every message arrives, once, to whom it concerns.
    smtp.start();
    wait_until_sent(&app, 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = smtp.received();
    let ids: Vec<String> = queued
        .iter()
        .map(|m| format!("<{}@fund.example.org>", m["id"].as_str().unwrap()))
        .collect();
    let mut got: Vec<String> = received.iter().map(|(id, _, _)| id.clone()).collect();
    got.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(got, want, "each message once, by its stable Message-ID");
    let to_of = |needle: &str| {
        received
            .iter()
            .find(|(_, _, s)| s.contains(needle))
            .map(|(_, to, _)| to.clone())
            .unwrap()
    };
    assert_eq!(to_of("was rejected"), "claims@provider.example");
    assert!(to_of("80 %").contains("fund.team@central.example"));
    assert_eq!(to_of("Invoice"), "payables@council.example");
    // Links are absolute, from the public address, and say how to open them.
    let invoice = smtp
        .texts()
        .into_iter()
        .find(|t| t.contains("has issued invoice"));
    let invoice = invoice.unwrap().replace("=\r\n", "").replace("=\n", "");
    assert!(
        invoice.contains(&format!(
            "<https://cofund.fund.example.org/v1/documents/{council_invoice}.html>"
        )),
        "{invoice}"
    );
    assert!(invoice.contains("Authorization: Bearer"));

    // Down again, one more event, back again: it arrives once too, whichever server sends it.
    smtp.stop();
    let reply = app
        .client
        .post(format!("{second}/v1/claims/{}/reject", claims[0]))
        .bearer_auth(&validator_token)
        .json(&json!({"reason": "again"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        reply.status(),
        409,
        "a rejected claim is not rejected twice, and no message is queued for it"
    );
    let claim = app
        .post(
            &format!("/v1/projects/{project}/claims"),
            Some(&provider_token),
            &submit("D"),
        )
        .await;
    let claim = claim.assert_status(201)["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/v1/claims/{claim}/reject"),
        Some(&validator_token),
        &json!({"reason": "duplicate of B"}),
    )
    .await
    .assert_status(200);
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Of a kind this version does not know (queued by a newer process during an upgrade): it
    // is still sent, and stops no other. (The outbox page, which shows kinds, refuses it.)
    let unknown = "UPDATE outbox SET kind = 'from_a_newer_version' WHERE status = 'queued'";
    assert_eq!(app.execute_sql(unknown).unwrap(), 1);
    let out = app.cofund(&["check"]);
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("outbox messages of kind 'from_a_newer_version', which cofund does not know"));
    smtp.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    let sent = "UPDATE outbox SET attempts = attempts WHERE status = 'sent'";
    while app.execute_sql(sent).unwrap() < 4 {
        assert!(Instant::now() < deadline, "the unknown kind was not sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let known = "UPDATE outbox SET kind = 'claim_rejected' WHERE kind = 'from_a_newer_version'";
    assert_eq!(app.execute_sql(known).unwrap(), 1);
    wait_until_sent(&app, 4).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = smtp.received();
    assert_eq!(received.len(), 4);
    let unique: std::collections::HashSet<&String> = received.iter().map(|(id, _, _)| id).collect();
    assert_eq!(unique.len(), 4, "none twice");
    // The mail workers stop with their servers.
    app.stop().await;
}

/// Rejects a claim for each of `participants` on a new project whose provider has a billing
/// address: one email each.
async fn rejections(app: &TestApp, participants: usize) {
    let provider = org_with_email(app, "Provider", "provider", "claims@provider.example").await;
    let council = app.org("Council", "local_authority", &[]).await;
    let validator = app.org("Validator", "validator", &[]).await;
    let body = json!({
        "name": "Rejections", "provider_organisation_id": provider,
        "service_start": "2016-01-01", "service_end": "2030-12-31",
        "payers": [{"organisation_id": council, "role": "local_commissioner", "max_commitment": gbp("100000.00")}],
        "outcomes": [{"code": "x", "name": "X", "price": gbp("100.00"), "unit": "achievement"}],
        "validator_organisation_ids": [validator],
    });
    let project = app.post("/v1/projects", Some(&app.admin()), &body).await;
    let project = project.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let provider_token = app.token(Role::Provider, Some(&provider));
    let validator_token = app.token(Role::Validator, Some(&validator));
    for n in 0..participants {
        let claim = json!({"participant_ref": format!("P{n}"), "outcome_code": "x", "achieved_on": "2020-01-01"});
        let claim = app
            .post(
                &format!("/v1/projects/{project}/claims"),
                Some(&provider_token),
                &claim,
            )
            .await;
        let claim = claim.assert_status(201)["id"].as_str().unwrap().to_owned();
        app.post(
            &format!("/v1/claims/{claim}/reject"),
            Some(&validator_token),
            &json!({"reason": "no evidence"}),
        )
        .await
        .assert_status(200);
    }
}

#[tokio::test]
async fn a_relay_slower_than_the_lease_gets_each_message_once_from_two_servers() {
    // Each message takes 0.7 s and a claimed batch is leased for 1.5 s: the worker that claims
    // all eight is still sending when its lease on the rest runs out, and the other server's
    // worker takes them. (In production: 50 messages, 300 s, a relay taking 7 s each.)
    let mut smtp = SmtpServer::slow();
    let mail = MailSettings {
        lease: Duration::from_millis(1_500),
        ..smtp.relay()
    };
    let app = spawn_app_with(Options {
        mail,
        ..Options::default()
    })
    .await;
    let _second = app.second_server().await;
    rejections(&app, 8).await;
    // Queued while the relay is down, so that one round claims them all once it is up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    smtp.start();
    wait_until_sent(&app, 8).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let received = smtp.received();
    let unique: std::collections::HashSet<&String> = received.iter().map(|(id, _, _)| id).collect();
    assert_eq!(
        (received.len(), unique.len()),
        (8, 8),
        "each message once: {received:#?}"
    );
    app.stop().await;
}

/// A test certificate authority and a certificate for 127.0.0.1 signed by it, made with
/// openssl in `dir`: (CA certificate, server certificate, server key).
fn test_certificates(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl {args:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=cofund test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "relay.key",
        "-out",
        "relay.csr",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "relay.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "relay.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("relay.pem"),
        dir.join("relay.key"),
    )
}

fn test_message() -> lettre::Message {
    lettre::Message::builder()
        .from("cofund@fund.example.org".parse().unwrap())
        .to("payables@council.example".parse().unwrap())
        .subject("TLS test")
        .body("over TLS".to_owned())
        .unwrap()
}

#[test]
fn mail_goes_over_verified_tls_and_never_falls_back_to_plain_text() {
    use lettre::Transport;
    let certificates = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_certificates(certificates.path());
    let ca_pem = std::fs::read(&ca).unwrap();
    let tls = |flag: &str| {
        vec![
            format!("--{flag}cert"),
            cert.display().to_string(),
            format!("--{flag}key"),
            key.display().to_string(),
        ]
    };
    let relay = |scheme: &str, port: u16| {
        SmtpRelay::parse(&format!("{scheme}://127.0.0.1:{port}")).unwrap()
    };
    let transport = |relay: &SmtpRelay, ca: Option<&[u8]>| {
        cofund::notify::worker::transport(relay, ca).unwrap()
    };

    // STARTTLS required by the server, the relay's certificate from the test CA.
    let mut starttls = SmtpServer::down();
    starttls.options = tls("tls");
    starttls.start();
    let sent =
        transport(&relay("smtp+starttls", starttls.port), Some(&ca_pem)).send(&test_message());
    assert!(sent.is_ok(), "{sent:?}");
    assert_eq!(starttls.received().len(), 1);
    // Against the system's roots the test CA is unknown: refused, nothing sent.
    let unverified = transport(&relay("smtp+starttls", starttls.port), None).send(&test_message());
    assert!(unverified.is_err());
    assert_eq!(starttls.received().len(), 1);

    // A relay that offers no STARTTLS is not written to in plain text instead.
    let mut plain = SmtpServer::down();
    plain.start();
    let downgraded =
        transport(&relay("smtp+starttls", plain.port), Some(&ca_pem)).send(&test_message());
    assert!(downgraded.is_err());
    assert!(plain.received().is_empty());

    // TLS from the first byte.
    let mut smtps = SmtpServer::down();
    smtps.options = tls("smtps");
    smtps.start();
    let sent = transport(&relay("smtps", smtps.port), Some(&ca_pem)).send(&test_message());
    assert!(sent.is_ok(), "{sent:?}");
    assert_eq!(smtps.received().len(), 1);
}
