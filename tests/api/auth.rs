//! The token matrix: who gets in, and who may do what.

use cofund::api::auth::Role;
use cofund::config::JwtSettings;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::helpers::*;

fn claims(role: &str, org: Option<&str>, exp_offset: i64) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": "someone", "role": role, "org": org, "iat": now, "exp": now + exp_offset})
}

fn sign(claims: &serde_json::Value, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401() {
    let app = spawn_app().await;
    let path = "/v1/organisations";
    let reply = app.get(path, None).await;
    reply.assert_problem(401);

    let wrong_secret = sign(
        &claims("admin", None, 3600),
        b"another-secret-at-least-32-bytes-long!!",
    );
    app.get(path, Some(&wrong_secret)).await.assert_problem(401);

    let expired = sign(&claims("admin", None, -3600), TEST_SECRET);
    let reply = app.get(path, Some(&expired)).await;
    assert!(reply.assert_problem(401)["detail"]
        .as_str()
        .unwrap()
        .contains("Expired"));

    // An unsigned token ("alg": "none") is never accepted.
    let b64 = |v: serde_json::Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let unsigned = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(claims("admin", None, 3600))
    );
    app.get(path, Some(&unsigned)).await.assert_problem(401);

    app.get(path, Some("not-a-jwt")).await.assert_problem(401);
    let unknown_role = sign(&claims("superuser", None, 3600), TEST_SECRET);
    app.get(path, Some(&unknown_role)).await.assert_problem(401);
    // Every role but admin must name its organisation.
    let orgless = sign(&claims("commissioner", None, 3600), TEST_SECRET);
    app.get(path, Some(&orgless)).await.assert_problem(401);
    // And an admin acts for none: a token of both is refused, not read as either.
    let council = app.org("Council", "local_authority", &[]).await;
    let admin_of_one = sign(&claims("admin", Some(&council), 3600), TEST_SECRET);
    let refused = app.get(path, Some(&admin_of_one)).await;
    assert!(refused.assert_problem(401)["detail"]
        .as_str()
        .unwrap()
        .contains("admin token names no organisation"));

    let good = sign(&claims("admin", None, 3600), TEST_SECRET);
    app.get(path, Some(&good)).await.assert_status(200);
}

#[tokio::test]
async fn issuer_and_audience_are_checked_when_configured() {
    let jwt = JwtSettings::hs256(
        TEST_SECRET,
        Some("https://id.example".into()),
        Some("cofund".into()),
    );
    let app = spawn_app_with(Options {
        jwt,
        ..Options::default()
    })
    .await;
    let path = "/v1/organisations";
    let mut c = claims("admin", None, 3600);
    app.get(path, Some(&sign(&c, TEST_SECRET)))
        .await
        .assert_problem(401);
    c["iss"] = json!("https://id.example");
    c["aud"] = json!("someone-else");
    app.get(path, Some(&sign(&c, TEST_SECRET)))
        .await
        .assert_problem(401);
    c["aud"] = json!("cofund");
    app.get(path, Some(&sign(&c, TEST_SECRET)))
        .await
        .assert_status(200);
    c["iss"] = json!("https://evil.example");
    app.get(path, Some(&sign(&c, TEST_SECRET)))
        .await
        .assert_problem(401);
    // Tokens minted by the server carry the configured issuer and audience.
    app.get(path, Some(&app.admin())).await.assert_status(200);
}

#[tokio::test]
async fn rs256_tokens_from_an_identity_provider_are_verified_with_its_public_key() {
    let public = include_bytes!("../fixtures/test-rsa-public.pem");
    let private = include_bytes!("../fixtures/test-rsa-private.pem");
    let jwt = JwtSettings {
        algorithm: Algorithm::RS256,
        decoding_key: jsonwebtoken::DecodingKey::from_rsa_pem(public).unwrap(),
        encoding_key: None,
        issuer: None,
        audience: None,
    };
    let app = spawn_app_with(Options {
        jwt,
        ..Options::default()
    })
    .await;
    let path = "/v1/organisations";
    let rs = encode(
        &Header::new(Algorithm::RS256),
        &claims("admin", None, 3600),
        &EncodingKey::from_rsa_pem(private).unwrap(),
    )
    .unwrap();
    app.get(path, Some(&rs)).await.assert_status(200);
    // An HS256 token signed with the public key as secret (algorithm confusion) is refused.
    let confused = sign(&claims("admin", None, 3600), public);
    app.get(path, Some(&confused)).await.assert_problem(401);
}

#[tokio::test]
async fn roles_and_organisations_limit_what_a_token_may_do() {
    let app = spawn_app().await;
    let p = parties(&app).await;
    let org_body = json!({"name": "X", "kind": "provider"});
    for (role, org) in [
        (Role::FundManager, &p.central),
        (Role::Commissioner, &p.council_a),
        (Role::Provider, &p.provider),
        (Role::Validator, &p.validator),
    ] {
        let token = app.token(role, Some(org));
        app.post("/v1/organisations", Some(&token), &org_body)
            .await
            .assert_problem(403);
    }
    let commissioner = app.token(Role::Commissioner, Some(&p.council_a));
    app.post("/v1/projects", Some(&commissioner), &project_body(&p))
        .await
        .assert_problem(403);
    app.post("/v1/funds", Some(&commissioner), &json!({}))
        .await
        .assert_problem(403);

    // A fund manager may create funds and projects for its own organisation only.
    let fund = json!({"name": "Fund", "owner_organisation_id": p.central, "budget": gbp("10.00"),
                      "service_start": "2020-01-01", "service_end": "2021-01-01"});
    let other_fund = app.org("Another central fund", "central_fund", &[]).await;
    let other_manager = app.token(Role::FundManager, Some(&other_fund));
    app.post("/v1/funds", Some(&other_manager), &fund)
        .await
        .assert_problem(403);
    app.post("/v1/projects", Some(&other_manager), &project_body(&p))
        .await
        .assert_problem(403);
    let manager = app.token(Role::FundManager, Some(&p.central));
    app.post("/v1/funds", Some(&manager), &fund)
        .await
        .assert_status(201);
    app.post("/v1/projects", Some(&manager), &project_body(&p))
        .await
        .assert_status(201);
    assert_eq!(app.count("projects"), 1);
}

#[tokio::test]
async fn the_token_command_mints_tokens_the_server_accepts() {
    let app = spawn_app().await;
    let council = app.org("Council", "local_authority", &[]).await;
    let secret = std::str::from_utf8(TEST_SECRET).unwrap();
    let output = app.cofund(&[
        "token",
        "--role",
        "commissioner",
        "--org",
        &council,
        "--ttl",
        "10m",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap();
    let reply = app.get("/v1/organisations", Some(token.trim())).await;
    reply.assert_status(200);

    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_cofund"))
        .args(["token", "--role", "provider"])
        .env("COFUND_JWT_SECRET", secret)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--org"));
    let admin_of_one = app.cofund(&["token", "--role", "admin", "--org", &council]);
    assert!(!admin_of_one.status.success());
    assert!(admin_of_one.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&admin_of_one.stderr).contains("admin token names no organisation")
    );

    // An organisation the database does not hold gets no token, and a pointer to the list.
    let unknown = app.cofund(&["token", "--role", "commissioner", "--org", "org_nobody"]);
    assert!(!unknown.status.success());
    assert!(unknown.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("org_nobody") && stderr.contains("GET /v1/organisations"),
        "{stderr}"
    );
    // Looking it up creates no database where there is none.
    let nowhere = tempfile::tempdir().unwrap();
    let missing = nowhere.path().join("cofund.db");
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_cofund"))
        .args(["token", "--role", "commissioner", "--org", &council])
        .env("COFUND_JWT_SECRET", secret)
        .env("DATABASE_URL", &missing)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("there is no database"));
    assert!(!missing.exists());
}

#[tokio::test]
async fn production_refuses_a_generated_signing_secret() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cofund"))
        .args(["migrate"])
        .env("COFUND_ENV", "production")
        .env_remove("COFUND_JWT_SECRET")
        .env_remove("COFUND_JWT_SECRET_FILE")
        .env_remove("COFUND_JWT_PUBLIC_KEY_FILE")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("COFUND_JWT_SECRET"), "{stderr}");
    assert!(stderr.contains("COFUND_PSEUDONYM_KEY"), "{stderr}");
}

/// `cofund migrate` in production with the given environment (the database is a fresh
/// SQLite file, so that only the secrets decide).
fn production_start(vars: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_cofund"));
    command
        .arg("migrate")
        .env("COFUND_ENV", "production")
        .env("DATABASE_URL", dir.path().join("cofund.db"))
        .env_remove("COFUND_JWT_SECRET")
        .env_remove("COFUND_JWT_SECRET_FILE")
        .env_remove("COFUND_JWT_PUBLIC_KEY_FILE")
        .env_remove("COFUND_PSEUDONYM_KEY")
        .env_remove("COFUND_PSEUDONYM_KEY_FILE");
    for (name, value) in vars {
        command.env(name, value);
    }
    command.output().unwrap()
}

#[tokio::test]
async fn production_refuses_secrets_that_do_not_look_random_or_are_shared() {
    let random = "kT3v9QyZr8mW1pXc5Ns0bLh7Gd2Fj4Ae6Ru+Vo/Ki=Pw9Zq3Ts7Yx1Cb5Nm8Lk2Hg4";
    let other = "Q9w8E7r6T5y4U3i2O1pAaSsDdFfGgHhJjKkLlZzXxCcVvBbNnMm0+/Ee3Rr5Tt7Yy9";
    let started = production_start(&[
        ("COFUND_JWT_SECRET", random),
        ("COFUND_PSEUDONYM_KEY", other),
    ]);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );

    let repeated = "a".repeat(48);
    for (vars, says) in [
        (
            vec![
                ("COFUND_JWT_SECRET", repeated.as_str()),
                ("COFUND_PSEUDONYM_KEY", other),
            ],
            "COFUND_JWT_SECRET does not look random",
        ),
        (
            vec![
                ("COFUND_JWT_SECRET", random),
                ("COFUND_PSEUDONYM_KEY", random),
            ],
            "are the same secret",
        ),
    ] {
        let refused = production_start(&vars);
        assert_eq!(refused.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(says), "{stderr}");
        assert!(stderr.contains("openssl rand -base64 48"), "{stderr}");
    }

    // The private key given where the public key belongs is refused, in production or not.
    let private = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/test-rsa-private.pem"
    );
    let refused = production_start(&[
        ("COFUND_JWT_PUBLIC_KEY_FILE", private),
        ("COFUND_PSEUDONYM_KEY", other),
    ]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("holds a private key"), "{stderr}");
}
