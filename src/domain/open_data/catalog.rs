//! The published tables: their names, columns, types, meanings, keys and where each column
//! comes from. One declaration drives the database tables' use, the JSON API's filters, the
//! CSV headers, the Frictionless data dictionary and the check that nothing private is read.
//!
//! Names follow the INDIGO data standard (v4) wherever it has a field. Within v1, columns are
//! only ever added, never renamed or removed.

/// How a column's values are typed, stored and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    /// A whole number (counts, limits).
    Integer,
    /// Money: a decimal string with the currency's decimal places, beside a `_currency`
    /// column. Stored as integer ten-thousandths of the unit, so that range filters are exact.
    Amount,
    /// A decimal between 0 and 1, as the registry holds it (`0.15`).
    Share,
    /// ISO 8601 date.
    Date,
    /// ISO 8601 date and time in UTC (`2026-12-01T09:30:00Z`).
    DateTime,
}

impl FieldKind {
    /// The Frictionless Table Schema type.
    pub fn table_schema_type(self) -> &'static str {
        match self {
            FieldKind::Text => "string",
            FieldKind::Integer => "integer",
            FieldKind::Amount | FieldKind::Share => "number",
            FieldKind::Date => "date",
            FieldKind::DateTime => "datetime",
        }
    }

    /// Stored as an integer (filters compare numbers); otherwise as text, which for ISO dates
    /// sorts as the dates do.
    pub fn stored_as_integer(self) -> bool {
        matches!(self, FieldKind::Integer | FieldKind::Amount)
    }
}

/// Stored amounts are integers of this many decimal places of the unit.
pub const STORED_AMOUNT_DECIMALS: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub kind: FieldKind,
    pub description: &'static str,
    pub unit: Option<&'static str>,
    /// Never empty.
    pub required: bool,
    /// May be withheld to protect small numbers (written `suppressed` in CSV, null in JSON).
    pub suppressible: bool,
    /// The database columns (`table.column`) the value is read from.
    pub sources: &'static [&'static str],
    /// The value is a count or sum over rows of its sources, never one row's value.
    pub aggregate: bool,
    /// Columns whose distinct values an aggregate counts (to suppress small numbers of
    /// participants), never shows: these may be private.
    pub counts_distinct: &'static [&'static str],
}

const fn field(name: &'static str, kind: FieldKind, description: &'static str) -> Field {
    Field {
        name,
        kind,
        description,
        unit: None,
        required: true,
        suppressible: false,
        sources: &[],
        aggregate: false,
        counts_distinct: &[],
    }
}

impl Field {
    const fn from(self, sources: &'static [&'static str]) -> Field {
        Field { sources, ..self }
    }
    const fn optional(self) -> Field {
        Field {
            required: false,
            ..self
        }
    }
    /// A count or sum, withheld when small.
    const fn aggregate_of(self, sources: &'static [&'static str], unit: &'static str) -> Field {
        Field {
            sources,
            aggregate: true,
            suppressible: true,
            required: false,
            unit: Some(unit),
            ..self
        }
    }
    /// A count or sum that is published whole or not at all (its row waits until it may be).
    const fn aggregate_never_withheld(
        self,
        sources: &'static [&'static str],
        unit: &'static str,
    ) -> Field {
        Field {
            sources,
            aggregate: true,
            unit: Some(unit),
            ..self
        }
    }
    /// A grouping of aggregates by a coarsened value (the quarter of exact dates): no row's
    /// own value is shown.
    const fn coarsened(self) -> Field {
        Field {
            aggregate: true,
            ..self
        }
    }
    /// Counts, or is suppressed by counts of, distinct participants.
    const fn per_participant(self) -> Field {
        Field {
            counts_distinct: &["claims.participant_pseudonym"],
            ..self
        }
    }
    const fn unit(self, unit: &'static str) -> Field {
        Field {
            unit: Some(unit),
            ..self
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ForeignKey {
    pub fields: &'static [&'static str],
    pub table: &'static str,
    pub reference: &'static [&'static str],
}

#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// The machine name in URLs and file names.
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// The INDIGO v4 name of what a row is, where INDIGO has one.
    pub indigo: Option<&'static str>,
    pub fields: &'static [Field],
    pub primary_key: &'static [&'static str],
    pub foreign_keys: &'static [ForeignKey],
}

impl Table {
    /// The database table the rows are stored in.
    pub fn stored_in(&self) -> String {
        format!("published_{}", self.name)
    }

    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

use FieldKind::{Amount, Date, DateTime, Integer, Share, Text};

const DATE_MODIFIED: Field = field(
    "date_modified",
    DateTime,
    "When the record this row describes last changed (UTC).",
);
const PROJECT_ID: Field =
    field("project_id", Text, "The project's cofund id.").from(&["projects.id"]);
const METRIC_ID: Field = field(
    "outcome_metric_id",
    Text,
    "The outcome metric's cofund id (see outcome_metrics).",
)
.from(&["outcome_metrics.id"]);
const PERIOD_START: Field = field(
    "period_start_date",
    Date,
    "First day of the calendar quarter in which the outcomes were achieved.",
)
.from(&["claims.achieved_on", "allocations.achieved_on"])
.coarsened();
const PERIOD_END: Field = field(
    "period_end_date",
    Date,
    "Last day of the calendar quarter in which the outcomes were achieved.",
)
.from(&["claims.achieved_on", "allocations.achieved_on"])
.coarsened();

const CURRENCY_SOURCES: &[&str] = &["projects.currency"];

pub static TABLES: &[Table] = &[
    Table {
        name: "funds",
        title: "Outcome funds",
        description: "Outcome funds that pay towards at least one published project.",
        indigo: Some("fund"),
        fields: &[
            field("fund_id", Text, "The fund's cofund id.").from(&["funds.id"]),
            field("name", Text, "The fund's name.").from(&["funds.name"]),
            field(
                "owner_organisation_id",
                Text,
                "The organisation that holds the fund's budget.",
            )
            .from(&["funds.owner_organisation_id"]),
            field("budget_amount", Amount, "The fund's total budget.")
                .from(&["funds.budget_minor"]),
            field("budget_currency", Text, "ISO 4217 currency of the budget.")
                .from(&["funds.currency"]),
            field("start_date", Date, "First day the fund pays for outcomes.")
                .from(&["funds.service_start"]),
            field("end_date", Date, "Last day the fund pays for outcomes.")
                .from(&["funds.service_end"]),
            DATE_MODIFIED.from(&["funds.created_at"]),
        ],
        primary_key: &["fund_id"],
        foreign_keys: &[ForeignKey {
            fields: &["owner_organisation_id"],
            table: "organisations",
            reference: &["organisation_id"],
        }],
    },
    Table {
        name: "organisations",
        title: "Organisations",
        description: "Public bodies and companies that commission, pay for, deliver or fund a published project. No contact details.",
        indigo: Some("organisation"),
        fields: &[
            field("organisation_id", Text, "The organisation's cofund id.")
                .from(&["organisations.id"]),
            field("name", Text, "The organisation's name.").from(&["organisations.name"]),
            field(
                "organisation_role_category",
                Text,
                "INDIGO's category: Government/Public Sector/Public Bank, Investment Fund or Other.",
            )
            .from(&["organisations.kind"]),
            field(
                "organisation_kind",
                Text,
                "cofund's kind: central_fund, local_authority, nhs_body, provider, investor, intermediary, validator or other.",
            )
            .from(&["organisations.kind"]),
            field(
                "org_id",
                Text,
                "The org-id.guide identifier, such as GB-COH-09506232; empty when not known.",
            )
            .from(&["organisations.identifier"])
            .optional(),
            DATE_MODIFIED.from(&["organisations.created_at"]),
        ],
        primary_key: &["organisation_id"],
        foreign_keys: &[],
    },
    Table {
        name: "projects",
        title: "Projects",
        description: "Published social outcomes partnerships.",
        indigo: Some("project"),
        fields: &[
            PROJECT_ID,
            field("name", Text, "The project's name.").from(&["projects.name"]),
            field(
                "outcome_fund_ids",
                Text,
                "The funds that pay towards the project, separated by semicolons.",
            )
            .from(&["projects.fund_id", "project_payers.fund_id"])
            .optional(),
            field(
                "provider_organisation_id",
                Text,
                "The organisation that delivers the service and claims the outcomes.",
            )
            .from(&["projects.provider_organisation_id"]),
            field("stage_development", Text, "INDIGO's stage of development.")
                .from(&["projects.stage_development"])
                .optional(),
            field(
                "start_date_of_service_provision",
                Date,
                "First day of the service.",
            )
            .from(&["projects.service_start"]),
            field(
                "anticipated_end_date_of_service_provision",
                Date,
                "Last day of the service.",
            )
            .from(&["projects.service_end"]),
            field("policy_sector", Text, "INDIGO's policy sector.")
                .from(&["projects.policy_sector"])
                .optional(),
            field("social_challenge", Text, "The problem the project addresses.")
                .from(&["projects.social_challenge"])
                .optional(),
            field("target_population", Text, "Who the service is for.")
                .from(&["projects.target_population"])
                .optional(),
            field(
                "maximum_potential_outcome_payment_amount",
                Amount,
                "The contract cap on all outcome payments; empty when the project has none.",
            )
            .from(&["projects.max_outcome_payment_minor"])
            .optional(),
            field(
                "maximum_potential_outcome_payment_currency",
                Text,
                "ISO 4217 currency of the project's money.",
            )
            .from(CURRENCY_SOURCES),
            field(
                "total_outcome_payments_made_amount",
                Amount,
                "Outcome payments due from all payers for the verified outcomes of the published quarters, as each quarter stood when it was first published (the sum of the project's payments_quarterly rows); withheld while any of them is, or while a closed quarter waits to be published.",
            )
            .aggregate_of(&["allocations.amount_minor"], "currency")
            .per_participant(),
            field(
                "total_outcome_payments_made_currency",
                Text,
                "ISO 4217 currency of the total.",
            )
            .from(CURRENCY_SOURCES),
            DATE_MODIFIED.from(&["projects.created_at"]),
        ],
        primary_key: &["project_id"],
        foreign_keys: &[ForeignKey {
            fields: &["provider_organisation_id"],
            table: "organisations",
            reference: &["organisation_id"],
        }],
    },
    Table {
        name: "project_payers",
        title: "Outcome payment commitments",
        description: "Who pays for a project's outcomes, up to what, in what share, and how much so far.",
        indigo: Some("outcome_payment_commitments"),
        fields: &[
            PROJECT_ID,
            field("organisation_id", Text, "The paying organisation.")
                .from(&["project_payers.organisation_id"]),
            field(
                "organisation_role_category",
                Text,
                "INDIGO's category of the payer: Government/Public Sector/Public Bank, Investment Fund or Other.",
            )
            .from(&["organisations.kind"]),
            field(
                "payer_role",
                Text,
                "The payer's role in the project: central_top_up, local_commissioner or co_commissioner.",
            )
            .from(&["project_payers.role"]),
            field(
                "maximum_potential_outcome_payment_amount",
                Amount,
                "The most the payer will pay for the project's outcomes.",
            )
            .from(&["project_payers.max_commitment_minor"]),
            field(
                "maximum_potential_outcome_payment_currency",
                Text,
                "ISO 4217 currency.",
            )
            .from(CURRENCY_SOURCES),
            field(
                "share",
                Share,
                "The payer's fixed share of each payment (0 to 1); empty when shares follow the commitments pro rata or change by phase.",
            )
            .from(&["project_payers.share"])
            .optional(),
            field(
                "total_outcome_payments_amount",
                Amount,
                "What the payer owes for the verified outcomes of the published quarters, as each quarter stood when it was first published (the sum of its payments_quarterly rows); withheld while any of them is, or while a closed quarter waits to be published.",
            )
            .aggregate_of(&["allocations.amount_minor"], "currency")
            .per_participant(),
            field("total_outcome_payments_currency", Text, "ISO 4217 currency.")
                .from(CURRENCY_SOURCES),
        ],
        primary_key: &["project_id", "organisation_id"],
        foreign_keys: &[
            ForeignKey {
                fields: &["project_id"],
                table: "projects",
                reference: &["project_id"],
            },
            ForeignKey {
                fields: &["organisation_id"],
                table: "organisations",
                reference: &["organisation_id"],
            },
        ],
    },
    Table {
        name: "outcome_metrics",
        title: "Outcome metrics and prices",
        description: "The rate card: each outcome a project pays for, its price and its limits (INDIGO outcome_metrics with outcome_pricings).",
        indigo: Some("outcome_metrics"),
        fields: &[
            PROJECT_ID,
            METRIC_ID,
            field("code", Text, "The outcome's short code on the rate card.")
                .from(&["outcome_metrics.code"]),
            field("definition", Text, "What counts as the outcome.")
                .from(&["outcome_metrics.name"]),
            field("unit", Text, "What one unit is: achievement, week or day.")
                .from(&["outcome_metrics.unit"]),
            field("price_per_unit_amount", Amount, "The price of one unit.")
                .from(&["outcome_metrics.price_minor"]),
            field("currency", Text, "ISO 4217 currency of the price.").from(CURRENCY_SOURCES),
            field(
                "max_units_per_participant",
                Integer,
                "Most units paid per participant; empty when unlimited.",
            )
            .from(&["outcome_metrics.max_units_per_participant"])
            .unit("units")
            .optional(),
            field(
                "max_claims_per_participant",
                Integer,
                "Most claims paid per participant.",
            )
            .from(&["outcome_metrics.max_claims_per_participant"])
            .unit("claims"),
            field(
                "volume_cap",
                Integer,
                "Most units paid across the project; empty when unlimited.",
            )
            .from(&["outcome_metrics.volume_cap"])
            .unit("units")
            .optional(),
            field(
                "min_age_at_start",
                Integer,
                "Youngest eligible age at the start of the service; empty when none.",
            )
            .from(&["outcome_metrics.min_age_at_start"])
            .unit("years")
            .optional(),
            field(
                "max_age_at_start",
                Integer,
                "Oldest eligible age at the start of the service; empty when none.",
            )
            .from(&["outcome_metrics.max_age_at_start"])
            .unit("years")
            .optional(),
        ],
        primary_key: &["outcome_metric_id"],
        foreign_keys: &[ForeignKey {
            fields: &["project_id"],
            table: "projects",
            reference: &["project_id"],
        }],
    },
    Table {
        name: "results_quarterly",
        title: "Results by quarter",
        description: "Outcomes achieved and paid, and participants engaged, per outcome metric and calendar quarter of achievement.",
        indigo: Some("results"),
        fields: &[
            PROJECT_ID,
            METRIC_ID,
            PERIOD_START,
            PERIOD_END,
            field(
                "outcomes_achieved",
                Integer,
                "Units of outcome verified, achieved in the quarter (revoked claims excluded).",
            )
            .aggregate_of(&["claims.quantity", "claims.status"], "units")
            .per_participant(),
            field(
                "outcomes_paid",
                Integer,
                "Units of those outcomes that are paid for (after caps).",
            )
            .aggregate_of(&["claims.paid_units", "claims.status"], "units")
            .per_participant(),
            field(
                "number_engaged_in_impact_bond",
                Integer,
                "Distinct participants with a claim for the metric achieved in the quarter.",
            )
            .aggregate_of(&["claims.status"], "participants")
            .per_participant(),
        ],
        primary_key: &["project_id", "outcome_metric_id", "period_start_date"],
        foreign_keys: &[ForeignKey {
            fields: &["outcome_metric_id"],
            table: "outcome_metrics",
            reference: &["outcome_metric_id"],
        }],
    },
    Table {
        name: "payments_quarterly",
        title: "Outcome payments by quarter, payer and metric",
        description: "Outcome payments due from each payer for each outcome metric, by calendar quarter in which the verified outcomes were achieved, net of revocations.",
        indigo: Some("outcome_payments"),
        fields: &[
            PROJECT_ID,
            METRIC_ID,
            PERIOD_START,
            PERIOD_END,
            field("payer_organisation_id", Text, "The organisation that pays.")
                .from(&["project_payers.organisation_id"]),
            field(
                "recipient_organisation_id",
                Text,
                "The organisation paid: the provider, or under settlement via the lead commissioner, the lead commissioner for the other payers' shares.",
            )
            .from(&["projects.provider_organisation_id", "project_payers.lead"]),
            field("money_amount", Amount, "The sum due.")
                .aggregate_of(&["allocations.amount_minor"], "currency")
            .per_participant(),
            field("money_currency", Text, "ISO 4217 currency.").from(CURRENCY_SOURCES),
        ],
        primary_key: &[
            "project_id",
            "outcome_metric_id",
            "period_start_date",
            "payer_organisation_id",
        ],
        foreign_keys: &[
            ForeignKey {
                fields: &["outcome_metric_id"],
                table: "outcome_metrics",
                reference: &["outcome_metric_id"],
            },
            ForeignKey {
                fields: &["payer_organisation_id"],
                table: "organisations",
                reference: &["organisation_id"],
            },
        ],
    },
    Table {
        name: "adjustments",
        title: "Adjustments to published quarters",
        description: "What changed in the quarters already published (late verifications less revocations), per project, outcome metric and calendar year, net over all the project's published quarters (withheld ones included) since they were published or last adjusted. A published quarter never changes; changes that cannot be published yet are in neither the quarters nor the adjustments. Adjustments are made once a year, by the first rebuild of the year; a row is published only when each count's change is nothing or at least the suppression threshold, and changes that cannot be published yet wait for the next year.",
        indigo: None,
        fields: &[
            PROJECT_ID,
            METRIC_ID,
            field("year", Integer, "The calendar year whose adjustment round published it.")
                .from(&["open_data_adjustments.year"])
                .coarsened(),
            field(
                "date_published",
                Date,
                "The day of that year's round: the first rebuild of the year.",
            )
            .from(&["open_data_adjustments.published_at"])
            .coarsened(),
            field(
                "outcomes_achieved_change",
                Integer,
                "Net change in units of outcome verified in the published quarters since the previous adjustment (or since they were published): late verifications less revocations.",
            )
            .aggregate_never_withheld(&["claims.quantity", "claims.status"], "units")
            .per_participant(),
            field(
                "outcomes_paid_change",
                Integer,
                "Net change in units of those outcomes that are paid for.",
            )
            .aggregate_never_withheld(&["claims.paid_units", "claims.status"], "units")
            .per_participant(),
            field(
                "money_amount_change",
                Amount,
                "Net change in the outcome payments due from all payers; withheld unless every outcome in the changed quarters is paid exactly its price and every earlier adjustment of the metric showed its money (otherwise the sum could tell which outcomes changed).",
            )
            .aggregate_of(&["allocations.amount_minor"], "currency")
            .per_participant(),
            field("money_currency", Text, "ISO 4217 currency.").from(CURRENCY_SOURCES),
        ],
        primary_key: &["project_id", "outcome_metric_id", "year"],
        foreign_keys: &[ForeignKey {
            fields: &["outcome_metric_id"],
            table: "outcome_metrics",
            reference: &["outcome_metric_id"],
        }],
    },
];
