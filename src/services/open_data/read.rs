//! Reading the published tables: a page with filters, order, cursor and facets; the index of
//! tables; and whole tables in key order, a page at a time, for the CSV stream and releases.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use rust_decimal::Decimal;

use crate::db::dynamic::{self, Param};
use crate::db::schema::published_tables;
use crate::db::DbConn;
use crate::domain::open_data::catalog::{Field, FieldKind, Table, STORED_AMOUNT_DECIMALS};
use crate::domain::open_data::query::{encode_cursor, ListQuery, Op, FACET_VALUES};
use crate::domain::open_data::value::Stored;
use crate::services::error::ServiceError;

/// One published table's size and when it was last rebuilt.
#[derive(Debug, Clone, Queryable)]
pub struct TableState {
    pub name: String,
    pub row_count: i64,
    pub built_at: Option<NaiveDateTime>,
}

pub fn table_states(conn: &mut DbConn) -> Result<Vec<TableState>, ServiceError> {
    Ok(published_tables::table
        .order(published_tables::id)
        .select((
            published_tables::id,
            published_tables::row_count,
            published_tables::built_at,
        ))
        .load(conn)?)
}

/// A page of rows (each already JSON), the cursor after it, and the facets asked for.
#[derive(Debug)]
pub struct RowPage {
    pub rows: Vec<String>,
    pub next_cursor: Option<String>,
    pub facets: Vec<Facet>,
}

#[derive(Debug)]
pub struct Facet {
    pub column: &'static str,
    pub values: Vec<(serde_json::Value, i64)>,
}

#[derive(QueryableByName)]
struct PageRow {
    #[diesel(sql_type = Text)]
    row_key: String,
    #[diesel(sql_type = Text)]
    row_json: String,
    #[diesel(sql_type = Nullable<Text>)]
    sort_value: Option<String>,
}

#[derive(QueryableByName)]
struct FacetRow {
    #[diesel(sql_type = Nullable<Text>)]
    value: Option<String>,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

fn param(value: &Stored) -> Param {
    match value {
        Stored::Text(t) => Param::Text(t.clone()),
        Stored::Integer(n) => Param::BigInt(*n),
    }
}

/// The WHERE conditions of the query's filters, with their parameters.
fn filter_sql(query: &ListQuery, params: &mut Vec<Param>) -> Vec<String> {
    query
        .filters
        .iter()
        .map(|f| {
            params.extend(f.values.iter().map(param));
            match f.op {
                Op::In => format!(
                    "{} IN ({})",
                    f.field.name,
                    vec!["?"; f.values.len()].join(", ")
                ),
                op => format!("{} {} ?", f.field.name, op.sql()),
            }
        })
        .collect()
}

/// The keyset condition after `query.cursor`. Rows are ordered by the sort column with nulls
/// last, then by row key; a cursor names the last row's sort value and key.
fn cursor_sql(query: &ListQuery, params: &mut Vec<Param>) -> Option<String> {
    let cursor = query.cursor.as_ref()?;
    let key = Param::text(&cursor.key);
    Some(match (query.sort.field, &cursor.value) {
        (None, _) => {
            params.push(key);
            "row_key > ?".to_owned()
        }
        (Some(field), None) => {
            params.push(key);
            format!("({} IS NULL AND row_key > ?)", field.name)
        }
        (Some(field), Some(value)) => {
            let beyond = if query.sort.descending { "<" } else { ">" };
            params.extend([param(value), param(value), key]);
            let c = field.name;
            format!("(({c} IS NOT NULL AND ({c} {beyond} ? OR ({c} = ? AND row_key > ?))) OR {c} IS NULL)")
        }
    })
}

fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

/// One page of `table` as `query` asks.
pub fn page(conn: &mut DbConn, table: &Table, query: &ListQuery) -> Result<RowPage, ServiceError> {
    let mut params = Vec::new();
    let mut conditions = filter_sql(query, &mut params);
    conditions.extend(cursor_sql(query, &mut params));
    let (sort_value, order) = match query.sort.field {
        None => ("CAST(NULL AS TEXT)".to_owned(), "row_key".to_owned()),
        Some(f) => (
            format!("CAST({} AS TEXT)", f.name),
            format!(
                "CASE WHEN {c} IS NULL THEN 1 ELSE 0 END, {c} {dir}, row_key",
                c = f.name,
                dir = if query.sort.descending { "DESC" } else { "ASC" }
            ),
        ),
    };
    let sql = format!(
        "SELECT row_key, row_json, {sort_value} AS sort_value FROM {}{} ORDER BY {order} LIMIT ?",
        table.stored_in(),
        where_clause(&conditions),
    );
    // One more than the page: a cursor is given only when a next page has rows.
    params.push(Param::BigInt(Some(query.size + 1)));
    let mut rows: Vec<PageRow> = dynamic::load(conn, &sql, &params)?;
    let more = rows.len() as i64 > query.size;
    rows.truncate(query.size as usize);
    let next_cursor = match rows.last() {
        Some(last) if more => Some(encode_cursor(
            query.sort,
            last.sort_value.clone(),
            &last.row_key,
        )),
        _ => None,
    };
    let facets = query
        .facets
        .iter()
        .map(|field| facet(conn, table, query, field))
        .collect::<Result<_, _>>()?;
    Ok(RowPage {
        rows: rows.into_iter().map(|r| r.row_json).collect(),
        next_cursor,
        facets,
    })
}

/// The commonest values of `field` among the filtered rows, with their counts.
fn facet(
    conn: &mut DbConn,
    table: &Table,
    query: &ListQuery,
    field: &'static Field,
) -> Result<Facet, ServiceError> {
    let mut params = Vec::new();
    let conditions = filter_sql(query, &mut params);
    let c = field.name;
    let sql = format!(
        "SELECT CAST({c} AS TEXT) AS value, CAST(COUNT(*) AS BIGINT) AS count FROM {}{} \
         GROUP BY {c} ORDER BY count DESC, {c} LIMIT {FACET_VALUES}",
        table.stored_in(),
        where_clause(&conditions),
    );
    let rows: Vec<FacetRow> = dynamic::load(conn, &sql, &params)?;
    Ok(Facet {
        column: c,
        values: rows
            .into_iter()
            .map(|r| (facet_value(field, r.value), r.count))
            .collect(),
    })
}

/// A stored value as the JSON rows write it.
fn facet_value(field: &Field, stored: Option<String>) -> serde_json::Value {
    let Some(text) = stored else {
        return serde_json::Value::Null;
    };
    match field.kind {
        FieldKind::Integer => text
            .parse::<i64>()
            .map_or(serde_json::Value::Null, Into::into),
        FieldKind::Amount => text.parse::<i64>().map_or(serde_json::Value::Null, |n| {
            Decimal::new(n, STORED_AMOUNT_DECIMALS)
                .normalize()
                .to_string()
                .into()
        }),
        _ => text.into(),
    }
}

#[derive(QueryableByName)]
struct CsvRow {
    #[diesel(sql_type = Text)]
    row_key: String,
    #[diesel(sql_type = Text)]
    row_csv: String,
}

/// Up to `limit` CSV records of `table` that pass `query`'s filters, after row key `after`
/// (from the start when none), in key order, with the key of the last.
fn csv_records(
    conn: &mut DbConn,
    table: &Table,
    query: &ListQuery,
    after: Option<&str>,
    limit: i64,
) -> Result<(String, Option<String>), ServiceError> {
    let mut params = Vec::new();
    let mut conditions = filter_sql(query, &mut params);
    if let Some(key) = after {
        conditions.push("row_key > ?".into());
        params.push(Param::text(key));
    }
    params.push(Param::BigInt(Some(limit)));
    let sql = format!(
        "SELECT row_key, row_csv FROM {}{} ORDER BY row_key LIMIT ?",
        table.stored_in(),
        where_clause(&conditions)
    );
    let rows: Vec<CsvRow> = dynamic::load(conn, &sql, &params)?;
    let last = if rows.len() as i64 == limit {
        rows.last().map(|r| r.row_key.clone())
    } else {
        None
    };
    let mut text = String::with_capacity(rows.iter().map(|r| r.row_csv.len()).sum());
    for row in &rows {
        text.push_str(&row.row_csv);
    }
    Ok((text, last))
}

/// Writes `table` as CSV (the header of machine names, then every row that passes `query`'s
/// filters, in key order), `page_rows` rows per query, handing each piece to `emit`; stops
/// early when `emit` returns false (the reader went away).
pub fn write_csv(
    conn: &mut DbConn,
    table: &Table,
    query: &ListQuery,
    page_rows: i64,
    mut emit: impl FnMut(String) -> bool,
) -> Result<(), ServiceError> {
    let header = crate::domain::open_data::value::csv_record(table.fields.iter().map(|f| f.name));
    if !emit(header) {
        return Ok(());
    }
    let mut after: Option<String> = None;
    loop {
        let (chunk, last) = csv_records(conn, table, query, after.as_deref(), page_rows)?;
        if !emit(chunk) {
            return Ok(());
        }
        match last {
            Some(key) => after = Some(key),
            None => return Ok(()),
        }
    }
}

/// Runs `read` in one read-only transaction, so that every query in it sees the tables as
/// one rebuild left them (PostgreSQL: repeatable read; SQLite: a read transaction holds its
/// snapshot).
pub fn in_snapshot<T>(
    conn: &mut DbConn,
    read: impl FnOnce(&mut DbConn) -> Result<T, ServiceError>,
) -> Result<T, ServiceError> {
    conn.transaction(|conn| {
        if let DbConn::Pg(_) = conn {
            dynamic::execute(
                conn,
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                &[],
            )?;
        }
        read(conn)
    })
}

#[derive(QueryableByName)]
struct JsonRow {
    #[diesel(sql_type = Text)]
    row_json: String,
}

/// The rows of `table` (one with a `project_id` column) that belong to one project, as JSON
/// objects, in key order.
pub fn project_rows(
    conn: &mut DbConn,
    table: &Table,
    project_id: &str,
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, ServiceError> {
    let sql = format!(
        "SELECT row_json FROM {} WHERE project_id = ? ORDER BY row_key",
        table.stored_in()
    );
    let rows: Vec<JsonRow> = dynamic::load(conn, &sql, &[Param::text(project_id)])?;
    rows.into_iter()
        .map(|r| {
            serde_json::from_str(&r.row_json)
                .map_err(|e| ServiceError::Internal(format!("a stored row is not JSON: {e}")))
        })
        .collect()
}
