//! Realistic demo data for a new user: four central outcomes funds and five projects built on
//! published rate cards and payer structures (the DWP Innovation Fund's card A, the Fair Chance
//! Fund's card, Reconnections' three payers pro rata, The Skill Mill's eight home-area councils
//! with a DCMS top-up, Positive Families Partnership's weekly outcome), and a few years of
//! their claims, decisions and settlements ([`history`]). Loaded through the same validation
//! and services as the API, into an empty database only, in one transaction.

mod history;

use chrono::NaiveDateTime;
use serde_json::{json, Value};

use self::history::{Cast, HistorySummary, Planned};
use crate::db::{queries, write_tx, DbConn};
use crate::domain::access::{Principal, Role};
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

/// How many steps [`load_with_progress`] tells of: the registry, each project's history, and
/// the billing addresses.
pub const LOAD_STEPS: u64 = 7;

/// [`load`], telling `step` what it starts, in [`LOAD_STEPS`] steps.
pub fn load_with_progress(
    conn: &mut DbConn,
    pseudonym_key: &[u8],
    now: NaiveDateTime,
    step: &dyn Fn(&str),
) -> Result<Option<DemoSummary>, String> {
    write_tx(conn, |conn| -> Result<Option<DemoSummary>, LoadError> {
        if queries::count_organisations(conn)? > 0 {
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
        queries::add_billing_emails(loader.conn, &loader.addresses)?;
        Ok(Some(loader.summary))
    })
    .map_err(|e| e.0)
}

struct LoadError(String);

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

fn gbp(amount: &str) -> Value {
    json!({"amount": amount, "currency": "GBP"})
}

fn outcome(code: &str, name: &str, price: &str) -> Value {
    json!({"code": code, "name": name, "price": gbp(price), "unit": "achievement"})
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
        let slug: String = name
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
            .join("-");
        let input: NewOrganisation = serde_json::from_value(json!({
            "name": name, "kind": kind, "identifier": identifier, "area_codes": areas,
        }))
        .map_err(|e| e.to_string())?;
        let plan = validate_organisation(input).map_err(|e| format!("{name}: {e:?}"))?;
        let kind = plan.kind;
        let record =
            queries::insert_organisation(self.conn, plan, self.now).map_err(|e| e.to_string())?;
        let address = format!("finance@{slug}.example");
        self.addresses
            .push((record.organisation.id.clone(), address));
        self.organisations
            .push((record.organisation.id.clone(), name.to_owned(), kind));
        self.summary.organisations += 1;
        Ok(record.organisation.id)
    }

    fn fund(&mut self, value: Value, owner_kind: OrganisationKind) -> Result<String, String> {
        let input: NewFund = serde_json::from_value(value).map_err(|e| e.to_string())?;
        let plan = validate_fund(input, Some(owner_kind)).map_err(|e| format!("{e:?}"))?;
        let fund = queries::insert_fund(self.conn, plan, self.now).map_err(|e| e.to_string())?;
        self.summary.funds += 1;
        Ok(fund.id)
    }

    fn project(&mut self, value: Value) -> Result<String, String> {
        let input: NewProject = serde_json::from_value(value).map_err(|e| e.to_string())?;
        let organisations = self
            .organisations
            .iter()
            .map(|(id, _, kind)| (id.clone(), *kind))
            .collect();
        let funds = queries::named_fund_facts(self.conn, &input).map_err(|e| e.to_string())?;
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
        let admin = Principal {
            subject: "demo-loader".into(),
            role: Role::Admin,
            organisation_id: None,
        };
        let acting = Acting {
            principal: &admin,
            at: self.now,
        };
        let id =
            commitments::create_project(self.conn, &plan, &acting).map_err(|e| e.to_string())?;
        self.summary.projects += 1;
        Ok(id)
    }

    /// Registers the demo's organisations, funds and projects; returns each project's cast
    /// and the claims of its history.
    fn build(&mut self) -> Result<Vec<(Cast, Vec<Planned>)>, String> {
        // Payers and funds.
        let dcms = self.org(
            "Department for Culture, Media and Sport",
            "central_fund",
            None,
            &[],
        )?;
        let tnlcf = self.org(
            "The National Lottery Community Fund",
            "central_fund",
            None,
            &[],
        )?;
        let cabinet_office = self.org(
            "Cabinet Office (Social Outcomes Fund)",
            "central_fund",
            None,
            &[],
        )?;
        let dwp = self.org(
            "Department for Work and Pensions",
            "central_fund",
            None,
            &[],
        )?;
        let worcestershire = self.org(
            "Worcestershire County Council",
            "local_authority",
            Some("GB-LAE-WOC"),
            &["E10000034"],
        )?;
        let skill_mill_councils = [
            (
                "Newcastle City Council",
                "GB-LAE-NET",
                "E08000021",
                "230400.00",
            ),
            (
                "Durham County Council",
                "GB-LAE-DUR",
                "E06000047",
                "230400.00",
            ),
            ("Leeds City Council", "GB-LAE-LDS", "E08000035", "230400.00"),
            (
                "North Yorkshire Council",
                "GB-LAE-NYK",
                "E06000065",
                "230400.00",
            ),
            (
                "Surrey County Council",
                "GB-LAE-SRY",
                "E10000030",
                "230400.00",
            ),
            (
                "West Sussex County Council",
                "GB-LAE-WSX",
                "E10000032",
                "230400.00",
            ),
            (
                "Norfolk County Council",
                "GB-LAE-NFK",
                "E10000020",
                "230400.00",
            ),
            (
                "Hampshire County Council",
                "GB-LAE-HAM",
                "E10000014",
                "210000.00",
            ),
        ];
        let mut council_ids = Vec::new();
        for (name, identifier, area, _) in skill_mill_councils {
            council_ids.push(self.org(name, "local_authority", Some(identifier), &[area])?);
        }
        let london_boroughs = [
            ("London Borough of Bexley", "GB-LAE-BEX", "E09000004"),
            ("London Borough of Enfield", "GB-LAE-ENF", "E09000010"),
            ("London Borough of Lambeth", "GB-LAE-LBH", "E09000022"),
            ("London Borough of Merton", "GB-LAE-MRT", "E09000024"),
            ("London Borough of Sutton", "GB-LAE-STN", "E09000029"),
        ];
        let mut borough_ids = Vec::new();
        for (name, identifier, area) in london_boroughs {
            borough_ids.push(self.org(name, "local_authority", Some(identifier), &[area])?);
        }
        let birmingham = self.org(
            "Birmingham City Council",
            "local_authority",
            Some("GB-LAE-BIR"),
            &["E08000025"],
        )?;
        // Providers and validators.
        let age_uk = self.org("Reconnections delivery partnership", "provider", None, &[])?;
        let skill_mill = self.org(
            "The Skill Mill Ltd",
            "provider",
            Some("GB-COH-09506232"),
            &[],
        )?;
        let pfp = self.org("Positive Families Partnership", "provider", None, &[])?;
        let fair_chance = self.org(
            "Fair Chance Birmingham (demo provider)",
            "provider",
            None,
            &[],
        )?;
        let futures = self.org("Futures Ladder (demo provider)", "provider", None, &[])?;
        let validator = self.org(
            "Independent Outcomes Validation (demo)",
            "validator",
            None,
            &[],
        )?;

        let lcf = self.fund(
            json!({"name": "Life Chances Fund", "owner_organisation_id": dcms,
                   "budget": gbp("80000000.00"), "service_start": "2016-07-01", "service_end": "2025-06-30"}),
            OrganisationKind::CentralFund,
        )?;
        let cbo = self.fund(
            json!({"name": "Commissioning Better Outcomes Fund", "owner_organisation_id": tnlcf,
                   "budget": gbp("40000000.00"), "service_start": "2013-07-01", "service_end": "2024-12-31"}),
            OrganisationKind::CentralFund,
        )?;
        let sof = self.fund(
            json!({"name": "Social Outcomes Fund", "owner_organisation_id": cabinet_office,
                   "budget": gbp("20000000.00"), "service_start": "2012-07-01", "service_end": "2020-03-31"}),
            OrganisationKind::CentralFund,
        )?;
        let innovation = self.fund(
            json!({"name": "DWP Innovation Fund", "owner_organisation_id": dwp,
                   "budget": gbp("30000000.00"), "service_start": "2012-04-01", "service_end": "2016-03-31"}),
            OrganisationKind::CentralFund,
        )?;

        // Reconnections, Worcestershire: three payers, pro rata to their maximums; two central
        // funds top up, each from its own budget.
        let reconnections = self.project(json!({
            "name": "Reconnections (Worcestershire)", "fund_id": cbo,
            "provider_organisation_id": age_uk,
            "service_start": "2015-04-01", "service_end": "2019-03-31",
            "max_outcome_payment": gbp("2020000.00"),
            "policy_sector": "Health and wellbeing", "target_population": "Older people experiencing loneliness",
            "social_challenge": "Loneliness and social isolation in later life",
            "stage_development": "Complete",
            "payers": [
                {"organisation_id": tnlcf, "role": "central_top_up", "max_commitment": gbp("303000.00")},
                {"organisation_id": cabinet_office, "role": "central_top_up", "fund_id": sof, "max_commitment": gbp("697000.00")},
                {"organisation_id": worcestershire, "role": "local_commissioner", "max_commitment": gbp("1020000.00"), "lead": true},
            ],
            "outcomes": [outcome("loneliness_reduced", "Reduction in loneliness score at 6 months", "1000.00")],
            "validator_organisation_ids": [validator],
            "published": true,
        }))?;

        // The Skill Mill: eight councils each paying for their own young people, DCMS topping up.
        let mut payers = vec![
            json!({"organisation_id": dcms, "role": "central_top_up", "max_commitment": gbp("1418976.00")}),
        ];
        for ((_, _, area, cap), id) in skill_mill_councils.iter().zip(&council_ids) {
            payers.push(json!({"organisation_id": id, "role": "local_commissioner",
                               "max_commitment": gbp(cap), "home_area_codes": [area]}));
        }
        let skill_mill_project = self.project(json!({
            "name": "The Skill Mill", "fund_id": lcf, "provider_organisation_id": skill_mill,
            "service_start": "2018-04-01", "service_end": "2023-03-31",
            "max_outcome_payment": gbp("3241776.00"),
            "policy_sector": "Criminal justice", "target_population": "Young people leaving the youth justice system",
            "social_challenge": "Reoffending by young people",
            "stage_development": "Complete",
            "payers": payers,
            "outcomes": [
                outcome("no_reoffending_12m", "No proven reoffending for 12 months", "2500.00"),
                outcome("education_training_entry", "Entry to education or training", "500.00"),
                {"code": "employment_entry", "name": "Entry to employment", "price": gbp("500.00"), "unit": "achievement", "exclusive_group": "entry"},
                {"code": "self_employment_entry", "name": "Entry to self-employment", "price": gbp("500.00"), "unit": "achievement", "exclusive_group": "entry"},
            ],
            "validator_organisation_ids": [validator],
            "published": true,
        }))?;

        // Positive Families Partnership: five boroughs, CBO top-up, paid per week out of care.
        let mut payers = vec![
            json!({"organisation_id": tnlcf, "role": "central_top_up", "max_commitment": gbp("1500000.00")}),
        ];
        for id in &borough_ids {
            payers.push(json!({"organisation_id": id, "role": "co_commissioner", "max_commitment": gbp("1700000.00")}));
        }
        let families = self.project(json!({
            "name": "Positive Families Partnership", "fund_id": cbo, "provider_organisation_id": pfp,
            "service_start": "2020-01-01", "service_end": "2024-12-31",
            "max_outcome_payment": gbp("10000000.00"),
            "policy_sector": "Child and family welfare", "target_population": "Adolescents on the edge of care",
            "social_challenge": "Children entering care",
            "stage_development": "Implementation",
            "payers": payers,
            "outcomes": [{"code": "week_out_of_care", "name": "Seven consecutive days out of care", "price": gbp("650.00"),
                          "unit": "week", "max_units_per_participant": 104}],
            "validator_organisation_ids": [validator],
        }))?;

        // Fair Chance Fund rate card with the 2016 rough sleeping per-person cap.
        let homelessness = self.project(json!({
            "name": "Youth Homelessness Partnership (Fair Chance rate card)", "fund_id": lcf,
            "provider_organisation_id": fair_chance,
            "service_start": "2019-01-01", "service_end": "2022-12-31",
            "participant_cap": gbp("19000.00"), "max_outcome_payment": gbp("1800000.00"),
            "cap_policy": "reallocate", "settlement_route": "via_commissioner",
            "policy_sector": "Homelessness", "target_population": "Homeless young people aged 18 to 24",
            "social_challenge": "Youth homelessness",
            "payers": [
                {"organisation_id": dcms, "role": "central_top_up", "max_commitment": gbp("540000.00"), "share": "0.3"},
                {"organisation_id": birmingham, "role": "local_commissioner", "max_commitment": gbp("1260000.00"), "share": "0.7", "lead": true},
            ],
            "outcomes": [
                {"code": "assessment_1", "name": "First assessment", "price": gbp("500.00"), "unit": "achievement"},
                {"code": "assessment_2", "name": "Second assessment", "price": gbp("500.00"), "unit": "achievement", "requires": {"outcome_code": "assessment_1", "min_days_after": 0}},
                {"code": "assessment_3", "name": "Third assessment", "price": gbp("200.00"), "unit": "achievement", "requires": {"outcome_code": "assessment_2", "min_days_after": 0}},
                outcome("accommodation_entry", "Accommodation move-in", "500.00"),
                {"code": "accommodation_3m", "name": "Accommodation sustained 3 months", "price": gbp("1500.00"), "unit": "achievement", "requires": {"outcome_code": "accommodation_entry", "min_days_after": 91}},
                {"code": "accommodation_6m", "name": "Accommodation sustained 6 months", "price": gbp("1500.00"), "unit": "achievement", "requires": {"outcome_code": "accommodation_3m", "min_days_after": 91}},
                {"code": "accommodation_12m", "name": "Accommodation sustained 12 months", "price": gbp("1500.00"), "unit": "achievement", "requires": {"outcome_code": "accommodation_6m", "min_days_after": 182}},
                {"code": "accommodation_18m", "name": "Accommodation sustained 18 months", "price": gbp("1500.00"), "unit": "achievement", "requires": {"outcome_code": "accommodation_12m", "min_days_after": 182}},
                outcome("education_training_entry", "Entry to education or training", "500.00"),
                outcome("qualification_entry_level", "First entry-level qualification", "1500.00"),
                outcome("qualification_level_1", "First Level 1 qualification", "2500.00"),
                outcome("qualification_level_2", "First Level 2 qualification", "3500.00"),
                outcome("employment_entry", "Employment entry", "500.00"),
                {"code": "part_time_13w", "name": "Part-time work 13 weeks", "price": gbp("3000.00"), "unit": "achievement", "exclusive_group": "work_13w", "requires": {"outcome_code": "employment_entry", "min_days_after": 91}},
                {"code": "full_time_13w", "name": "Full-time work 13 weeks", "price": gbp("4500.00"), "unit": "achievement", "exclusive_group": "work_13w", "requires": {"outcome_code": "employment_entry", "min_days_after": 91}},
                {"code": "part_time_26w", "name": "Part-time work 26 weeks", "price": gbp("2000.00"), "unit": "achievement", "exclusive_group": "work_26w", "requires": {"outcome_code": "part_time_13w", "min_days_after": 91}},
                {"code": "full_time_26w", "name": "Full-time work 26 weeks", "price": gbp("3500.00"), "unit": "achievement", "exclusive_group": "work_26w", "requires": {"outcome_code": "full_time_13w", "min_days_after": 91}},
                outcome("volunteering_6w", "Volunteering 6 weeks", "500.00"),
                {"code": "volunteering_13w", "name": "Volunteering 13 weeks", "price": gbp("500.00"), "unit": "achievement", "requires": {"outcome_code": "volunteering_6w", "min_days_after": 49}},
                {"code": "volunteering_20w", "name": "Volunteering 20 weeks", "price": gbp("250.00"), "unit": "achievement", "requires": {"outcome_code": "volunteering_13w", "min_days_after": 49}},
                {"code": "volunteering_26w", "name": "Volunteering 26 weeks", "price": gbp("250.00"), "unit": "achievement", "requires": {"outcome_code": "volunteering_20w", "min_days_after": 42}},
            ],
            "validator_organisation_ids": [validator],
            "published": true,
        }))?;

        // DWP Innovation Fund, rate card A: the central department as the only payer.
        let futures_ladder = self.project(json!({
            "name": "Futures Ladder (DWP Innovation Fund card A)", "fund_id": innovation,
            "provider_organisation_id": futures,
            "service_start": "2012-09-01", "service_end": "2015-08-31",
            "referral_cutoff": "2014-10-31",
            "policy_sector": "Employment and training", "target_population": "Young people aged 14 to 24 at risk of disadvantage",
            "social_challenge": "Young people not in education, employment or training",
            "payers": [{"organisation_id": dwp, "role": "central_top_up", "max_commitment": gbp("3300000.00")}],
            "outcomes": [
                {"code": "improved_behaviour", "name": "Improved behaviour", "price": gbp("1300.00"), "unit": "achievement", "max_age_at_start": 16},
                {"code": "improved_attendance", "name": "Improved attendance", "price": gbp("800.00"), "unit": "achievement", "max_age_at_start": 16},
                outcome("qualification_level_1", "First Level 1 qualification", "700.00"),
                outcome("qualification_level_2", "First Level 2 qualification", "2200.00"),
                outcome("qualification_level_3", "First Level 3 qualification", "3300.00"),
                outcome("level_4_entry", "Level 4 or higher-education entry", "2000.00"),
                outcome("esol", "English for speakers of other languages", "1200.00"),
                {"code": "employment_13w", "name": "Employment 13 weeks", "price": gbp("2600.00"), "unit": "achievement", "min_age_at_start": 18},
                {"code": "employment_26w", "name": "Employment 26 weeks", "price": gbp("1000.00"), "unit": "achievement", "min_age_at_start": 18,
                 "requires": {"outcome_code": "employment_13w", "min_days_after": 91}},
            ],
            "validator_organisation_ids": [validator],
            "published": true,
        }))?;
        let skill_mill_areas: Vec<&'static str> = skill_mill_councils
            .iter()
            .map(|(_, _, area, _)| *area)
            .collect();
        let cast = |project_id: String, provider_id: &str| Cast {
            project_id,
            provider_id: provider_id.to_owned(),
            validator_id: validator.clone(),
        };
        Ok(vec![
            (cast(reconnections, &age_uk), history::reconnections()),
            (
                cast(skill_mill_project, &skill_mill),
                history::skill_mill(&skill_mill_areas),
            ),
            (cast(families, &pfp), history::positive_families()),
            (
                cast(homelessness, &fair_chance),
                history::youth_homelessness(),
            ),
            (cast(futures_ladder, &futures), history::futures_ladder()),
        ])
    }
}
