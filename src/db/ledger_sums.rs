//! The allocations' sums that `cofund check` compares with everything else: per entry (with
//! the claim and project its allocations name) and per payer. The one read of the ledger's
//! largest table (four rows a claim) that the check needs, done the way each database does
//! it fastest.

use crate::domain::ids::{ClaimId, PayerId, ProjectId};
use diesel::prelude::*;

use super::schema::allocations;
use super::DbConn;

/// The allocations of one entry that name one claim and project, and what their amounts and
/// shortfalls sum to. An entry's allocations all name its own claim and project: two groups
/// for one entry, or a group naming another claim, is a violation for the check to report.
#[derive(Debug, diesel::QueryableByName)]
pub struct EntryAllocations {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub entry_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub claim_id: ClaimId,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub project_id: ProjectId,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub total: i64,
}

/// What one payer of one project was allocated and left short, and in how many allocations.
#[derive(Debug, diesel::QueryableByName)]
pub struct PayerSums {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub project_id: ProjectId,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub payer_id: PayerId,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub allocated: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub shortfall: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub allocations: i64,
}

#[derive(Debug, Default)]
pub struct AllocationSums {
    pub per_entry: Vec<EntryAllocations>,
    pub per_payer: Vec<PayerSums>,
    /// The allocations whose amount or shortfall is not a whole number (SQLite stores what it
    /// is given; PostgreSQL's BIGINT refuses a fraction): read as integers they would be
    /// summed truncated, so they are named instead.
    pub not_whole: Vec<i64>,
    /// While summing on SQLite: each project's payers, as indexes into `per_payer`.
    payers_of: foldhash::HashMap<ProjectId, Vec<usize>>,
}

/// Every allocation summed per entry and per payer.
///
/// PostgreSQL aggregates in the server: two GROUP BYs, and only the sums cross the wire.
/// SQLite runs in this process and sorts the whole table for a GROUP BY by entry: one pass
/// over the rows in the order they were written (an entry's allocations are written
/// together), summed here, reads the table once instead of twice and sorts nothing (for
/// 4,000,000 allocations 2.1–2.4 s, where the two GROUP BYs took 5.6–6.6 s: BENCHMARKS.md).
pub fn allocation_sums(conn: &mut DbConn) -> QueryResult<AllocationSums> {
    match conn {
        DbConn::Pg(_) => grouped_in_the_server(conn),
        DbConn::Sqlite(sqlite) => {
            let whole = diesel::dsl::sql::<diesel::sql_types::Bool>(
                "typeof(amount_minor) = 'integer' AND typeof(shortfall_minor) = 'integer'",
            );
            let rows = allocations::table
                .select((
                    allocations::id,
                    whole,
                    allocations::entry_id,
                    allocations::claim_id,
                    allocations::project_id,
                    allocations::payer_id,
                    allocations::amount_minor,
                    allocations::shortfall_minor,
                ))
                .order(allocations::id)
                .load_iter::<Allocation, diesel::connection::DefaultLoadingMode>(sqlite)?;
            let mut sums = AllocationSums::default();
            for row in rows {
                sums.add(row?)?;
            }
            Ok(sums)
        }
    }
}

/// One allocation as the SQLite pass reads it: id, whether its amounts are whole, entry,
/// claim, project, payer, amount, shortfall.
type Allocation = (i64, bool, String, ClaimId, ProjectId, PayerId, i64, i64);

fn grouped_in_the_server(conn: &mut DbConn) -> QueryResult<AllocationSums> {
    Ok(AllocationSums {
        payers_of: Default::default(),
        not_whole: Vec::new(),
        per_entry: super::dynamic::load(
            conn,
            "SELECT entry_id, claim_id, project_id, \
             CAST(SUM(amount_minor + shortfall_minor) AS BIGINT) AS total \
             FROM allocations GROUP BY entry_id, claim_id, project_id",
            &[],
        )?,
        per_payer: super::dynamic::load(
            conn,
            "SELECT project_id, payer_id, CAST(SUM(amount_minor) AS BIGINT) AS allocated, \
             CAST(SUM(shortfall_minor) AS BIGINT) AS shortfall, \
             CAST(COUNT(*) AS BIGINT) AS allocations \
             FROM allocations GROUP BY project_id, payer_id",
            &[],
        )?,
    })
}

impl AllocationSums {
    /// Adds one allocation to the sums. A sum beyond the range of a 64-bit integer is an
    /// error, as it is in the database's own SUM.
    fn add(&mut self, row: Allocation) -> QueryResult<()> {
        let (id, whole, entry_id, claim_id, project_id, payer_id, amount, shortfall) = row;
        if !whole {
            self.not_whole.push(id);
        }
        let both = plus(amount, shortfall)?;
        let at = self.payer_index(&project_id, payer_id);
        let payer = &mut self.per_payer[at];
        payer.allocated = plus(payer.allocated, amount)?;
        payer.shortfall = plus(payer.shortfall, shortfall)?;
        payer.allocations += 1;
        match self.per_entry.last_mut() {
            Some(last)
                if last.entry_id == entry_id
                    && last.claim_id == claim_id
                    && last.project_id == project_id =>
            {
                last.total = plus(last.total, both)?;
            }
            _ => self.per_entry.push(EntryAllocations {
                entry_id,
                claim_id,
                project_id,
                total: both,
            }),
        }
        Ok(())
    }

    /// Where in `per_payer` the sums of this payer of this project are (added if new). A
    /// project has a handful of payers: found among its own, not by hashing both ids.
    fn payer_index(&mut self, project_id: &ProjectId, payer_id: PayerId) -> usize {
        if let Some(of_project) = self.payers_of.get(project_id) {
            let found = of_project.iter().copied();
            if let Some(at) = found
                .into_iter()
                .find(|&i| self.per_payer[i].payer_id == payer_id)
            {
                return at;
            }
        }
        self.per_payer.push(PayerSums {
            project_id: project_id.clone(),
            payer_id,
            allocated: 0,
            shortfall: 0,
            allocations: 0,
        });
        let at = self.per_payer.len() - 1;
        let of_project = self.payers_of.entry(project_id.clone()).or_default();
        of_project.push(at);
        at
    }
}

/// `a + b`, or the error SQLite's SUM gives where it overflows.
fn plus(a: i64, b: i64) -> QueryResult<i64> {
    a.checked_add(b).ok_or_else(|| {
        diesel::result::Error::DeserializationError("integer overflow summing allocations".into())
    })
}
