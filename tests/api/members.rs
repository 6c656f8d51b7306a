//! Members and API keys: who manages whom, what a key may do, and that disabling a member or
//! revoking a key is refused from the very next request.

use serde_json::{json, Value};

use crate::helpers::*;
use cofund::api::auth::Role;

/// `cofund member add` prints the new member's id.
fn add_member(app: &TestApp, args: &[&str]) -> String {
    let out = app.cofund(&[&["member", "add"], args].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A token for `member`, issued after its last change: tokens issued in the second of a
/// member's change are refused, so this waits for the next second.
async fn fresh_token(app: &TestApp, role: Role, org: Option<&str>, member: &str) -> String {
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.token_for(role, org, member)
}

fn id_of(reply: &Reply, status: u16) -> String {
    reply.assert_status(status)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn invite(email: &str, role: &str, administers: bool) -> Value {
    json!({"display_name": email, "email": email, "role": role, "administers": administers})
}

struct World {
    council: String,
    other_council: String,
    /// The installation's first admin, made on the command line, and its token.
    admin: String,
    /// The council's administrator, invited by the admin.
    boss: String,
    boss_token: String,
    /// A commissioner of the council who administers nothing.
    clerk: String,
    clerk_token: String,
    /// The other council's administrator.
    stranger_token: String,
}

async fn world(app: &TestApp) -> World {
    let council = app.org("Herefordshire", "local_authority", &[]).await;
    let other_council = app.org("Shropshire", "local_authority", &[]).await;
    let admin_id = add_member(
        app,
        &[
            "--role",
            "admin",
            "--email",
            "Ops@Example.org",
            "--name",
            "Ops",
        ],
    );
    let admin = app.token_for(Role::Admin, None, &admin_id);
    let path = format!("/v1/organisations/{council}/members");
    let boss = id_of(
        &app.post(
            &path,
            Some(&admin),
            &invite("boss@hc.example", "commissioner", true),
        )
        .await,
        201,
    );
    let boss_token = app.token_for(Role::Commissioner, Some(&council), &boss);
    let clerk = id_of(
        &app.post(
            &path,
            Some(&boss_token),
            &invite("clerk@hc.example", "commissioner", false),
        )
        .await,
        201,
    );
    let clerk_token = app.token_for(Role::Commissioner, Some(&council), &clerk);
    let stranger = id_of(
        &app.post(
            &format!("/v1/organisations/{other_council}/members"),
            Some(&admin),
            &invite("boss@sc.example", "commissioner", true),
        )
        .await,
        201,
    );
    let stranger_token = app.token_for(Role::Commissioner, Some(&other_council), &stranger);
    World {
        council,
        other_council,
        admin,
        boss,
        boss_token,
        clerk,
        clerk_token,
        stranger_token,
    }
}

#[tokio::test]
async fn administrators_manage_their_own_organisations_members_only() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let members = format!("/v1/organisations/{}/members", w.council);
    // Who may list the council's members: an admin and its administrator; not a member who
    // administers nothing, another council's administrator, or a token naming no member.
    let legacy = app.token(Role::Commissioner, Some(&w.council));
    for (token, status) in [
        (&w.admin, 200),
        (&w.boss_token, 200),
        (&w.clerk_token, 403),
        (&w.stranger_token, 403),
        (&legacy, 403),
    ] {
        let reply = app.get(&members, Some(token)).await;
        assert_eq!(reply.status, status, "{}", reply.body);
    }
    let listed = app.get(&members, Some(&w.boss_token)).await;
    let items = listed.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|m| m["status"] == "invited"));
    // A member reads itself; another's member is not there for it.
    let own = app
        .get(&format!("/v1/members/{}", w.clerk), Some(&w.clerk_token))
        .await;
    assert_eq!(own.assert_status(200)["email"], "clerk@hc.example");
    app.get(&format!("/v1/members/{}", w.boss), Some(&w.clerk_token))
        .await
        .assert_problem(404);
    app.get(&format!("/v1/members/{}", w.boss), Some(&w.stranger_token))
        .await
        .assert_problem(404);
    // Invitations: only by those who manage, in a role that fits, one per email.
    app.post(
        &members,
        Some(&w.clerk_token),
        &invite("x@hc.example", "commissioner", false),
    )
    .await
    .assert_problem(403);
    let unfit = app
        .post(
            &members,
            Some(&w.boss_token),
            &invite("x@hc.example", "provider", false),
        )
        .await;
    assert_eq!(unfit.assert_problem(422)["errors"][0]["field"], "role");
    app.post(
        &members,
        Some(&w.boss_token),
        &invite("x@hc.example", "admin", false),
    )
    .await
    .assert_problem(422);
    app.post(
        &members,
        Some(&w.boss_token),
        &invite("CLERK@hc.example", "validator", false),
    )
    .await
    .assert_problem(409);
    app.post(
        &format!("/v1/organisations/{}/members", w.other_council),
        Some(&w.boss_token),
        &invite("y@sc.example", "commissioner", false),
    )
    .await
    .assert_problem(403);
    app.post(
        "/v1/organisations/org_nothing/members",
        Some(&w.admin),
        &invite("y@sc.example", "commissioner", false),
    )
    .await
    .assert_problem(404);
}

#[tokio::test]
async fn nobody_changes_their_own_role_or_leaves_no_administrator() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let boss = format!("/v1/members/{}", w.boss);
    let clerk = format!("/v1/members/{}", w.clerk);
    app.patch(&boss, Some(&w.boss_token), &json!({"role": "validator"}))
        .await
        .assert_problem(403);
    app.patch(&boss, Some(&w.boss_token), &json!({"administers": false}))
        .await
        .assert_problem(409);
    app.post(&format!("{boss}/disable"), Some(&w.boss_token), &json!({}))
        .await
        .assert_problem(409);
    // The clerk cannot make itself an administrator; the boss can, and may then step down.
    app.patch(&clerk, Some(&w.clerk_token), &json!({"administers": true}))
        .await
        .assert_problem(403);
    let promoted = app
        .patch(&clerk, Some(&w.boss_token), &json!({"administers": true}))
        .await;
    assert_eq!(promoted.assert_status(200)["administers"], true);
    let stepped = app
        .patch(&boss, Some(&w.boss_token), &json!({"administers": false}))
        .await;
    assert_eq!(stepped.assert_status(200)["administers"], false);
    // A role that does not fit the organisation, and a field that does not exist.
    app.patch(&clerk, Some(&w.admin), &json!({"role": "fund_manager"}))
        .await
        .assert_problem(422);
    app.patch(&clerk, Some(&w.admin), &json!({"status": "active"}))
        .await
        .assert_problem(422);
    // A body that is not an object is refused, however serde might read it.
    let listed = app
        .patch(&clerk, Some(&w.admin), &json!([null, null]))
        .await;
    assert_eq!(listed.assert_problem(422)["errors"][0]["field"], "body");
    // A role change refuses the member's older token from the next request on. (The clerk,
    // changed itself, signs in again: a token issued before a member's last change holds no
    // more.)
    let clerk_token = fresh_token(&app, Role::Commissioner, Some(&w.council), &w.clerk).await;
    let changed = app
        .patch(&boss, Some(&clerk_token), &json!({"role": "validator"}))
        .await;
    assert_eq!(changed.assert_status(200)["role"], "validator");
    let refused = app.get(&boss, Some(&w.boss_token)).await;
    assert!(refused.assert_problem(401)["detail"]
        .as_str()
        .unwrap()
        .contains("changed"));
    let renewed = fresh_token(&app, Role::Validator, Some(&w.council), &w.boss).await;
    app.get(&boss, Some(&renewed)).await.assert_status(200);
}

#[tokio::test]
async fn a_key_acts_for_its_organisation_until_revoked_expired_or_its_maker_disabled() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let keys = format!("/v1/organisations/{}/api-keys", w.council);
    let statement = format!("/v1/organisations/{}/statement", w.council);
    let made = app
        .post(
            &keys,
            Some(&w.clerk_token),
            &json!({"name": "Finance system"}),
        )
        .await;
    let made = made.assert_status(201).clone();
    let key = made["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("cfk_") && key.len() == 56, "{key}");
    assert_eq!(made["role"], "commissioner");
    assert_eq!(made["state"], "active");
    assert!(key.starts_with(made["prefix"].as_str().unwrap()));
    // The key reads what its organisation's commissioners read, and nothing of another's.
    app.get(&statement, Some(&key)).await.assert_status(200);
    app.get(
        &format!("/v1/organisations/{}/statement", w.other_council),
        Some(&key),
    )
    .await
    .assert_problem(403);
    // Listed without the key; the clerk sees its own, the administrator every key.
    let listed = app.get(&keys, Some(&w.boss_token)).await;
    let listed = listed.assert_status(200)["items"][0].clone();
    assert_eq!(listed["id"], made["id"]);
    assert!(listed.get("key").is_none());
    assert!(!listed.to_string().contains(&key[4..]));
    assert!(
        listed["last_used_on"].is_string(),
        "its use is written down"
    );
    app.get(&keys, Some(&w.stranger_token))
        .await
        .assert_problem(403);
    // What a key may not be: another role, another organisation, longer than a year, or made
    // by a token that names no member, or by a key.
    for (body, status) in [
        (json!({"name": "x", "role": "validator"}), 422),
        (json!({"name": "x", "expires_in_days": 367}), 422),
        (json!({"name": ""}), 422),
        (json!({"name": "x", "colour": "red"}), 422),
    ] {
        app.post(&keys, Some(&w.clerk_token), &body)
            .await
            .assert_problem(status);
    }
    let legacy = app.token(Role::Commissioner, Some(&w.council));
    app.post(&keys, Some(&legacy), &json!({"name": "x"}))
        .await
        .assert_problem(403);
    app.post(&keys, Some(&key), &json!({"name": "x"}))
        .await
        .assert_problem(403);
    app.post(
        &format!("/v1/organisations/{}/api-keys", w.other_council),
        Some(&w.clerk_token),
        &json!({"name": "x"}),
    )
    .await
    .assert_problem(403);

    // Disabling the maker refuses its token and its key at once; enabling restores the key,
    // not the tokens issued before.
    let clerk = format!("/v1/members/{}", w.clerk);
    let disabled = app
        .post(&format!("{clerk}/disable"), Some(&w.boss_token), &json!({}))
        .await;
    assert_eq!(disabled.assert_status(200)["status"], "disabled");
    app.get(&statement, Some(&key)).await.assert_problem(401);
    app.get(&clerk, Some(&w.clerk_token))
        .await
        .assert_problem(401);
    let enabled = app
        .post(&format!("{clerk}/enable"), Some(&w.boss_token), &json!({}))
        .await;
    assert_eq!(enabled.assert_status(200)["status"], "invited");
    app.get(&statement, Some(&key)).await.assert_status(200);
    app.get(&clerk, Some(&w.clerk_token))
        .await
        .assert_problem(401);
    let clerk_token = fresh_token(&app, Role::Commissioner, Some(&w.council), &w.clerk).await;
    app.get(&clerk, Some(&clerk_token)).await.assert_status(200);

    // A key that is not one, one revoked, and one expired are each refused, and counted.
    let forged = format!("cfk_{}", "a".repeat(52));
    let refused = app.get(&statement, Some(&forged)).await;
    assert!(!refused.assert_problem(401).to_string().contains(&forged));
    let revoked = app
        .post(
            &format!("/v1/api-keys/{}/revoke", made["id"].as_str().unwrap()),
            Some(&w.boss_token),
            &json!({}),
        )
        .await;
    assert_eq!(revoked.assert_status(200)["state"], "revoked");
    app.get(&statement, Some(&key)).await.assert_problem(401);
    let second = app
        .post(
            &keys,
            Some(&clerk_token),
            &json!({"name": "Second", "expires_in_days": 1}),
        )
        .await;
    let second = second.assert_status(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get(&statement, Some(&second)).await.assert_status(200);
    app.clock.advance_days(2);
    let expired = app.get(&statement, Some(&second)).await;
    assert!(expired.assert_problem(401)["detail"]
        .as_str()
        .unwrap()
        .contains("expired"));
    let scrape = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        scrape.contains("cofund_refused_credentials_total{credential=\"api_key\"} 4"),
        "{scrape}"
    );
}

#[tokio::test]
async fn the_command_line_adds_and_lists_members_and_refuses_what_the_api_refuses() {
    let app = spawn_app().await;
    let council = app.org("Herefordshire", "local_authority", &[]).await;
    let id = add_member(
        &app,
        &[
            "--role",
            "commissioner",
            "--org",
            &council,
            "--email",
            "a@hc.example",
            "--name",
            "Asha",
            "--administers",
        ],
    );
    assert!(id.starts_with("mem_"));
    let listed = app.cofund(&["member", "list"]);
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listed.contains(&id) && listed.contains("active (administers)"),
        "{listed}"
    );
    assert!(!listed.contains("a@hc.example"), "emails are not printed");
    // Enabling a member who is not disabled leaves it as it is (active, here).
    let enabled = app
        .post(
            &format!("/v1/members/{id}/enable"),
            Some(&app.admin()),
            &json!({}),
        )
        .await;
    assert_eq!(enabled.assert_status(200)["status"], "active");
    for args in [
        vec![
            "--role",
            "admin",
            "--org",
            council.as_str(),
            "--email",
            "b@hc.example",
        ],
        vec!["--role", "commissioner", "--email", "b@hc.example"],
        vec![
            "--role",
            "provider",
            "--org",
            council.as_str(),
            "--email",
            "b@hc.example",
        ],
        vec![
            "--role",
            "commissioner",
            "--org",
            council.as_str(),
            "--email",
            "not an address",
        ],
        vec![
            "--role",
            "commissioner",
            "--org",
            council.as_str(),
            "--email",
            "A@HC.example",
        ],
    ] {
        let args = [args.as_slice(), &["--name", "B"]].concat();
        let out = app.cofund(&[&["member", "add"], args.as_slice()].concat());
        assert!(!out.status.success(), "{args:?} was accepted");
    }
}

#[tokio::test]
async fn the_audit_trail_shows_each_step_to_those_who_may_read_it_and_no_secret() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let keys = format!("/v1/organisations/{}/api-keys", w.council);
    let made = app
        .post(
            &keys,
            Some(&w.clerk_token),
            &json!({"name": "Finance system"}),
        )
        .await;
    let made = made.assert_status(201).clone();
    let key = made["key"].as_str().unwrap().to_owned();
    let statement = format!("/v1/organisations/{}/statement", w.council);
    for _ in 0..3 {
        app.get(&statement, Some(&key)).await.assert_status(200);
    }
    app.post(
        &format!("/v1/members/{}/disable", w.clerk),
        Some(&w.boss_token),
        &json!({}),
    )
    .await
    .assert_status(200);
    app.post(
        &format!("/v1/api-keys/{}/revoke", made["id"].as_str().unwrap()),
        Some(&w.boss_token),
        &json!({}),
    )
    .await
    .assert_status(200);

    let own = format!("/v1/audit?organisation_id={}", w.council);
    let trail = app.get(&own, Some(&w.boss_token)).await;
    let events = trail.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "member_invited",
            "member_invited",
            "api_key_created",
            "api_key_used",
            "member_disabled",
            "api_key_revoked"
        ],
        "three uses on one day are one step"
    );
    let used = &events[3];
    assert_eq!(used["actor"], made["id"]);
    assert_eq!(used["address"], "127.0.0.1");
    let disabled = &events[4];
    assert_eq!(disabled["actor"], w.boss.as_str());
    assert_eq!(disabled["target"], w.clerk.as_str());
    let text = trail.body.to_string();
    assert!(!text.contains(&key[4..]), "no key in the trail");
    assert!(!text.contains("@hc.example"), "no email in the trail");

    // Who reads which trail.
    app.get(&own, Some(&w.clerk_token))
        .await
        .assert_problem(401);
    app.get(&own, Some(&w.stranger_token))
        .await
        .assert_problem(403);
    app.get("/v1/audit", Some(&w.boss_token))
        .await
        .assert_problem(403);
    let everything = app.get("/v1/audit", Some(&w.admin)).await;
    let everything = everything.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert!(everything.iter().any(|e| e["action"] == "member_added"
        && e["actor"] == "operator"
        && e["organisation_id"].is_null()));
    assert_eq!(
        everything.len(),
        actions.len() + 2,
        "the admin and the other council's"
    );

    // Filters, and the same trail as CSV.
    let by_clerk = app
        .get(&format!("{own}&member_id={}", w.clerk), Some(&w.boss_token))
        .await;
    let by_clerk = by_clerk.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(by_clerk, 3, "invited, made a key, disabled");
    let created = app
        .get(&format!("{own}&action=api_key_created"), Some(&w.admin))
        .await;
    assert_eq!(
        created.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap();
    let window = app
        .get(&format!("{own}&from={tomorrow}"), Some(&w.admin))
        .await;
    assert!(window.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .is_empty());
    let window = app
        .get(&format!("{own}&from={today}&to={today}"), Some(&w.admin))
        .await;
    assert_eq!(
        window.assert_status(200)["items"].as_array().unwrap().len(),
        6
    );
    for refused in ["from=7-12-2026", "to=9999-12-31", "action=member_deleted"] {
        app.get(&format!("{own}&{refused}"), Some(&w.admin))
            .await
            .assert_problem(422);
    }
    // The subjects that name keys and the command line in the trail are not a token's.
    for subject in ["operator", "key_0190"] {
        let spoof = app.token_for(Role::Admin, None, subject);
        app.get("/v1/audit", Some(&spoof)).await.assert_problem(401);
    }
    let csv = app
        .client
        .get(app.url(&format!("/v1/audit.csv?organisation_id={}", w.council)))
        .bearer_auth(&w.boss_token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "id,at,actor,actor_organisation_id,organisation_id,action,target,detail,address"
    );
    assert_eq!(lines.len(), 7);
}

#[tokio::test]
async fn a_key_is_suspended_while_its_maker_no_longer_holds_its_role() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let keys = format!("/v1/organisations/{}/api-keys", w.council);
    let statement = format!("/v1/organisations/{}/statement", w.council);
    let made = app
        .post(
            &keys,
            Some(&w.clerk_token),
            &json!({"name": "Finance system"}),
        )
        .await;
    let key = made.assert_status(201)["key"].as_str().unwrap().to_owned();
    let clerk = format!("/v1/members/{}", w.clerk);
    let state = |reply: &Reply| reply.body["items"][0]["state"].as_str().unwrap().to_owned();
    app.patch(&clerk, Some(&w.boss_token), &json!({"role": "validator"}))
        .await
        .assert_status(200);
    let refused = app.get(&statement, Some(&key)).await;
    assert!(refused.assert_problem(401)["detail"]
        .as_str()
        .unwrap()
        .contains("no longer holds"));
    assert_eq!(
        state(&app.get(&keys, Some(&w.boss_token)).await),
        "suspended"
    );
    app.patch(
        &clerk,
        Some(&w.boss_token),
        &json!({"role": "commissioner"}),
    )
    .await
    .assert_status(200);
    app.get(&statement, Some(&key)).await.assert_status(200);
    assert_eq!(state(&app.get(&keys, Some(&w.boss_token)).await), "active");
    // Enabling a member who is not disabled changes nothing, and writes no step.
    let enabled = app
        .post(
            &format!("/v1/members/{}/enable", w.boss),
            Some(&w.admin),
            &json!({}),
        )
        .await;
    assert_eq!(enabled.assert_status(200)["status"], "invited");
    let steps = app
        .get(
            &format!(
                "/v1/audit?organisation_id={}&action=member_enabled",
                w.council
            ),
            Some(&w.admin),
        )
        .await;
    assert!(steps.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .is_empty());
}
