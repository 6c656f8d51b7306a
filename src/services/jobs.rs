//! Long bulk work as jobs: a large file of claims, or a large verification, is stored with who
//! asked and answered at once (202, with the job's URL); a worker takes it and runs the same
//! use case as the request would have ([`crate::services::claims::bulk`]) in one transaction,
//! so that all of it is applied or none. Rows done are told as the work goes (to this process at once,
//! and written to the job on PostgreSQL, where other processes read it). A process that dies
//! mid-job loses its transaction: the job's lease runs out and a worker takes it again from
//! the start, up to [`MAX_ATTEMPTS`] times; then it is failed, with nothing applied.

use crate::domain::ids::{JobId, ProjectId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::db::models::Job;
use crate::db::queries::new_id;
use crate::db::schema::jobs;
use crate::db::{write_tx, DbConn, Pool};
use crate::domain::access::{decider, Principal};
use crate::domain::claim_reports::{BulkMode, FileRow};
use crate::domain::jobs::JobState;
use crate::services::access::load_visible;
use crate::services::claims::bulk::{self, VerifyTarget};
use crate::services::claims::rules::{project_for_provider, require_agreed};
use crate::services::error::ServiceError;

/// How long a worker holds a job before another may take it (the process that took it is
/// taken to have died): longer than any job of [`crate::api::claims::MAX_BULK_ROWS`] rows runs.
pub const LEASE: Duration = Duration::minutes(15);
/// A job whose process died this many times is failed rather than taken again.
pub const MAX_ATTEMPTS: i32 = 3;

/// What a job does, with what it works on.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum JobInput {
    /// A bulk file of claims, its participants pseudonymised.
    SubmitClaims { mode: BulkMode, rows: Vec<FileRow> },
    /// Claims to verify.
    VerifyClaims { target: VerifyTarget },
}

impl JobInput {
    fn kind(&self) -> &'static str {
        match self {
            JobInput::SubmitClaims { .. } => "submit_claims",
            JobInput::VerifyClaims { .. } => "verify_claims",
        }
    }
}

/// The use case "verify many claims later": refused at once, as the request itself would be,
/// if the caller may not decide the project's claims or the project is not agreed; otherwise
/// queued, in its own transaction, for a worker to run as [`bulk::verify_claims`].
pub fn queue_verification(
    conn: &mut DbConn,
    who: &Principal,
    project_id: &ProjectId,
    target: VerifyTarget,
    rows: usize,
    at: NaiveDateTime,
) -> Result<Job, ServiceError> {
    write_tx(conn, |conn| {
        let project = load_visible(conn, who, project_id)?;
        decider(who, &project.parties())?;
        require_agreed(&project.record)?;
        let input = JobInput::VerifyClaims { target };
        enqueue(conn, who, project_id, &input, rows, at)
    })
}

/// The use case "submit a file later": the project's provider's file, its participants
/// already pseudonymised, queued for a worker to run as [`bulk::submit_file`]. It runs in the
/// caller's write transaction, which a retried request shares (see
/// [`crate::services::idempotency`]).
pub fn queue_submission(
    conn: &mut DbConn,
    who: &Principal,
    project_id: &ProjectId,
    mode: BulkMode,
    rows: Vec<FileRow>,
    at: NaiveDateTime,
) -> Result<Job, ServiceError> {
    project_for_provider(conn, who, project_id)?;
    let total = rows.len();
    let input = JobInput::SubmitClaims { mode, rows };
    let job = enqueue(conn, who, project_id, &input, total, at)?;
    tracing::info!(job_id = %job.id, rows = total, "bulk claims queued as a job");
    Ok(job)
}

/// Stores a job for `who` on `project_id`, queued; `rows` is how many rows it works on.
pub fn enqueue(
    conn: &mut DbConn,
    who: &Principal,
    project_id: &ProjectId,
    input: &JobInput,
    rows: usize,
    at: NaiveDateTime,
) -> Result<Job, ServiceError> {
    let job = Job {
        id: JobId::from(new_id("job")),
        kind: input.kind().to_owned(),
        project_id: project_id.to_owned(),
        subject: who.subject().to_owned(),
        role: who.role(),
        organisation_id: who.organisation().cloned(),
        input: serde_json::to_string(input)
            .map_err(|e| ServiceError::Internal(format!("a job's input: {e}")))?,
        state: JobState::Queued,
        rows_total: rows as i64,
        rows_done: 0,
        attempts: 0,
        lease_until: None,
        result: None,
        created_at: at,
        started_at: None,
        finished_at: None,
    };
    diesel::insert_into(jobs::table)
        .values(&job)
        .execute(conn)?;
    Ok(job)
}

/// The job, for the organisation that asked for it (or an admin); anyone else is told there is
/// none.
pub fn get(conn: &mut DbConn, viewer: &Principal, id: &JobId) -> Result<Job, ServiceError> {
    let not_found = || ServiceError::NotFound("no job with this id that you can see".into());
    let job: Job = jobs::table
        .find(id)
        .select(Job::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(not_found)?;
    let own = match job.organisation_id.as_ref() {
        Some(org) => viewer.acts_for(org),
        None => viewer.subject() == job.subject,
    };
    if viewer.is_admin() || own {
        Ok(job)
    } else {
        Err(not_found())
    }
}

/// Rows done by the jobs this process is running, by job id: read before the stored count.
#[derive(Debug, Clone, Default)]
pub struct RunningJobs(Arc<Mutex<HashMap<String, usize>>>);

impl RunningJobs {
    pub fn rows_done(&self, job_id: &str) -> Option<usize> {
        self.0.lock().ok()?.get(job_id).copied()
    }

    fn set(&self, job_id: &str, done: usize) {
        if let Ok(mut running) = self.0.lock() {
            running.insert(job_id.to_owned(), done);
        }
    }

    fn forget(&self, job_id: &str) {
        if let Ok(mut running) = self.0.lock() {
            running.remove(job_id);
        }
    }
}

/// Takes the oldest job that is queued, or whose lease ran out, for this worker until
/// `now + LEASE`; a job out of attempts is failed instead. One statement per candidate, so that
/// two workers never take the same job. In its own write transaction: on SQLite it waits its
/// turn behind the process's other writers.
pub fn take_next(conn: &mut DbConn, now: NaiveDateTime) -> Result<Option<Job>, ServiceError> {
    write_tx(conn, |conn| take_next_in(conn, now))
}

fn take_next_in(conn: &mut DbConn, now: NaiveDateTime) -> Result<Option<Job>, ServiceError> {
    let (queued, running) = (JobState::Queued, JobState::Running);
    let candidates: Vec<Job> = jobs::table
        .filter(
            jobs::state
                .eq(queued)
                .or(jobs::state.eq(running).and(jobs::lease_until.lt(now))),
        )
        .order(jobs::created_at)
        .limit(5)
        .select(Job::as_select())
        .load(conn)?;
    for job in candidates {
        if job.attempts >= MAX_ATTEMPTS {
            let why =
                "the job was started and interrupted too many times; nothing of it was applied";
            give_up(conn, &job, now, why)?;
            continue;
        }
        let taken = diesel::update(jobs::table.find(&job.id))
            .filter(jobs::state.eq(job.state))
            .filter(jobs::attempts.eq(job.attempts))
            .set((
                jobs::state.eq(running),
                jobs::attempts.eq(job.attempts + 1),
                jobs::lease_until.eq(Some(now + LEASE)),
                jobs::started_at.eq(Some(now)),
            ))
            .execute(conn)?;
        if taken == 1 {
            return Ok(Some(Job {
                state: running.to_owned(),
                attempts: job.attempts + 1,
                ..job
            }));
        }
    }
    Ok(None)
}

/// What the worker is given to run a job: how to show a failure, and the clock.
pub struct Runner<'a> {
    /// A refusal as the request would have answered it (a problem document).
    pub problem: &'a (dyn Fn(ServiceError) -> serde_json::Value + Sync),
    pub running: &'a RunningJobs,
    /// Where progress is written for other processes to read; none on SQLite, whose one
    /// writer is the job itself.
    pub progress_pool: Option<&'a Pool>,
    pub clock: &'a crate::clock::Clock,
}

/// Said by [`finish`] when another worker has taken the job since (this one's lease ran out):
/// this run is rolled back and the other's stands.
const LEASE_LOST: &str = "the job was taken again by another worker";

/// Runs a taken job in one transaction and records how it ended. A file is taken as
/// received when it was sent, so that a job taken again decides as the first run would; a
/// verification is posted when it runs.
pub fn run(conn: &mut DbConn, job: &Job, runner: &Runner) -> Result<JobState, ServiceError> {
    let now = runner.clock.now();
    let input: JobInput = serde_json::from_str(&job.input)
        .map_err(|e| ServiceError::Internal(format!("job {}: its input: {e}", job.id)))?;
    let who = principal_of(job)?;
    let last_written = Mutex::new(std::time::Instant::now());
    let progress = |done: usize| {
        runner.running.set(&job.id, done);
        write_progress(runner.progress_pool, &last_written, &job.id, done);
    };
    let at = job.created_at;
    let outcome = write_tx(conn, |conn| -> Result<String, ServiceError> {
        let report = match &input {
            JobInput::SubmitClaims { mode, rows } => {
                let report = bulk::submit_file(
                    conn,
                    &who,
                    &job.project_id,
                    rows.clone(),
                    *mode,
                    at,
                    &progress,
                )?;
                serde_json::to_string(&report)
            }
            JobInput::VerifyClaims { target } => {
                let report =
                    bulk::verify_claims(conn, &who, &job.project_id, target, now, &progress)?;
                serde_json::to_string(&report)
            }
        }
        .map_err(|e| ServiceError::Internal(format!("a job's report: {e}")))?;
        let done = job.rows_total;
        finish(
            conn,
            job,
            JobState::Succeeded,
            &report,
            done,
            runner.clock.now(),
        )?;
        Ok(report)
    });
    runner.running.forget(&job.id);
    match outcome {
        Ok(_) => Ok(JobState::Succeeded),
        Err(ServiceError::Conflict(lost)) if lost == LEASE_LOST => Ok(JobState::Running),
        // Busy: the database could not serve it now; queued again, to be taken in a moment,
        // and the attempt not counted (only a process that stops counts).
        Err(ServiceError::Busy(e)) => {
            write_tx(conn, |conn| {
                diesel::update(jobs::table.find(&job.id))
                    .filter(jobs::attempts.eq(job.attempts))
                    .set((
                        jobs::state.eq(JobState::Queued),
                        jobs::attempts.eq(job.attempts - 1),
                        jobs::lease_until.eq(None::<NaiveDateTime>),
                    ))
                    .execute(conn)
            })?;
            Err(ServiceError::Busy(e))
        }
        Err(refused) => {
            let problem = (runner.problem)(refused).to_string();
            let failed = write_tx(conn, |conn| {
                finish(conn, job, JobState::Failed, &problem, 0, runner.clock.now())
            });
            match failed {
                Err(ServiceError::Conflict(lost)) if lost == LEASE_LOST => Ok(JobState::Running),
                other => other.map(|()| JobState::Failed),
            }
        }
    }
}

fn principal_of(job: &Job) -> Result<Principal, ServiceError> {
    Principal::new(job.subject.clone(), job.role, job.organisation_id.clone())
        .map_err(|e| ServiceError::Internal(format!("job {}: {e}", job.id)))
}

/// Records how a job ended, if this attempt still holds it ([`LEASE_LOST`] otherwise).
fn finish(
    conn: &mut DbConn,
    job: &Job,
    state: JobState,
    result: &str,
    rows_done: i64,
    now: NaiveDateTime,
) -> Result<(), ServiceError> {
    let finished = diesel::update(jobs::table.find(&job.id))
        .filter(jobs::attempts.eq(job.attempts))
        .filter(jobs::state.eq(JobState::Running))
        .set((
            jobs::state.eq(state),
            jobs::result.eq(Some(result)),
            jobs::rows_done.eq(rows_done),
            jobs::lease_until.eq(None::<NaiveDateTime>),
            jobs::finished_at.eq(Some(now)),
        ))
        .execute(conn)?;
    if finished == 0 {
        return Err(ServiceError::Conflict(LEASE_LOST.into()));
    }
    Ok(())
}

/// Fails a job started too often, with nothing of it applied.
fn give_up(
    conn: &mut DbConn,
    job: &Job,
    now: NaiveDateTime,
    why: &str,
) -> Result<(), ServiceError> {
    let problem = serde_json::json!({
        "type": "/problems/job-interrupted", "title": "Job interrupted", "status": 500, "detail": why,
    });
    diesel::update(jobs::table.find(&job.id))
        .filter(jobs::attempts.eq(job.attempts))
        .set((
            jobs::state.eq(JobState::Failed),
            jobs::result.eq(Some(problem.to_string())),
            jobs::lease_until.eq(None::<NaiveDateTime>),
            jobs::finished_at.eq(Some(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Writes the rows done, at most once a second, on a connection of its own (PostgreSQL only).
fn write_progress(pool: Option<&Pool>, last: &Mutex<std::time::Instant>, id: &JobId, done: usize) {
    let Some(pool) = pool else { return };
    let Ok(mut last) = last.lock() else { return };
    if last.elapsed() < std::time::Duration::from_secs(1) {
        return;
    }
    *last = std::time::Instant::now();
    let written = pool.get().map_err(|e| e.to_string()).and_then(|mut conn| {
        diesel::update(jobs::table.find(id))
            .set(jobs::rows_done.eq(done as i64))
            .execute(&mut *conn)
            .map_err(|e| e.to_string())
    });
    if let Err(e) = written {
        tracing::warn!(job_id = %id, error = %e, "could not write a job's progress");
    }
}
