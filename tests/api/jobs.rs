//! Long bulk work as jobs: a large file (or one sent with `Prefer: respond-async`) is answered
//! 202 with the job's URL, run by a worker in one transaction, and reported as the request
//! would have been; a job outlives the process that took it.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;
use cofund::api::auth::Role;
use cofund::config::JobSettings;

struct Setup {
    project: String,
    provider: String,
    provider_token: String,
    validator_token: String,
}

async fn setup(app: &TestApp) -> Setup {
    let p = parties(app).await;
    let created = app
        .post("/v1/projects", Some(&app.admin()), &project_body(&p))
        .await;
    let project = created.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Setup {
        project,
        provider_token: app.token(Role::Provider, Some(&p.provider)),
        validator_token: app.token(Role::Validator, Some(&p.validator)),
        provider: p.provider,
    }
}

/// Three rows, the last naming an outcome the rate card does not have.
const FILE: &str = "participant_ref,outcome_code,achieved_on\n\
    J-1,emp_13w,2021-03-01\nJ-2,emp_13w,2021-03-02\nJ-3,no_such_outcome,2021-03-03\n";

/// An app whose workers take no job, so that a test sees each job queued: a file of more than
/// `rows` rows, or one sent with `Prefer: respond-async`, waits as a job.
async fn app_holding_jobs(rows: usize) -> TestApp {
    spawn_app_with(Options {
        jobs: JobSettings { rows, run: false },
        ..Options::default()
    })
    .await
}

async fn send_file(app: &TestApp, s: &Setup, mode: &str, prefer: Option<&str>) -> (Reply, String) {
    let mut request = app
        .client
        .post(app.url(&format!(
            "/v1/projects/{}/claims/bulk?mode={mode}",
            s.project
        )))
        .bearer_auth(&s.provider_token)
        .header("content-type", "text/csv")
        .body(FILE);
    if let Some(prefer) = prefer {
        request = request.header("prefer", prefer);
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let location = header("location");
    if response.status().as_u16() == 202 {
        assert_eq!(header("preference-applied"), "respond-async");
    }
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let reply = Reply {
        status,
        content_type: String::new(),
        body,
    };
    (reply, location)
}

/// Polls the job until it has ended; returns it.
async fn ended(app: &TestApp, token: &str, location: &str) -> Value {
    let started = Instant::now();
    loop {
        let job = app.get(location, Some(token)).await;
        let job = job.assert_status(200).clone();
        if job["state"] == "succeeded" || job["state"] == "failed" {
            return job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the job never ended: {job}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn bulk_work_asked_to_run_async_is_a_job_that_reports_as_the_request_would() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let (accepted, location) = send_file(&app, &s, "accept_valid", Some("respond-async")).await;
    let job = accepted.assert_status(202).clone();
    assert_eq!(
        location,
        format!("/v1/jobs/{}", job["id"].as_str().unwrap())
    );
    assert_eq!(
        (job["kind"].clone(), job["rows_total"].clone()),
        (json!("submit_claims"), json!(3))
    );
    assert_eq!(
        job["rows_done"].as_i64().unwrap() + job["rows_left"].as_i64().unwrap(),
        3
    );

    let done = ended(&app, &s.provider_token, &location).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(
        (done["rows_done"].clone(), done["rows_left"].clone()),
        (json!(3), json!(0))
    );
    let report = &done["result"];
    assert_eq!(
        (report["stored"].clone(), report["rejected"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(
        report["results"][2]["reasons"][0]["code"],
        "unknown_outcome"
    );
    assert_eq!(app.count("claims"), 2);
    // The participant references were pseudonymised before the job was stored.
    #[derive(diesel::QueryableByName)]
    struct Input {
        #[diesel(sql_type = diesel::sql_types::Text)]
        input: String,
    }
    let inputs: Vec<Input> = {
        use diesel::RunQueryDsl;
        let mut conn = app.pool.get().unwrap();
        diesel::sql_query("SELECT input FROM jobs")
            .load(&mut conn)
            .unwrap()
    };
    assert_eq!(inputs.len(), 1);
    assert!(!inputs[0].input.contains("J-1"), "{}", inputs[0].input);

    // The upload verified as a job too.
    let upload = report["upload_id"].as_str().unwrap();
    let verify = app
        .post_with(
            &format!("/v1/projects/{}/claims/verify", s.project),
            Some(&s.validator_token),
            &json!({"upload_id": upload}),
            &[("Prefer", "respond-async")],
        )
        .await;
    let job = verify.assert_status(202).clone();
    let location = format!("/v1/jobs/{}", job["id"].as_str().unwrap());
    let done = ended(&app, &s.validator_token, &location).await;
    assert_eq!(done["result"]["verified"], 2, "{done}");
    assert!(app.count("allocations") > 0);

    // A job is its own organisation's: anyone else is told there is none.
    let stranger = app.org("Another provider", "provider", &[]).await;
    let stranger = app.token(Role::Provider, Some(&stranger));
    app.get(&location, Some(&stranger))
        .await
        .assert_problem(404);
    // Without the header, a small file is answered at once, as before.
    let (at_once, _) = send_file(&app, &s, "accept_valid", None).await;
    at_once.assert_status(201);
}

#[tokio::test]
async fn an_all_or_nothing_job_with_a_bad_row_fails_with_the_problem_and_stores_nothing() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let (accepted, location) = send_file(&app, &s, "all_or_nothing", Some("respond-async")).await;
    accepted.assert_status(202);
    let done = ended(&app, &s.provider_token, &location).await;
    assert_eq!(done["state"], "failed");
    let problem = &done["problem"];
    assert_eq!(
        (problem["status"].clone(), problem["type"].clone()),
        (json!(422), json!("/problems/bulk-rejected"))
    );
    assert_eq!(problem["rejected"], 1);
    assert_eq!(done["result"], Value::Null);
    assert_eq!(app.count("claims"), 0);
    assert_eq!(app.count("bulk_uploads"), 0);
}

#[tokio::test]
async fn a_file_beyond_the_job_size_is_a_job_and_a_job_outlives_the_process_that_took_it() {
    // This server runs no jobs, as if it stopped before taking them; its files of more than
    // two rows are jobs.
    let app = app_holding_jobs(2).await;
    let s = setup(&app).await;
    let (accepted, location) = send_file(&app, &s, "accept_valid", None).await;
    accepted.assert_status(202);
    // Another whose process died mid-job: taken once, its lease run out.
    let (second, abandoned) = send_file(&app, &s, "accept_valid", Some("respond-async")).await;
    second.assert_status(202);
    let abandoned_id = abandoned.trim_start_matches("/v1/jobs/");
    app.execute_sql(&format!(
        "UPDATE jobs SET state = 'running', attempts = 1, lease_until = '2000-01-01 00:00:00' WHERE id = '{abandoned_id}'"
    ))
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let waiting = app.get(&location, Some(&s.provider_token)).await;
    assert_eq!(waiting.assert_status(200)["state"], "queued");

    // A second process of the same deployment takes both and runs each from the start.
    app.second_server().await;
    let done = ended(&app, &s.provider_token, &location).await;
    assert_eq!(
        (done["state"].clone(), done["attempts"].clone()),
        (json!("succeeded"), json!(1))
    );
    let done = ended(&app, &s.provider_token, &abandoned).await;
    assert_eq!(
        (done["state"].clone(), done["attempts"].clone()),
        (json!("succeeded"), json!(2))
    );
    // The second file's rows are duplicates of the first's, reported as the request would.
    assert_eq!(done["result"]["stored"], 0, "{done}");
    assert_eq!(app.count("claims"), 2);

    // One interrupted too often is failed, with nothing applied.
    let (third, given_up) = send_file(&app, &s, "accept_valid", Some("respond-async")).await;
    third.assert_status(202);
    let id = given_up.trim_start_matches("/v1/jobs/");
    app.execute_sql(&format!(
        "UPDATE jobs SET state = 'running', attempts = 3, lease_until = '2000-01-01 00:00:00' WHERE id = '{id}'"
    ))
    .unwrap();
    let done = ended(&app, &s.provider_token, &given_up).await;
    assert_eq!(done["state"], "failed");
    assert_eq!(done["problem"]["type"], "/problems/job-interrupted");
    let _ = s.provider;
}

#[tokio::test]
async fn a_retried_bulk_file_is_answered_as_it_first_was_whatever_it_prefers_now() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let send = |key: &'static str, prefer: Option<&'static str>| {
        let mut request = app
            .client
            .post(app.url(&format!(
                "/v1/projects/{}/claims/bulk?mode=accept_valid",
                s.project
            )))
            .bearer_auth(&s.provider_token)
            .header("content-type", "text/csv")
            .header("idempotency-key", key)
            .body(FILE);
        if let Some(prefer) = prefer {
            request = request.header("prefer", prefer);
        }
        async move {
            let response = request.send().await.unwrap();
            let location = response
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned());
            (
                response.status().as_u16(),
                location,
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    // First at once, then retried asking for a job: the report again, not a job.
    let (status, _, first) = send("k-sync", None).await;
    assert_eq!(status, 201);
    let (status, location, again) = send("k-sync", Some("respond-async")).await;
    assert_eq!((status, location, again), (201, None, first));
    // First as a job (a preference with a parameter is still that preference), then retried
    // without: the same job.
    let (status, location, job) = send("k-async", Some("respond-async; wait=5")).await;
    assert_eq!(status, 202);
    let location = location.unwrap();
    assert_eq!(
        location,
        format!("/v1/jobs/{}", job["id"].as_str().unwrap())
    );
    let (status, again_location, again) = send("k-async", None).await;
    assert_eq!(
        (status, again_location.as_deref(), again["id"].clone()),
        (202, Some(location.as_str()), job["id"].clone())
    );
    assert_eq!(app.count("jobs"), 1);
}

#[tokio::test]
async fn a_run_that_lost_its_job_to_another_worker_rolls_back_and_leaves_the_job_to_it() {
    use cofund::domain::jobs::JobState;
    use cofund::services::jobs::{self, Runner, RunningJobs};
    let app = app_holding_jobs(100_000).await;
    let s = setup(&app).await;
    let (accepted, location) = send_file(&app, &s, "accept_valid", Some("respond-async")).await;
    let id = accepted.assert_status(202)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut conn = app.pool.get().unwrap();
    let job = jobs::take_next(&mut conn, app.clock.now())
        .unwrap()
        .unwrap();
    assert_eq!(job.id, id);
    // Its lease ran out and another worker took it meanwhile.
    app.execute_sql(&format!("UPDATE jobs SET attempts = 2 WHERE id = '{id}'"))
        .unwrap();
    let runner = Runner {
        problem: &|e| json!(e.to_string()),
        running: &RunningJobs::default(),
        progress_pool: None,
        clock: &app.clock,
    };
    let state = jobs::run(&mut conn, &job, &runner).unwrap();
    assert_eq!(state, JobState::Running, "the other worker's run stands");
    assert_eq!(app.count("claims"), 0, "this run was rolled back");
    drop(conn);
    let left = app.get(&location, Some(&s.provider_token)).await;
    let left = left.assert_status(200).clone();
    assert_eq!(
        (left["state"].clone(), left["attempts"].clone()),
        (json!("running"), json!(2))
    );
}

#[tokio::test]
async fn a_job_whose_stored_role_is_unknown_is_not_read_as_another_and_check_names_it() {
    let app = app_holding_jobs(100_000).await;
    let s = setup(&app).await;
    let (accepted, location) = send_file(&app, &s, "accept_valid", Some("respond-async")).await;
    accepted.assert_status(202);
    app.execute_sql("UPDATE jobs SET role = 'superuser'")
        .unwrap();
    // The job is not shown, nor run, as a job of some role it was not asked in.
    app.get(&location, Some(&s.provider_token))
        .await
        .assert_problem(500);
    let out = app.cofund(&["check"]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        report.contains("jobs asked in the role 'superuser', which cofund does not know"),
        "{report}"
    );
    app.execute_sql("UPDATE jobs SET role = 'provider'")
        .unwrap();
    app.get(&location, Some(&s.provider_token))
        .await
        .assert_status(200);
}
