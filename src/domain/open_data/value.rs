//! A published value and its three written forms: JSON, CSV and the stored filter column.

use chrono::{NaiveDate, NaiveDateTime};

use super::catalog::{FieldKind, Table, STORED_AMOUNT_DECIMALS};
use crate::domain::money::{exponent_of, format_minor, Minor};
use crate::domain::spreadsheet::text_cell;

/// What a suppressed cell says in CSV, so that a reader can tell it from an unknown value
/// (an empty cell). JSON has `null` for both; only suppressible columns are ever suppressed,
/// and those are never unknown.
pub const SUPPRESSED: &str = "suppressed";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Integer(i64),
    /// Minor units in `currency`.
    Amount {
        minor: Minor,
        currency: String,
    },
    /// A decimal share as the registry holds it.
    Share(String),
    Date(NaiveDate),
    DateTime(NaiveDateTime),
    /// Not known, or not applicable.
    Empty,
    /// Withheld to protect small numbers.
    Suppressed,
}

impl Value {
    pub fn text(text: &str) -> Value {
        Value::Text(text.to_owned())
    }

    pub fn optional_text(text: Option<&str>) -> Value {
        text.map_or(Value::Empty, Value::text)
    }

    pub fn amount(minor: Minor, currency: &str) -> Value {
        Value::Amount {
            minor,
            currency: currency.to_owned(),
        }
    }

    /// As written in CSV, and (quoted) in JSON for text, amounts, shares and dates.
    pub fn display(&self) -> Option<String> {
        match self {
            Value::Text(t) | Value::Share(t) => Some(t.clone()),
            Value::Integer(n) => Some(n.to_string()),
            Value::Amount { minor, currency } => Some(format_minor(*minor, exponent_of(currency))),
            Value::Date(d) => Some(d.to_string()),
            Value::DateTime(t) => Some(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            Value::Empty | Value::Suppressed => None,
        }
    }

    /// Amounts are strings in JSON, like everywhere in cofund's API: no reader's float
    /// parser rounds them.
    pub fn json(&self) -> serde_json::Value {
        match self {
            Value::Integer(n) => serde_json::Value::from(*n),
            Value::Empty | Value::Suppressed => serde_json::Value::Null,
            other => serde_json::Value::from(other.display().unwrap_or_default()),
        }
    }

    /// As written in CSV: text that a spreadsheet would run as a formula is prefixed with an
    /// apostrophe (`crate::domain::spreadsheet`), as in every CSV cofund writes.
    pub fn csv(&self) -> String {
        match self {
            Value::Suppressed => SUPPRESSED.to_owned(),
            Value::Text(t) => text_cell(t).into_owned(),
            other => other.display().unwrap_or_default(),
        }
    }

    /// The value of the database column (of `kind`) that filters and sorts: amounts as
    /// integer ten-thousandths of the unit, everything else as the text it is written as; a
    /// missing value is a NULL of the column's type.
    pub fn stored(&self, kind: FieldKind) -> Stored {
        match self {
            Value::Integer(n) => Stored::Integer(Some(*n)),
            Value::Amount { minor, currency } => {
                let scale = STORED_AMOUNT_DECIMALS.saturating_sub(exponent_of(currency));
                Stored::Integer(minor.get().checked_mul(10_i64.pow(scale)))
            }
            Value::Empty | Value::Suppressed if kind.stored_as_integer() => Stored::Integer(None),
            Value::Empty | Value::Suppressed => Stored::Text(None),
            other => Stored::Text(other.display()),
        }
    }
}

/// A stored filter value, typed as its column is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Text(Option<String>),
    Integer(Option<i64>),
}

/// One row of a published table: its key (the primary key values joined, which orders the
/// table) and its values in the order of the table's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub key: String,
    pub values: Vec<Value>,
}

impl Row {
    /// A row of `table` from its values; the key is built from the primary key fields.
    pub fn new(table: &Table, values: Vec<Value>) -> Row {
        assert_eq!(
            values.len(),
            table.fields.len(),
            "a value for each field of {}",
            table.name
        );
        let key = table
            .primary_key
            .iter()
            .map(|name| {
                let at = table
                    .fields
                    .iter()
                    .position(|f| f.name == *name)
                    .expect("a key field");
                values[at].display().expect("key fields have values")
            })
            .collect::<Vec<_>>()
            .join("|");
        Row { key, values }
    }

    /// The row as a JSON object, keys in the table's field order.
    pub fn json(&self, table: &Table) -> String {
        let object: serde_json::Map<String, serde_json::Value> = table
            .fields
            .iter()
            .zip(&self.values)
            .map(|(f, v)| (f.name.to_owned(), v.json()))
            .collect();
        serde_json::Value::Object(object).to_string()
    }

    /// The row as one RFC 4180 record, CRLF-terminated.
    pub fn csv(&self) -> String {
        csv_record(self.values.iter().map(Value::csv))
    }

    /// Each field's stored filter value.
    pub fn stored(&self, table: &Table) -> Vec<Stored> {
        table
            .fields
            .iter()
            .zip(&self.values)
            .map(|(f, v)| v.stored(f.kind))
            .collect()
    }

    /// Checks the values against the table's declared kinds: what the declaration promises
    /// readers is what is written.
    pub fn conforms_to(&self, table: &Table) -> bool {
        table.fields.iter().zip(&self.values).all(|(f, v)| match v {
            Value::Empty => !f.required,
            Value::Suppressed => f.suppressible,
            Value::Text(_) => f.kind == FieldKind::Text,
            Value::Integer(_) => f.kind == FieldKind::Integer,
            Value::Amount { .. } => f.kind == FieldKind::Amount,
            Value::Share(_) => f.kind == FieldKind::Share,
            Value::Date(_) => f.kind == FieldKind::Date,
            Value::DateTime(_) => f.kind == FieldKind::DateTime,
        })
    }
}

/// One RFC 4180 record of `cells`, CRLF-terminated.
pub fn csv_record<I, S>(cells: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<[u8]>,
{
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(256));
    writer
        .write_record(cells)
        .expect("writing to memory cannot fail");
    let bytes = writer.into_inner().expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("cells are UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::open_data::catalog::table;

    #[test]
    fn amounts_are_exact_in_every_form() {
        let v = Value::amount(Minor(123_456), "GBP");
        assert_eq!(v.json(), serde_json::json!("1234.56"));
        assert_eq!(v.csv(), "1234.56");
        assert_eq!(
            v.stored(FieldKind::Amount),
            Stored::Integer(Some(12_345_600))
        );
        let yen = Value::amount(Minor(5), "JPY");
        assert_eq!(yen.stored(FieldKind::Amount), Stored::Integer(Some(50_000)));
        // A missing value is a NULL of its column's type (PostgreSQL checks).
        assert_eq!(
            Value::Suppressed.stored(FieldKind::Amount),
            Stored::Integer(None)
        );
        assert_eq!(Value::Empty.stored(FieldKind::Date), Stored::Text(None));
    }

    #[test]
    fn suppressed_and_empty_are_told_apart_in_csv() {
        assert_eq!(Value::Suppressed.csv(), "suppressed");
        assert_eq!(Value::Empty.csv(), "");
        assert_eq!(Value::Suppressed.json(), serde_json::Value::Null);
    }

    #[test]
    fn a_row_keys_itself_by_its_primary_key_and_quotes_its_csv() {
        let t = table("organisations").unwrap();
        let row = Row::new(
            t,
            vec![
                Value::text("org_1"),
                Value::text("Smith, Jones & \"Co\""),
                Value::text("Other"),
                Value::text("provider"),
                Value::Empty,
                Value::DateTime(
                    NaiveDate::from_ymd_opt(2026, 1, 2)
                        .unwrap()
                        .and_hms_opt(3, 4, 5)
                        .unwrap(),
                ),
            ],
        );
        assert_eq!(row.key, "org_1");
        assert!(row.conforms_to(t));
        assert_eq!(
            row.csv(),
            "org_1,\"Smith, Jones & \"\"Co\"\"\",Other,provider,,2026-01-02T03:04:05Z\r\n"
        );
        assert!(row.json(t).starts_with("{\"organisation_id\":\"org_1\""));
    }
}
