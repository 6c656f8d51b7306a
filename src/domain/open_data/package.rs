//! The data dictionary: a Frictionless Data Package describing every published table, with a
//! Table Schema each (types, descriptions, units, keys, and the missing values that tell a
//! suppressed cell from an unknown one).

use chrono::NaiveDateTime;
use serde_json::{json, Value as Json};

use super::catalog::{Table, TABLES};
use super::value::SUPPRESSED;

/// A licence the data may be published under (Open Definition identifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Licence {
    pub name: &'static str,
    pub title: &'static str,
    pub path: &'static str,
}

pub const LICENCES: [Licence; 4] = [
    Licence {
        name: "OGL-UK-3.0",
        title: "Open Government Licence v3.0",
        path: "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/",
    },
    Licence {
        name: "CC-BY-4.0",
        title: "Creative Commons Attribution 4.0",
        path: "https://creativecommons.org/licenses/by/4.0/",
    },
    Licence {
        name: "CC0-1.0",
        title: "CC0 1.0 Universal",
        path: "https://creativecommons.org/publicdomain/zero/1.0/",
    },
    Licence {
        name: "ODC-BY-1.0",
        title: "Open Data Commons Attribution License 1.0",
        path: "https://opendatacommons.org/licenses/by/1-0/",
    },
];

impl Licence {
    pub fn by_name(name: &str) -> Option<Licence> {
        LICENCES
            .iter()
            .copied()
            .find(|l| l.name.eq_ignore_ascii_case(name))
    }
}

impl Default for Licence {
    fn default() -> Licence {
        LICENCES[0]
    }
}

/// What a data package describes beyond the tables themselves.
pub struct PackageFacts<'a> {
    pub licence: Licence,
    /// The release's version, or none for the live tables.
    pub version: Option<&'a str>,
    /// When the tables were built (the release's date, or the last rebuild).
    pub modified: Option<NaiveDateTime>,
    /// The suppression threshold the tables were built with.
    pub k: i64,
    /// Per table, the file's size and SHA-256 when they are fixed (a release).
    pub files: &'a dyn Fn(&Table) -> Option<(usize, String)>,
}

/// The `datapackage.json` descriptor; resource paths are relative to the descriptor
/// (`funds.csv` beside it).
pub fn descriptor(facts: &PackageFacts) -> Json {
    let modified = facts
        .modified
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    let resources: Vec<Json> = TABLES
        .iter()
        .map(|t| resource(t, facts, modified.as_deref()))
        .collect();
    let mut package = json!({
        "profile": "tabular-data-package",
        "name": "cofund-open-data",
        "title": "Outcome funds: projects, payers, rate cards, results and payments",
        "description": format!(
            "Standardised, anonymised data on social outcomes partnerships, following the INDIGO data standard (v4) where it has a field. No participant-level data; counts from 1 to {} are withheld (written \"{SUPPRESSED}\"), with any amount or total from which one could be worked out.",
            facts.k - 1
        ),
        "licenses": [{"name": facts.licence.name, "title": facts.licence.title, "path": facts.licence.path}],
        "resources": resources,
    });
    let object = package.as_object_mut().expect("an object");
    if let Some(version) = facts.version {
        object.insert("version".into(), json!(version));
    }
    if let Some(modified) = modified {
        object.insert("created".into(), json!(modified));
    }
    package
}

fn resource(table: &Table, facts: &PackageFacts, modified: Option<&str>) -> Json {
    let fields: Vec<Json> = table
        .fields
        .iter()
        .map(|f| {
            let mut field = json!({
                "name": f.name,
                "type": f.kind.table_schema_type(),
                "description": f.description,
            });
            let object = field.as_object_mut().expect("an object");
            if let Some(unit) = f.unit {
                object.insert("unit".into(), json!(unit));
            }
            if f.required {
                object.insert("constraints".into(), json!({"required": true}));
            }
            if f.suppressible {
                object.insert("suppressible".into(), json!(true));
            }
            field
        })
        .collect();
    let foreign_keys: Vec<Json> = table
        .foreign_keys
        .iter()
        .map(|fk| {
            json!({
                "fields": fk.fields,
                "reference": {"resource": fk.table, "fields": fk.reference},
            })
        })
        .collect();
    let mut resource = json!({
        "name": table.name,
        "title": table.title,
        "description": table.description,
        "path": format!("{}.csv", table.name),
        "profile": "tabular-data-resource",
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "dialect": {"delimiter": ",", "lineTerminator": "\r\n", "quoteChar": "\"", "doubleQuote": true, "header": true},
        "schema": {
            "fields": fields,
            "primaryKey": table.primary_key,
            "foreignKeys": foreign_keys,
            // An empty cell is not known; `suppressed` is withheld to protect small numbers.
            "missingValues": ["", SUPPRESSED],
        },
    });
    let object = resource.as_object_mut().expect("an object");
    if let Some(indigo) = table.indigo {
        object.insert("indigo".into(), json!(indigo));
    }
    if let Some(modified) = modified {
        object.insert("lastModified".into(), json!(modified));
    }
    if let Some((bytes, sha256)) = (facts.files)(table) {
        object.insert("bytes".into(), json!(bytes));
        object.insert("hash".into(), json!(format!("sha256:{sha256}")));
    }
    resource
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_described_with_its_keys_and_missing_values() {
        let none = |_: &Table| None;
        let package = descriptor(&PackageFacts {
            licence: Licence::default(),
            version: Some("2026-12-01.1"),
            modified: None,
            k: 5,
            files: &none,
        });
        assert_eq!(package["licenses"][0]["name"], "OGL-UK-3.0");
        assert_eq!(package["version"], "2026-12-01.1");
        let resources = package["resources"].as_array().unwrap();
        assert_eq!(resources.len(), TABLES.len());
        let payments = resources
            .iter()
            .find(|r| r["name"] == "payments_quarterly")
            .unwrap();
        assert_eq!(
            payments["schema"]["missingValues"],
            json!(["", "suppressed"])
        );
        assert_eq!(payments["schema"]["primaryKey"][3], "payer_organisation_id");
        let amount = payments["schema"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "money_amount")
            .unwrap();
        assert_eq!(amount["type"], "number");
        assert_eq!(amount["suppressible"], true);
    }

    #[test]
    fn licences_are_known_by_their_identifiers() {
        assert_eq!(
            Licence::by_name("cc-by-4.0").unwrap().title,
            "Creative Commons Attribution 4.0"
        );
        assert!(Licence::by_name("all rights reserved").is_none());
    }
}
