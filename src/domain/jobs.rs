//! The vocabulary of long bulk requests run by a worker (see `services::jobs`).

string_enum! {
    /// Where a job stands.
    JobState {
        /// Waiting for a worker.
        Queued => "queued",
        /// A worker is running it.
        Running => "running",
        /// Done: `result` is the report the request would have answered.
        Succeeded => "succeeded",
        /// Refused or given up: `problem` says why; nothing of it was applied.
        Failed => "failed",
    }
}
