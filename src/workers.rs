//! Background work the application runs beside the HTTP server. (SQLite's WAL checkpoints run
//! in a thread owned by the connection pool: see `db::Checkpointer`.)

use std::collections::BTreeSet;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;

use crate::db::{backend_specific, Pool};

/// After a write of this many rows the planner's statistics are refreshed (PostgreSQL).
const BULK_STATISTICS_ROWS: usize = 10_000;

/// Refreshes the planner's statistics of tables after bulk writes, off the request path, in a
/// thread of its own. PostgreSQL sizes a table by its pages when it plans, so statistics one
/// upload old mislead no plan; they are refreshed for the distribution of values. Requests that
/// arrive while a refresh runs are merged into the next one. The thread ends when the
/// application (the last sender) is dropped.
pub struct StatisticsRefresher {
    requests: Mutex<Sender<&'static [&'static str]>>,
}

impl StatisticsRefresher {
    pub fn start(pool: Pool) -> Result<StatisticsRefresher, String> {
        let (sender, receiver) = channel();
        std::thread::Builder::new()
            .name("cofund-statistics".into())
            .spawn(move || refresh_until_closed(&pool, &receiver))
            .map_err(|e| format!("cannot start the statistics worker: {e}"))?;
        Ok(StatisticsRefresher {
            requests: Mutex::new(sender),
        })
    }

    /// Asks for `tables`' statistics to be refreshed after a write of `rows` rows; small
    /// writes ask nothing.
    pub fn after_bulk_write(&self, rows: usize, tables: &'static [&'static str]) {
        if rows < BULK_STATISTICS_ROWS {
            return;
        }
        if let Ok(sender) = self.requests.lock() {
            // The worker only stops once every sender is gone: a send cannot fail before.
            let _ = sender.send(tables);
        }
    }
}

fn refresh_until_closed(pool: &Pool, requests: &Receiver<&'static [&'static str]>) {
    while let Ok(first) = requests.recv() {
        let mut tables: BTreeSet<&'static str> = first.iter().copied().collect();
        tables.extend(requests.try_iter().flat_map(|t| t.iter().copied()));
        let tables: Vec<&str> = tables.into_iter().collect();
        let refreshed = pool.get().map_err(|e| e.to_string()).and_then(|mut conn| {
            backend_specific::refresh_statistics(&mut conn, &tables).map_err(|e| e.to_string())
        });
        if let Err(e) = refreshed {
            tracing::warn!(error = %e, "could not refresh planner statistics after a bulk write");
        }
    }
}

/// Rebuilds the open-data tables from the ledger every `interval`, starting a few seconds
/// after the application starts, in a thread of its own. The thread ends when the
/// application drops this handle. Several processes on one PostgreSQL may each run one: a
/// rebuild takes a lock, so they rebuild one after another, never at once.
pub struct OpenDataRefresher {
    _stop: Mutex<Sender<()>>,
}

/// The first rebuild waits this long, so that start-up (and demo loading) comes first.
const FIRST_OPEN_DATA_REBUILD: std::time::Duration = std::time::Duration::from_secs(3);

impl OpenDataRefresher {
    pub fn start(
        pool: Pool,
        settings: crate::services::open_data::OpenDataSettings,
        clock: crate::clock::Clock,
    ) -> Result<Option<OpenDataRefresher>, String> {
        let Some(interval) = settings.refresh else {
            return Ok(None);
        };
        let (stop, stopped) = channel::<()>();
        std::thread::Builder::new()
            .name("cofund-open-data".into())
            .spawn(move || {
                let mut wait = FIRST_OPEN_DATA_REBUILD;
                // Disconnected (the application is gone) ends the loop; a timeout rebuilds.
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
                    wait = interval;
                    let rebuilt = pool.get().map_err(|e| e.to_string()).and_then(|mut conn| {
                        crate::services::open_data::build::rebuild(&mut conn, settings.rules(), clock.now())
                            .map_err(|e| e.to_string())
                    });
                    match rebuilt {
                        Ok(report) => tracing::info!(
                            projects = report.projects,
                            suppressed_cells = report.suppressed_cells,
                            quarters_frozen = report.quarters_frozen,
                            quarters_waiting = report.quarters_waiting,
                            "open data rebuilt"
                        ),
                        Err(e) => tracing::warn!(error = %e, "could not rebuild the open data; the last tables stay published"),
                    }
                }
            })
            .map_err(|e| format!("cannot start the open-data worker: {e}"))?;
        Ok(Some(OpenDataRefresher {
            _stop: Mutex::new(stop),
        }))
    }
}

/// Runs the jobs of long bulk requests ([`crate::services::jobs`]), one at a time, in a thread
/// of its own that looks for one every second. Several processes on one PostgreSQL may each
/// run one: a job is taken by one of them only. The thread ends when the application drops
/// this handle.
pub struct JobWorker {
    _stop: Mutex<Sender<()>>,
}

/// How long the job worker waits between looks for a job.
const JOB_POLL: std::time::Duration = std::time::Duration::from_secs(1);

impl JobWorker {
    pub fn start(
        pool: Pool,
        settings: crate::config::JobSettings,
        clock: crate::clock::Clock,
        running: crate::services::jobs::RunningJobs,
        problem: fn(crate::services::error::ServiceError) -> serde_json::Value,
    ) -> Result<Option<JobWorker>, String> {
        if !settings.run {
            return Ok(None);
        }
        let (stop, stopped) = channel::<()>();
        std::thread::Builder::new()
            .name("cofund-jobs".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(JOB_POLL)
                {
                    // Every job waiting, one after another, before the next look.
                    while run_one_job(&pool, &clock, &running, problem) {}
                }
            })
            .map_err(|e| format!("cannot start the job worker: {e}"))?;
        Ok(Some(JobWorker {
            _stop: Mutex::new(stop),
        }))
    }
}

/// Takes and runs one job; whether there was one.
fn run_one_job(
    pool: &Pool,
    clock: &crate::clock::Clock,
    running: &crate::services::jobs::RunningJobs,
    problem: fn(crate::services::error::ServiceError) -> serde_json::Value,
) -> bool {
    use crate::services::jobs;
    let Ok(mut conn) = pool.get() else {
        return false;
    };
    let job = match jobs::take_next(&mut conn, clock.now()) {
        Ok(Some(job)) => job,
        Ok(None) => return false,
        Err(e) => {
            tracing::warn!(error = %e, "could not look for a job");
            return false;
        }
    };
    let on_postgres = matches!(&*conn, crate::db::DbConn::Pg(_));
    let runner = jobs::Runner {
        problem: &problem,
        running,
        progress_pool: on_postgres.then_some(pool),
        clock,
    };
    tracing::info!(job_id = %job.id, kind = %job.kind, rows = job.rows_total, attempt = job.attempts, "job started");
    match jobs::run(&mut conn, &job, &runner) {
        Ok(state) => tracing::info!(job_id = %job.id, state = state.as_str(), "job ended"),
        // Left running: its lease runs out and it is taken again.
        Err(e) => {
            tracing::warn!(job_id = %job.id, error = %e, "job interrupted; it will be taken again")
        }
    }
    true
}
