//! One published project as an INDIGO (v4) project document, from the project's rows in the
//! published tables: what INDIGO's own tools read, valid against INDIGO's project schema.
//! Every value carries its `status`; a value withheld to protect small numbers is `PRIVATE`
//! with no `value` at all (the schema allows none, not `null`) and a note saying why; a value
//! not known is left out.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{json, Map, Value as Json};

/// The published rows of one project, as the JSON API writes them.
pub struct ProjectTables<'a> {
    pub project: &'a Map<String, Json>,
    pub payers: &'a [Map<String, Json>],
    pub metrics: &'a [Map<String, Json>],
    pub results: &'a [Map<String, Json>],
    pub payments: &'a [Map<String, Json>],
    /// The suppression threshold, for the note on withheld values.
    pub k: i64,
}

struct Writer<'a> {
    withheld_note: String,
    row: &'a Map<String, Json>,
    suppressible: &'a [&'a str],
}

impl Writer<'_> {
    /// `{"value": …, "status": "PUBLIC"}`; `PRIVATE` and a note when withheld; none when the
    /// value is not known.
    fn value(&self, column: &str) -> Option<Json> {
        match self.row.get(column) {
            Some(Json::Null) | None if self.suppressible.contains(&column) => Some(json!({
                "status": "PRIVATE", "notes": self.withheld_note,
            })),
            Some(Json::Null) | None => None,
            Some(v) => Some(json!({"value": v, "status": "PUBLIC"})),
        }
    }

    /// A count where INDIGO wants text (its `outcomes_achieved` describes what was
    /// achieved): the count written out, with a note that it is one.
    fn count_as_text(&self, column: &str, note: &str) -> Option<Json> {
        let mut value = self.value(column)?;
        if let Some(Json::Number(n)) = value.get("value").cloned() {
            value["value"] = Json::String(n.to_string());
            value["notes"] = json!(note);
        }
        Some(value)
    }

    /// An amount as an INDIGO number.
    fn amount(&self, column: &str) -> Option<Json> {
        let mut value = self.value(column)?;
        if let Some(Json::String(text)) = value.get("value").cloned() {
            value["value"] = exact_number(&text);
        }
        Some(value)
    }

    fn money(&self, amount: &str, currency: &str) -> Json {
        let mut money = Map::new();
        insert(&mut money, "currency", self.value(currency));
        insert(&mut money, "amount", self.amount(amount));
        Json::Object(money)
    }

    fn period(&self) -> Json {
        json!({
            "start_date": {"value": self.row["period_start_date"]},
            "end_date": {"value": self.row["period_end_date"]},
        })
    }
}

/// A decimal string as a JSON number whose text means exactly that decimal; the string
/// itself if no such number can be written (never a rounded one).
fn exact_number(text: &str) -> Json {
    let Ok(decimal) = Decimal::from_str(text) else {
        return Json::String(text.to_owned());
    };
    match serde_json::Number::from_f64(text.parse::<f64>().unwrap_or(f64::NAN)) {
        Some(number)
            if Decimal::from_str(&number.to_string())
                .ok()
                .map(|d| d.normalize())
                == Some(decimal.normalize()) =>
        {
            Json::Number(number)
        }
        _ => Json::String(text.to_owned()),
    }
}

fn insert(object: &mut Map<String, Json>, key: &str, value: Option<Json>) {
    if let Some(value) = value {
        object.insert(key.to_owned(), value);
    }
}

fn public<'a>(row: &'a Map<String, Json>, note: &str, suppressible: &'a [&'a str]) -> Writer<'a> {
    Writer {
        withheld_note: note.to_owned(),
        row,
        suppressible,
    }
}

/// The INDIGO project document.
pub fn project_document(t: &ProjectTables) -> Json {
    let note = format!(
        "Withheld: it counts, or could reveal, from 1 to {} participants or outcomes.",
        t.k - 1
    );
    let p = public(t.project, &note, &["total_outcome_payments_made_amount"]);
    let mut doc = Map::new();
    doc.insert("id".into(), t.project["project_id"].clone());
    doc.insert("status".into(), json!("PUBLIC"));
    insert(&mut doc, "name", p.value("name"));
    insert(&mut doc, "stage_development", p.value("stage_development"));
    let mut dates = Map::new();
    for column in [
        "start_date_of_service_provision",
        "anticipated_end_date_of_service_provision",
    ] {
        insert(&mut dates, column, p.value(column));
    }
    doc.insert("dates".into(), Json::Object(dates));
    let mut purpose = Map::new();
    insert(&mut purpose, "policy_sector", p.value("policy_sector"));
    insert(
        &mut purpose,
        "social_challenge",
        p.value("social_challenge"),
    );
    doc.insert("purpose_and_classifications".into(), Json::Object(purpose));
    let mut beneficiaries = Map::new();
    insert(
        &mut beneficiaries,
        "target_population",
        p.value("target_population"),
    );
    doc.insert(
        "service_and_beneficiaries".into(),
        Json::Object(beneficiaries),
    );
    doc.insert(
        "overall_project_finance".into(),
        json!({
            "maximum_potential_outcome_payment_v2": p.money(
                "maximum_potential_outcome_payment_amount",
                "maximum_potential_outcome_payment_currency"
            ),
            "total_outcome_payments_made": p.money(
                "total_outcome_payments_made_amount",
                "total_outcome_payments_made_currency"
            ),
        }),
    );
    let funds: Vec<Json> = t.project["outcome_fund_ids"]
        .as_str()
        .map(|ids| {
            ids.split(';')
                .map(|id| json!({"id": id, "status": "PUBLIC"}))
                .collect()
        })
        .unwrap_or_default();
    doc.insert("outcome_funds".into(), Json::Array(funds));
    doc.insert("outcome_payment_commitments".into(), commitments(t, &note));
    let (metrics, pricings) = metrics_and_pricings(t, &note);
    doc.insert("outcome_metrics".into(), metrics);
    doc.insert("outcome_pricings".into(), pricings);
    doc.insert("results".into(), results(t, &note));
    doc.insert("outcome_payments".into(), payments(t, &note));
    Json::Object(doc)
}

fn commitments(t: &ProjectTables, note: &str) -> Json {
    t.payers
        .iter()
        .map(|row| {
            let w = public(row, note, &["total_outcome_payments_amount"]);
            let mut item = Map::new();
            insert(&mut item, "organisation_id", w.value("organisation_id"));
            insert(
                &mut item,
                "organisation_role_category",
                w.value("organisation_role_category"),
            );
            item.insert(
                "maximum_potential_outcome_payment".into(),
                w.money(
                    "maximum_potential_outcome_payment_amount",
                    "maximum_potential_outcome_payment_currency",
                ),
            );
            item.insert(
                "total_outcome_payments".into(),
                w.money(
                    "total_outcome_payments_amount",
                    "total_outcome_payments_currency",
                ),
            );
            item.insert("status".into(), json!("PUBLIC"));
            Json::Object(item)
        })
        .collect()
}

fn metrics_and_pricings(t: &ProjectTables, note: &str) -> (Json, Json) {
    let metrics = t
        .metrics
        .iter()
        .map(|row| {
            let w = public(row, note, &[]);
            let mut item = Map::new();
            item.insert("id".into(), row["outcome_metric_id"].clone());
            insert(&mut item, "definition", w.value("definition"));
            insert(
                &mut item,
                "unit_description_of_service_user_or_beneficiaries",
                w.value("unit"),
            );
            item.insert("status".into(), json!("PUBLIC"));
            Json::Object(item)
        })
        .collect();
    let pricings = t
        .metrics
        .iter()
        .map(|row| {
            let w = public(row, note, &[]);
            let mut item = Map::new();
            insert(&mut item, "outcome_metric_id", w.value("outcome_metric_id"));
            insert(&mut item, "currency", w.value("currency"));
            let mut price = Map::new();
            insert(&mut price, "amount", w.amount("price_per_unit_amount"));
            item.insert("price_per_unit".into(), Json::Object(price));
            item.insert("status".into(), json!("PUBLIC"));
            Json::Object(item)
        })
        .collect();
    (metrics, pricings)
}

fn results(t: &ProjectTables, note: &str) -> Json {
    const COUNTS: [&str; 3] = [
        "outcomes_achieved",
        "outcomes_paid",
        "number_engaged_in_impact_bond",
    ];
    t.results
        .iter()
        .map(|row| {
            let w = public(row, note, &COUNTS);
            let mut item = Map::new();
            insert(&mut item, "outcome_metric_id", w.value("outcome_metric_id"));
            item.insert(
                "result_level".into(),
                json!({"value": "Outcome level", "status": "PUBLIC"}),
            );
            item.insert(
                "result_type".into(),
                json!({"value": "Interim", "status": "PUBLIC"}),
            );
            item.insert("period".into(), w.period());
            insert(
                &mut item,
                "outcomes_achieved",
                w.count_as_text(
                    "outcomes_achieved",
                    "Units of outcome verified as achieved in the period (a count).",
                ),
            );
            insert(
                &mut item,
                "number_engaged_in_impact_bond",
                w.value("number_engaged_in_impact_bond"),
            );
            insert(
                &mut item,
                "number_with_positive_social_outcomes",
                w.value("outcomes_paid"),
            );
            item.insert("status".into(), json!("PUBLIC"));
            Json::Object(item)
        })
        .collect()
}

fn payments(t: &ProjectTables, note: &str) -> Json {
    t.payments
        .iter()
        .map(|row| {
            let w = public(row, note, &["money_amount"]);
            let mut item = Map::new();
            insert(&mut item, "outcome_metric_id", w.value("outcome_metric_id"));
            item.insert("period".into(), w.period());
            insert(
                &mut item,
                "payer_organisation_id",
                w.value("payer_organisation_id"),
            );
            insert(
                &mut item,
                "recipient_organisation_id",
                w.value("recipient_organisation_id"),
            );
            item.insert(
                "type".into(),
                json!({"value": "Actual", "status": "PUBLIC"}),
            );
            item.insert("money".into(), w.money("money_amount", "money_currency"));
            item.insert("status".into(), json!("PUBLIC"));
            Json::Object(item)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_exactly_or_not_at_all() {
        assert_eq!(exact_number("1234.50").to_string(), "1234.5");
        assert_eq!(exact_number("0.10").to_string(), "0.1");
        // More digits than a double holds: kept as the exact string.
        assert_eq!(
            exact_number("12345678901234567.89"),
            json!("12345678901234567.89")
        );
    }

    #[test]
    fn withheld_values_are_private_with_a_reason_and_unknown_ones_are_left_out() {
        let project = json!({
            "project_id": "prj_1", "name": "Reconnections", "outcome_fund_ids": null,
            "stage_development": null, "start_date_of_service_provision": "2021-01-01",
            "anticipated_end_date_of_service_provision": "2023-12-31",
            "policy_sector": "Health", "social_challenge": null, "target_population": null,
            "maximum_potential_outcome_payment_amount": "1000.00",
            "maximum_potential_outcome_payment_currency": "GBP",
            "total_outcome_payments_made_amount": null,
            "total_outcome_payments_made_currency": "GBP",
        });
        let doc = project_document(&ProjectTables {
            project: project.as_object().unwrap(),
            payers: &[],
            metrics: &[],
            results: &[],
            payments: &[],
            k: 5,
        });
        assert_eq!(
            doc["name"],
            json!({"value": "Reconnections", "status": "PUBLIC"})
        );
        assert!(doc.get("stage_development").is_none());
        let total = &doc["overall_project_finance"]["total_outcome_payments_made"]["amount"];
        assert_eq!(total["status"], "PRIVATE");
        assert!(total.get("value").is_none(), "INDIGO allows no null value");
        assert!(total["notes"].as_str().unwrap().contains("1 to 4"));
        assert_eq!(
            doc["overall_project_finance"]["maximum_potential_outcome_payment_v2"]["amount"]
                ["value"],
            json!(1000.0)
        );
    }
}
