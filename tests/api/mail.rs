//! Email through a real SMTP server (aiosmtpd, from PyPI, in a virtualenv under `target/`
//! made on first use): every notification arrives once, including after the server was down
//! for a while, with two cofund servers sharing the outbox.

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
}

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
        }
    }

    fn start(&mut self) {
        let child = Command::new(python())
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{}", self.port),
            ])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
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
        }
    }

    /// Every message received: (Message-ID, To, Subject).
    fn received(&self) -> Vec<(String, String, String)> {
        let dir = self.maildir.path().join("mail/new");
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut messages: Vec<(String, String, String)> = entries
            .map(|e| {
                let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
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
    smtp.start();
    wait_until_sent(&app, 4).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = smtp.received();
    assert_eq!(received.len(), 4);
    let unique: std::collections::HashSet<&String> = received.iter().map(|(id, _, _)| id).collect();
    assert_eq!(unique.len(), 4, "none twice");
    // The mail workers stop with their servers.
    app.stop().await;
}
