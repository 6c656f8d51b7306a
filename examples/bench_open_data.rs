//! Fills the published `payments_quarterly` table of a SQLite database with ROWS rows (what
//! 2,500 projects of 10 outcomes and 4 payers would publish over 100 quarters), written
//! through the same code as a rebuild, for `scripts/bench-open-data` to serve and measure.
//!
//! Usage: bench_open_data ROWS DATABASE_PATH

use std::time::Instant;

use chrono::NaiveDate;
use cofund::db::{self, DatabaseUrl};
use cofund::domain::money::Minor;
use cofund::domain::open_data::catalog::table;
use cofund::domain::open_data::rows::quarter_of;
use cofund::domain::open_data::value::{Row, Value};
use cofund::services::open_data::build::append_rows;
use diesel::RunQueryDsl;

const ROWS_PER_TRANSACTION: usize = 50_000;

fn row(n: usize) -> Row {
    let payer = n % 4;
    let outcome = (n / 4) % 10;
    let quarter = (n / 40) % 100;
    let project = n / 4_000;
    let start = NaiveDate::from_ymd_opt(2001, 1, 1).unwrap();
    let period = quarter_of(
        start
            .checked_add_months(chrono::Months::new(3 * quarter as u32))
            .unwrap(),
    );
    let amount = match n % 13 {
        0 => Value::Suppressed,
        k => Value::amount(Minor(((n * 7_919) % 5_000_000) as i64 + k as i64), "GBP"),
    };
    Row::new(
        table("payments_quarterly").unwrap(),
        vec![
            Value::Text(format!("prj_{project:06}")),
            Value::Text(format!("out_{project:06}_{outcome:02}")),
            Value::Date(period.start()),
            Value::Date(period.last_day()),
            Value::Text(format!("org_payer_{project:06}_{payer}")),
            Value::Text(format!("org_provider_{project:06}")),
            amount,
            Value::text("GBP"),
        ],
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows: usize = args
        .get(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000_000);
    let path = args
        .get(2)
        .expect("usage: bench_open_data ROWS DATABASE_PATH");
    let pool = db::connect(&DatabaseUrl::Sqlite(path.clone()), 1).expect("the database opens");
    let mut conn = pool.get().unwrap();
    let payments = table("payments_quarterly").unwrap();
    let started = Instant::now();
    let mut written = 0;
    while written < rows {
        let batch: Vec<Row> = (written..rows.min(written + ROWS_PER_TRANSACTION))
            .map(row)
            .collect();
        db::write_tx(&mut conn, |conn| append_rows(conn, payments, &batch)).unwrap();
        written += batch.len();
        if written % 1_000_000 == 0 {
            eprintln!(
                "bench_open_data: {written} rows written ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    diesel::sql_query(format!(
        "UPDATE published_tables SET row_count = {rows}, built_at = CURRENT_TIMESTAMP WHERE id = 'payments_quarterly'"
    ))
    .execute(&mut *conn)
    .unwrap();
    println!(
        "rows={rows} write_secs={:.1}",
        started.elapsed().as_secs_f64()
    );
}
