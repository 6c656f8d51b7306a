//! A request for a page of a published table, in the conventions of Datasette: filters
//! `column=value`, `column__gt=`, `__gte`, `__lt`, `__lte`, `__in=a,b`; `_sort=` or
//! `_sort_desc=`; `_size=`; `_facet=`; `cursor=`. Parsed here against the table's declaration,
//! so that the SQL built from it names only declared columns and binds every value.

use std::str::FromStr;

use base64::Engine;
use rust_decimal::Decimal;

use super::catalog::{Field, FieldKind, Table, STORED_AMOUNT_DECIMALS};
use super::value::Stored;
use crate::domain::limits::{is_iso_utc_time, parse_iso_date};

pub const DEFAULT_PAGE_SIZE: i64 = 100;
pub const MAX_PAGE_SIZE: i64 = 1_000;
/// Most values of one `__in` filter.
pub const MAX_IN_VALUES: usize = 100;
/// Most distinct values a facet lists.
pub const FACET_VALUES: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
}

impl Op {
    fn parse(suffix: &str) -> Option<Op> {
        Some(match suffix {
            "exact" => Op::Eq,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "in" => Op::In,
            _ => return None,
        })
    }

    pub fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::Lt => "<",
            Op::Lte => "<=",
            Op::In => "IN",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub field: &'static Field,
    pub op: Op,
    pub values: Vec<Stored>,
}

/// The order of a page: by a column (then the row key), or by the row key alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub field: Option<&'static Field>,
    pub descending: bool,
}

/// Where the previous page ended: the sort column's stored value there (absent when null)
/// and the row key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub value: Option<Stored>,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub filters: Vec<Filter>,
    pub sort: Sort,
    pub size: i64,
    pub cursor: Option<Cursor>,
    pub facets: Vec<&'static Field>,
}

impl ListQuery {
    /// Every row, in key order.
    pub fn whole_table() -> ListQuery {
        ListQuery {
            filters: Vec::new(),
            sort: Sort {
                field: None,
                descending: false,
            },
            size: MAX_PAGE_SIZE,
            cursor: None,
            facets: Vec::new(),
        }
    }
}

/// Parses the query string's pairs for `table`. Errors say which column, operator or
/// parameter is wrong and what is accepted.
pub fn parse(table: &'static Table, pairs: &[(String, String)]) -> Result<ListQuery, String> {
    let mut filters = Vec::new();
    let mut sort = Sort {
        field: None,
        descending: false,
    };
    let mut sort_given = false;
    let mut size = DEFAULT_PAGE_SIZE;
    let mut size_given = false;
    let mut cursor_text = None;
    let mut facets = Vec::new();
    for (name, value) in pairs {
        match name.as_str() {
            "_sort" | "_sort_desc" => {
                if sort_given {
                    return Err("give one of _sort and _sort_desc, once".into());
                }
                sort_given = true;
                sort = Sort {
                    field: Some(column(table, value)?),
                    descending: name == "_sort_desc",
                };
            }
            "_size" if size_given => return Err("give _size once".into()),
            "_size" => {
                size_given = true;
                size = page_size(value)?;
            }
            "_facet" => {
                let field = column(table, value)?;
                if !facets.contains(&field) {
                    facets.push(field);
                }
            }
            "cursor" | "_next" if cursor_text.is_some() => return Err("give cursor once".into()),
            "cursor" | "_next" => cursor_text = Some(value.clone()),
            other if other.starts_with('_') => {
                return Err(format!(
                    "unknown parameter {other}: the parameters are _sort, _sort_desc, _size, _facet and cursor"
                ))
            }
            other => filters.push(filter(table, other, value)?),
        }
    }
    let cursor = cursor_text
        .map(|text| decode_cursor(&text, sort))
        .transpose()?;
    Ok(ListQuery {
        filters,
        sort,
        size,
        cursor,
        facets,
    })
}

/// Parses the query string of a whole-table CSV: filters narrow it; the rows come in key
/// order, all of them, so that the page parameters mean nothing there and are refused.
pub fn parse_csv(table: &'static Table, pairs: &[(String, String)]) -> Result<ListQuery, String> {
    if let Some((name, _)) = pairs
        .iter()
        .find(|(name, _)| name.starts_with('_') || name == "cursor")
    {
        return Err(format!(
            "{name} is for pages: the CSV is the whole table in key order, which filters (column=value, column__gte=…) may narrow"
        ));
    }
    parse(table, pairs)
}

fn column(table: &'static Table, name: &str) -> Result<&'static Field, String> {
    table.field(name).ok_or_else(|| {
        let names: Vec<&str> = table.fields.iter().map(|f| f.name).collect();
        format!(
            "{} has no column {name:?}; its columns are {}",
            table.name,
            names.join(", ")
        )
    })
}

fn page_size(value: &str) -> Result<i64, String> {
    value
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
        .ok_or_else(|| format!("_size is a whole number from 1 to {MAX_PAGE_SIZE}"))
}

fn filter(table: &'static Table, name: &str, value: &str) -> Result<Filter, String> {
    let (column_name, op) = match name.rsplit_once("__") {
        Some((column_name, suffix)) => {
            let op = Op::parse(suffix).ok_or_else(|| {
                format!(
                    "unknown operator __{suffix} on {column_name}: the operators are __exact, __gt, __gte, __lt, __lte and __in"
                )
            })?;
            (column_name, op)
        }
        None => (name, Op::Eq),
    };
    let field = column(table, column_name)?;
    let raw: Vec<&str> = if op == Op::In {
        value.split(',').collect()
    } else {
        vec![value]
    };
    if raw.len() > MAX_IN_VALUES {
        return Err(format!("{name} lists more than {MAX_IN_VALUES} values"));
    }
    let values = raw
        .into_iter()
        .map(|v| stored_value(field, v).map_err(|e| format!("{name}: {e}")))
        .collect::<Result<_, _>>()?;
    Ok(Filter { field, op, values })
}

/// A filter or cursor value as the column stores it.
pub fn stored_value(field: &Field, value: &str) -> Result<Stored, String> {
    // No published value holds a NUL, and PostgreSQL refuses one in text.
    if value.contains('\0') {
        return Err("a value cannot hold a NUL character".into());
    }
    match field.kind {
        FieldKind::Text => Ok(Stored::Text(Some(value.to_owned()))),
        // Shares are stored as the registry normalises them (`0.3`, never `0.30`).
        FieldKind::Share => Decimal::from_str(value)
            .ok()
            .filter(|d| (Decimal::ZERO..=Decimal::ONE).contains(d))
            .map(|d| Stored::Text(Some(d.normalize().to_string())))
            .ok_or_else(|| format!("{value:?} is not a share from 0 to 1 such as 0.3")),
        FieldKind::Integer => value
            .parse::<i64>()
            .map(|n| Stored::Integer(Some(n)))
            .map_err(|_| format!("{value:?} is not a whole number")),
        FieldKind::Amount => {
            let not_an_amount = || {
                format!(
                    "{value:?} is not an amount with at most {STORED_AMOUNT_DECIMALS} decimal places"
                )
            };
            let decimal = Decimal::from_str(value).map_err(|_| not_an_amount())?;
            if decimal.scale() > STORED_AMOUNT_DECIMALS {
                return Err(not_an_amount());
            }
            let scaled = decimal
                .checked_mul(Decimal::from(10_i64.pow(STORED_AMOUNT_DECIMALS)))
                .and_then(|d| i64::try_from(d.trunc()).ok())
                .ok_or_else(not_an_amount)?;
            Ok(Stored::Integer(Some(scaled)))
        }
        FieldKind::Date => parse_iso_date(value)
            .map(|d| Stored::Text(Some(d.to_string())))
            .ok_or_else(|| format!("{value:?} is not a date such as 2026-03-31")),
        FieldKind::DateTime => {
            // Compared as text with the stored `YYYY-MM-DDTHH:MM:SSZ`: only that shape, or a
            // date alone, compares in order.
            if is_iso_utc_time(value) || parse_iso_date(value).is_some() {
                Ok(Stored::Text(Some(value.to_owned())))
            } else {
                Err(format!(
                    "{value:?} is not a date such as 2026-03-31 or a time such as 2026-03-31T09:00:00Z"
                ))
            }
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CursorJson {
    /// The sort column, or none for the row key; a cursor is only valid under its own sort.
    sort: Option<String>,
    descending: bool,
    value: Option<String>,
    key: String,
}

/// An opaque cursor: the position after the last row of a page, under `sort`.
pub fn encode_cursor(sort: Sort, value: Option<String>, key: &str) -> String {
    let json = CursorJson {
        sort: sort.field.map(|f| f.name.to_owned()),
        descending: sort.descending,
        value,
        key: key.to_owned(),
    };
    let bytes = serde_json::to_vec(&json).expect("a cursor serialises");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_cursor(text: &str, sort: Sort) -> Result<Cursor, String> {
    let bad = || {
        "cursor is not one this table gave out for this order; start again without it".to_owned()
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| bad())?;
    let json: CursorJson = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    // No table gives out a cursor with a control character, and PostgreSQL refuses a NUL in
    // text: such a cursor is malformed, like any other.
    let has_control = |t: &str| t.chars().any(char::is_control);
    if json.key.chars().any(char::is_control) || json.value.as_deref().is_some_and(has_control) {
        return Err(bad());
    }
    if json.sort.as_deref() != sort.field.map(|f| f.name) || json.descending != sort.descending {
        return Err(bad());
    }
    let value = match (sort.field, json.value) {
        // The value as the column stores it (amounts already scaled), not as a reader writes it.
        (Some(field), Some(v)) if field.kind.stored_as_integer() => {
            Some(Stored::Integer(Some(v.parse().map_err(|_| bad())?)))
        }
        (Some(_), Some(v)) => Some(Stored::Text(Some(v))),
        _ => None,
    };
    Ok(Cursor {
        value,
        key: json.key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::open_data::catalog::table;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn filters_sorts_and_facets_parse_against_the_declaration() {
        let t = table("payments_quarterly").unwrap();
        let q = parse(
            t,
            &pairs(&[
                ("money_amount__gte", "1000.5"),
                ("payer_organisation_id__in", "a,b"),
                ("_sort_desc", "money_amount"),
                ("_size", "10"),
                ("_facet", "payer_organisation_id"),
            ]),
        )
        .unwrap();
        assert_eq!(q.filters[0].values, vec![Stored::Integer(Some(10_005_000))]);
        assert_eq!(q.filters[1].op, Op::In);
        assert_eq!(q.filters[1].values.len(), 2);
        assert!(q.sort.descending);
        assert_eq!(q.size, 10);
        assert_eq!(q.facets[0].name, "payer_organisation_id");
    }

    #[test]
    fn unknown_columns_operators_and_bad_values_are_named() {
        let t = table("funds").unwrap();
        let err = |list: &[(&str, &str)]| parse(t, &pairs(list)).unwrap_err();
        assert!(err(&[("colour", "red")]).contains("no column \"colour\""));
        assert!(err(&[("name__like", "x")]).contains("unknown operator __like"));
        assert!(err(&[("budget_amount__gt", "lots")]).contains("budget_amount__gt"));
        assert!(err(&[("budget_amount", "1.00001")]).contains("at most 4 decimal places"));
        assert!(err(&[("start_date", "2026-02-30")]).contains("not a date"));
        assert!(err(&[("_size", "0")]).contains("_size"));
        assert!(err(&[("_size", "1001")]).contains("_size"));
        assert!(err(&[("_sort", "nope")]).contains("no column"));
        assert!(err(&[("_shape", "array")]).contains("unknown parameter _shape"));
        assert!(err(&[("_size", "1"), ("_size", "3")]).contains("once"));
        let payers = table("project_payers").unwrap();
        let share = parse(payers, &pairs(&[("share", "0.30")])).unwrap();
        assert_eq!(
            share.filters[0].values,
            vec![Stored::Text(Some("0.3".into()))]
        );
        assert!(parse(payers, &pairs(&[("share", "1.5")])).is_err());
        assert!(parse_csv(t, &pairs(&[("_sort", "name")]))
            .unwrap_err()
            .contains("whole table"));
        assert!(parse_csv(t, &pairs(&[("name", "x")])).is_ok());
    }

    #[test]
    fn a_cursor_round_trips_under_its_own_order_only() {
        let t = table("funds").unwrap();
        let by_budget = Sort {
            field: t.field("budget_amount"),
            descending: true,
        };
        let cursor = encode_cursor(by_budget, Some("15000000".into()), "fund_1");
        let q = parse(
            t,
            &pairs(&[("_sort_desc", "budget_amount"), ("cursor", &cursor)]),
        )
        .unwrap();
        assert_eq!(
            q.cursor,
            Some(Cursor {
                value: Some(Stored::Integer(Some(15_000_000))),
                key: "fund_1".into()
            })
        );
        assert!(parse(
            t,
            &pairs(&[("_sort", "budget_amount"), ("cursor", &cursor)])
        )
        .is_err());
        assert!(parse(t, &pairs(&[("cursor", "not-a-cursor")])).is_err());
        for (value, key) in [(Some("1\u{0}"), "fund_1"), (None, "fund\u{0}1")] {
            let by_key = Sort {
                field: None,
                descending: false,
            };
            let nul = encode_cursor(by_key, value.map(str::to_owned), key);
            assert!(
                parse(t, &pairs(&[("cursor", &nul)])).is_err(),
                "{value:?} {key:?}"
            );
        }
        assert!(parse(t, &pairs(&[("name", "a\u{0}b")])).is_err());
    }
}
