//! Realistic demo data for a new user: four central outcomes funds and five projects built on
//! published rate cards and payer structures (the DWP Innovation Fund's card A, the Fair Chance
//! Fund's card, Reconnections' three payers pro rata, The Skill Mill's eight home-area councils
//! with a DCMS top-up, Positive Families Partnership's weekly outcome), and a few years of
//! their claims, decisions and settlements ([`history`]). The registry is a fixture,
//! `registry.json`, of the bodies a client would send to create each record. Loaded through the
//! same validation and services as the API, into an empty database only, in one transaction.

mod history;

use std::collections::HashMap;

use chrono::NaiveDateTime;
use serde_json::{json, Value};

use self::history::{Cast, HistorySummary, Planned};
use crate::db::{queries, write_tx, DbConn};
use crate::domain::access::Principal;
use crate::domain::ids::OrganisationId;
use crate::domain::registry::{
    validate_fund, validate_organisation, validate_project, NewFund, NewOrganisation, NewProject,
    OrganisationKind, ProjectFacts,
};
use crate::services::commitments::{self, Acting};

#[derive(Debug)]
pub struct DemoSummary {
    pub organisations: usize,
    pub funds: usize,
    pub projects: usize,
    pub history: HistorySummary,
}

/// Loads the demo into an empty database; returns `None` when it already holds data.
/// `pseudonym_key` pseudonymises the history's participants, as the server's own key does;
/// the registry is recorded as made at `now` (the history keeps its own dates).
pub fn load(
    conn: &mut DbConn,
    pseudonym_key: &[u8],
    now: NaiveDateTime,
) -> Result<Option<DemoSummary>, String> {
    load_with_progress(conn, pseudonym_key, now, &|_| {})
}

/// How many steps [`load_with_progress`] tells of: the registry, each project's history, the
/// billing addresses and the members.
pub const LOAD_STEPS: u64 = 8;

/// [`load`], telling `step` what it starts, in [`LOAD_STEPS`] steps.
pub fn load_with_progress(
    conn: &mut DbConn,
    pseudonym_key: &[u8],
    now: NaiveDateTime,
    step: &dyn Fn(&str),
) -> Result<Option<DemoSummary>, String> {
    write_tx(conn, |conn| -> Result<Option<DemoSummary>, LoadError> {
        if queries::organisations::count_organisations(conn)? > 0 {
            return Ok(None);
        }
        let summary = DemoSummary {
            organisations: 0,
            funds: 0,
            projects: 0,
            history: HistorySummary::default(),
        };
        let mut loader = Loader {
            conn,
            now,
            organisations: Vec::new(),
            addresses: Vec::new(),
            summary,
        };
        step("the registry");
        let stories = loader.build().map_err(LoadError)?;
        for (n, (cast, plans)) in stories.into_iter().enumerate() {
            step(&format!("the history of project {} of 5", n + 1));
            let seed = 100 + n as u64;
            let summary = &mut loader.summary.history;
            history::play(loader.conn, &cast, plans, seed, pseudonym_key, summary)
                .map_err(LoadError)?;
        }
        // The billing addresses come last: the history's documents and cap warnings are the
        // past, and were never to be emailed.
        step("billing addresses");
        queries::organisations::add_billing_emails(loader.conn, &loader.addresses)?;
        step("members");
        add_members(loader.conn, &loader.organisations, now).map_err(LoadError)?;
        Ok(Some(loader.summary))
    })
    .map_err(|e| e.0)
}

struct LoadError(String);

/// A name as a part of an address: `Birmingham City Council` → `birmingham-city-council`.
fn slug(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

/// The demo's people: an admin, and one member for each organisation in the role its kind
/// takes (an investor takes none), who administers its organisation's members. Their
/// addresses are under the reserved `.example` domain; in development each can be signed in
/// as from `/sign-in`.
fn add_members(
    conn: &mut DbConn,
    organisations: &[(String, String, OrganisationKind)],
    at: NaiveDateTime,
) -> Result<(), String> {
    use crate::domain::access::Role;
    use crate::domain::members::NewMember;
    use crate::services::members::add_active_member;
    let person = |name: String, email: String, role: Role, administers: bool| NewMember {
        display_name: name,
        email,
        role,
        administers,
    };
    let admin = person(
        "Demo admin".into(),
        "admin@cofund.example".into(),
        Role::Admin,
        false,
    );
    add_active_member(conn, None, admin, at).map_err(|e| format!("the demo admin: {e}"))?;
    for (id, name, kind) in organisations {
        let role = match kind {
            OrganisationKind::CentralFund => Role::FundManager,
            OrganisationKind::LocalAuthority | OrganisationKind::NhsBody => Role::Commissioner,
            OrganisationKind::Provider | OrganisationKind::Intermediary => Role::Provider,
            OrganisationKind::Validator | OrganisationKind::Other => Role::Validator,
            OrganisationKind::Investor => continue,
        };
        let title = role.as_str().replace('_', " ");
        let slug = slug(name);
        let member = person(
            format!("Demo {title}, {name}"),
            format!("demo@{slug}.example"),
            role,
            true,
        );
        let org = OrganisationId::from(id.as_str());
        add_active_member(conn, Some(&org), member, at).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

impl From<diesel::result::Error> for LoadError {
    fn from(e: diesel::result::Error) -> LoadError {
        LoadError(e.to_string())
    }
}

struct Loader<'a> {
    conn: &'a mut DbConn,
    /// When the registry is made.
    now: NaiveDateTime,
    organisations: Vec<(String, String, OrganisationKind)>,
    /// Each organisation's billing address, added once the history is loaded.
    addresses: Vec<(String, String)>,
    summary: DemoSummary,
}

impl Loader<'_> {
    fn org(
        &mut self,
        name: &str,
        kind: &str,
        identifier: Option<&str>,
        areas: &[&str],
    ) -> Result<String, String> {
        // Every demo organisation has a billing address under the reserved `.example` domain,
        // so that the notifications of the demo can be seen in a local SMTP server.
        let slug = slug(name);
        let input: NewOrganisation = serde_json::from_value(json!({
            "name": name, "kind": kind, "identifier": identifier, "area_codes": areas,
        }))
        .map_err(|e| e.to_string())?;
        let plan = validate_organisation(input).map_err(|e| format!("{name}: {e:?}"))?;
        let kind = plan.kind;
        let record = queries::organisations::insert_organisation(self.conn, plan, self.now)
            .map_err(|e| e.to_string())?;
        let address = format!("finance@{slug}.example");
        self.addresses
            .push((record.organisation.id.to_string(), address));
        self.organisations
            .push((record.organisation.id.to_string(), name.to_owned(), kind));
        self.summary.organisations += 1;
        Ok(record.organisation.id.to_string())
    }

    fn fund(&mut self, value: Value, owner_kind: OrganisationKind) -> Result<String, String> {
        let input: NewFund = serde_json::from_value(value).map_err(|e| e.to_string())?;
        let plan = validate_fund(input, Some(owner_kind)).map_err(|e| format!("{e:?}"))?;
        let fund =
            queries::funds::insert_fund(self.conn, plan, self.now).map_err(|e| e.to_string())?;
        self.summary.funds += 1;
        Ok(String::from(fund.id))
    }

    fn project(&mut self, value: Value) -> Result<String, String> {
        let input: NewProject = serde_json::from_value(value).map_err(|e| e.to_string())?;
        let organisations = self
            .organisations
            .iter()
            .map(|(id, _, kind)| (id.clone(), *kind))
            .collect();
        let funds =
            queries::funds::named_fund_facts(self.conn, &input).map_err(|e| e.to_string())?;
        let fund = input.fund_id.as_ref().and_then(|id| funds.get(id)).cloned();
        let name = input.name.clone();
        let plan = validate_project(
            input,
            &ProjectFacts {
                organisations,
                fund,
                funds,
            },
        )
        .map_err(|e| format!("demo project {name}: {e:?}"))?;
        // The demo records contracts signed elsewhere, as an admin does.
        let admin = Principal::Admin {
            subject: "demo-loader".into(),
        };
        let acting = Acting {
            principal: &admin,
            at: self.now,
        };
        let id =
            commitments::create_project(self.conn, &plan, &acting).map_err(|e| e.to_string())?;
        self.summary.projects += 1;
        Ok(String::from(id))
    }

    /// Registers the demo's organisations, funds and projects from the fixture, in its
    /// order; returns each project's cast and the claims of its history.
    fn build(&mut self) -> Result<Vec<(Cast, Vec<Planned>)>, String> {
        let fixture: Fixture =
            serde_json::from_str(REGISTRY).map_err(|e| format!("src/demo/registry.json: {e}"))?;
        let mut ids: HashMap<String, String> = HashMap::new();
        for o in &fixture.organisations {
            let areas: Vec<&str> = o.area_codes.iter().map(String::as_str).collect();
            let id = self.org(&o.name, &o.kind, o.identifier.as_deref(), &areas)?;
            ids.insert(o.key.clone(), id);
        }
        for fund in fixture.funds {
            let (key, body) = keyed(fund, &ids)?;
            let id = self.fund(body, OrganisationKind::CentralFund)?;
            ids.insert(key, id);
        }
        let validator = ids.get("validator").cloned().ok_or("no demo validator")?;
        let mut casts = Vec::new();
        for project in fixture.projects {
            let history = project["history"].as_str().unwrap_or_default().to_owned();
            let provider = project["provider_organisation_id"].clone();
            let (key, body) = keyed(project, &ids)?;
            let areas = home_areas(&body);
            let id = self.project(body)?;
            ids.insert(key, id.clone());
            let cast = Cast {
                project_id: id,
                provider_id: OrganisationId::from(
                    resolved(provider, &ids)?.as_str().unwrap_or_default(),
                ),
                validator_id: OrganisationId::from(validator.as_str()),
            };
            casts.push((cast, history_of(&history, &areas)?));
        }
        Ok(casts)
    }
}

/// The demo's organisations, funds and projects.
const REGISTRY: &str = include_str!("registry.json");

#[derive(serde::Deserialize)]
struct Fixture {
    organisations: Vec<FixtureOrganisation>,
    funds: Vec<Value>,
    projects: Vec<Value>,
}

#[derive(serde::Deserialize)]
struct FixtureOrganisation {
    key: String,
    name: String,
    kind: String,
    identifier: Option<String>,
    area_codes: Vec<String>,
}

/// A fixture record's key, and its body as the API takes it: every `"@key"` replaced by the
/// id of the record made under that key, and the fixture's own fields (`key`, `history`,
/// `_comment`) taken out.
fn keyed(record: Value, ids: &HashMap<String, String>) -> Result<(String, Value), String> {
    let Value::Object(mut fields) = resolved(record, ids)? else {
        return Err("a demo record is not an object".into());
    };
    let key = fields
        .remove("key")
        .and_then(|k| k.as_str().map(str::to_owned));
    fields.remove("history");
    fields.remove("_comment");
    Ok((
        key.ok_or("a demo record has no key")?,
        Value::Object(fields),
    ))
}

fn resolved(value: Value, ids: &HashMap<String, String>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => match s.strip_prefix('@') {
            Some(key) => Value::String(
                ids.get(key)
                    .cloned()
                    .ok_or_else(|| format!("the demo names @{key} before making it"))?,
            ),
            None => Value::String(s),
        },
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| resolved(v, ids))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| Ok((k, resolved(v, ids)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other,
    })
}

/// The home areas of a project's payers, in payer order.
fn home_areas(project: &Value) -> Vec<String> {
    let payers = project["payers"].as_array().into_iter().flatten();
    payers
        .flat_map(|p| p["home_area_codes"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect()
}

/// The claims of the history named in the fixture.
fn history_of(name: &str, areas: &[String]) -> Result<Vec<Planned>, String> {
    Ok(match name {
        "reconnections" => history::reconnections(),
        "skill_mill" => history::skill_mill(areas),
        "positive_families" => history::positive_families(),
        "youth_homelessness" => history::youth_homelessness(),
        "futures_ladder" => history::futures_ladder(),
        other => return Err(format!("the demo has no history '{other}'")),
    })
}
