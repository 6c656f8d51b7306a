//! The examples of the OpenAPI document's responses, one story throughout: the Department for
//! Work and Pensions tops up Herefordshire Council's "Reconnections" project from its Work and
//! Health Outcomes Fund; the Reconnections Delivery Partnership claims `ENGAGED` and
//! `EMPLOYED_13W` outcomes, Independent Outcomes Validation verifies them, and the 2026-Q3
//! invoices are built, issued and paid. The request bodies' examples (on the input types) tell
//! the same story with the same ids. Each function is named by a schema's `example` or a
//! response's; the lists are pages of the same items.

use serde_json::{json, Map, Value};

const DWP: &str = "org_019cadd1a6a070088e242d1d87a6e39b";
const COUNCIL: &str = "org_019cadd31da07460a287edcaad404949";
const PROVIDER: &str = "org_019cadd4ac107171b49ad4b4d1357fbc";
const VALIDATOR: &str = "org_019cadd607b87ff0862cc2541976b942";
const FUND: &str = "fund_019cadffee48765c8722f23a4f14560c";
const PROJECT: &str = "prj_019cd2f8417872c3bcb28f041200bb52";
const PAYER_DWP: &str = "pyr_019cd2f841787fb685699b30a69adba2";
const PAYER_COUNCIL: &str = "pyr_019cd2f841787889bcbcf58f0925ed2a";
const OUTCOME_ENGAGED: &str = "out_019cd2f841787d43bbfe2103459daded";
const OUTCOME_EMPLOYED: &str = "out_019cd2f841787bdca9efaaf35db8b107";
/// HC-2026-00417's `ENGAGED`, verified in 2026-Q2.
const CLAIM_ENGAGED: &str = "clm_019ed01aaa48732aae9065da13c339ad";
const UPLOAD: &str = "upl_01a0b8ca517079f09d355c00842a246a";
/// HC-2026-00417's `EMPLOYED_13W`, row 1 of the upload.
const CLAIM_EMPLOYED: &str = "clm_01a0b8ca51707db39420e01d6e4e6e9e";
/// HC-2026-00452's `ENGAGED`, row 2 of the upload.
const CLAIM_ENGAGED_2: &str = "clm_01a0b8ca51707c6ea1c321e9cb30e1d4";
/// The 2026-Q3 invoice to the council.
const INVOICE_COUNCIL: &str = "doc_01a0f6b155607445ac60d5ecafea6133";
/// The council's invoice for 2026-Q2, issued and paid in July.
const INVOICE_COUNCIL_Q2: &str = "doc_019f2776b9807e61b0a3c58d2e7f4a19";
/// The 2026-Q3 invoice to the DWP, voided.
const INVOICE_DWP: &str = "doc_01a0f6b15560760c9ce49f74855287cf";
const CREDIT_NOTE: &str = "doc_01a10cb8cc807cd39c440843ddae7131";
const PAYMENT: &str = "pay_01a18202308073aebaee3522344e3706";
const PSEUDONYM_417: &str = "5f0c2a9d41e87b3c6a1d09e4b27f8c53";
const PSEUDONYM_452: &str = "b81e4d7a2c905f63e17a48d0c2b95e06";

fn gbp(amount: &str) -> Value {
    json!({"amount": amount, "currency": "GBP"})
}

fn page(items: Vec<Value>) -> Value {
    json!({"items": items, "next_cursor": null})
}

pub fn organisation_view() -> Value {
    json!({
        "id": COUNCIL,
        "name": "Herefordshire Council",
        "kind": "local_authority",
        "identifier": "GB-LAE-HEF",
        "area_codes": ["E06000019"],
        "billing_emails": ["accounts.payable@herefordshire.example"],
        "created_at": "2026-03-02T09:13:40.512Z"
    })
}

/// As a token of the council sees them: billing emails of its own organisation only.
pub fn organisation_page() -> Value {
    page(vec![
        json!({
            "id": DWP,
            "name": "Department for Work and Pensions",
            "kind": "central_fund",
            "identifier": null,
            "area_codes": [],
            "created_at": "2026-03-02T09:12:04.870Z"
        }),
        organisation_view(),
        json!({
            "id": PROVIDER,
            "name": "Reconnections Delivery Partnership",
            "kind": "provider",
            "identifier": null,
            "area_codes": [],
            "created_at": "2026-03-02T09:15:22.104Z"
        }),
    ])
}

pub fn fund_view() -> Value {
    json!({
        "id": FUND,
        "name": "Work and Health Outcomes Fund",
        "owner_organisation_id": DWP,
        "budget": gbp("20000000.00"),
        "committed": gbp("450000.00"),
        "uncommitted": gbp("19550000.00"),
        "service_start": "2026-04-01",
        "service_end": "2031-03-31",
        "created_at": "2026-03-02T10:02:37.219Z"
    })
}

pub fn fund_page() -> Value {
    page(vec![fund_view()])
}

/// As the fund's manager sees it, after the claims of 2026-Q2 and Q3 were verified.
/// The DWP's fund manager proposed the project; the council accepted its part a day later.
pub fn commitments() -> Value {
    json!({
        "project_id": PROJECT,
        "agreement": "agreed",
        "events": [
            {"payer_id": PAYER_DWP, "organisation_id": DWP, "status": "accepted",
             "decided_by": "dana@dwp.example", "decided_by_organisation_id": DWP,
             "decided_at": "2026-03-02T09:15:00Z", "reason": null,
             "note": "made by the payer's own organisation"},
            {"payer_id": PAYER_COUNCIL, "organisation_id": COUNCIL, "status": "proposed",
             "decided_by": "dana@dwp.example", "decided_by_organisation_id": DWP,
             "decided_at": "2026-03-02T09:15:00Z", "reason": null,
             "note": "proposed: the payer has yet to accept or decline it"},
            {"payer_id": PAYER_COUNCIL, "organisation_id": COUNCIL, "status": "accepted",
             "decided_by": null, "decided_by_organisation_id": COUNCIL,
             "decided_at": "2026-03-03T14:40:00Z", "reason": null,
             "note": "accepted by the payer"}
        ]
    })
}

/// A 150,000-row monthly file, taken as a job and half checked.
pub fn job_view() -> Value {
    json!({
        "id": "job_01a1c2d3e4f5789a0b1c2d3e4f5a6b7c",
        "kind": "submit_claims",
        "project_id": PROJECT,
        "state": "running",
        "rows_total": 150000,
        "rows_done": 75000,
        "rows_left": 75000,
        "attempts": 1,
        "created_at": "2026-10-05T09:00:00Z",
        "started_at": "2026-10-05T09:00:01Z",
        "finished_at": null,
        "result": null,
        "problem": null
    })
}

pub fn project_view() -> Value {
    json!({
        "id": PROJECT,
        "name": "Reconnections",
        "fund_id": FUND,
        "provider_organisation_id": PROVIDER,
        "currency": "GBP",
        "service_start": "2026-04-01",
        "service_end": "2029-03-31",
        "referral_cutoff": "2028-09-30",
        "max_outcome_payment": gbp("1500000.00"),
        "participant_cap": gbp("3000.00"),
        "cap_policy": "shortfall",
        "settlement_route": "direct",
        "settlement_frequency": "quarterly",
        "payment_terms_days": 30,
        "agreement": "agreed",
        "payers": project_payers(),
        "outcomes": project_outcomes(),
        "validator_organisation_ids": [VALIDATOR],
        "published": true,
        "policy_sector": "Employment and training",
        "target_population": "Adults out of work for a year or more",
        "stage_development": "Implementation",
        "social_challenge": "Long-term unemployment",
        "created_at": "2026-03-09T14:20:11.402Z"
    })
}

/// The payers of [`project_view`]: the central fund's top-up and the council.
fn project_payers() -> Value {
    json!([
        {
            "id": PAYER_DWP,
            "organisation_id": DWP,
            "role": "central_top_up",
            "max_commitment": gbp("450000.00"),
            "share_basis": "fixed",
            "share": "0.3",
            "phases": [],
            "home_area_codes": [],
            "lead": false,
            "fund_id": FUND,
            "commitment": "accepted",
            "totals": {
                "allocated": gbp("942.00"),
                "shortfall": gbp("0.00"),
                "headroom": gbp("449058.00")
            }
        },
        {
            "id": PAYER_COUNCIL,
            "organisation_id": COUNCIL,
            "role": "local_commissioner",
            "max_commitment": gbp("1050000.00"),
            "share_basis": "fixed",
            "share": "0.7",
            "phases": [],
            "home_area_codes": [],
            "lead": true,
            "fund_id": null,
            "commitment": "accepted",
            "totals": {
                "allocated": gbp("2198.00"),
                "shortfall": gbp("0.00"),
                "headroom": gbp("1047802.00")
            }
        }
    ])
}

/// The rate card of [`project_view`].
fn project_outcomes() -> Value {
    json!([
        {
            "id": OUTCOME_ENGAGED,
            "code": "ENGAGED",
            "name": "Engaged with a work coach",
            "price": gbp("400.00"),
            "unit": "achievement",
            "max_units_per_participant": null,
            "max_claims_per_participant": 1,
            "exclusive_group": null,
            "requires": null,
            "volume_cap": null,
            "deadweight": null,
            "min_age_at_start": null,
            "max_age_at_start": null
        },
        {
            "id": OUTCOME_EMPLOYED,
            "code": "EMPLOYED_13W",
            "name": "13 weeks in paid work",
            "price": gbp("2600.00"),
            "unit": "achievement",
            "max_units_per_participant": null,
            "max_claims_per_participant": 1,
            "exclusive_group": null,
            "requires": {"outcome_code": "ENGAGED", "min_days_after": 91},
            "volume_cap": null,
            "deadweight": "0.1",
            "min_age_at_start": null,
            "max_age_at_start": null
        }
    ])
}

pub fn project_page() -> Value {
    page(vec![project_view()])
}

fn allocation(
    id: &str,
    claim: &str,
    payer: (&str, &str),
    amount: &str,
    on: &str,
    at: &str,
) -> Value {
    json!({
        "id": id,
        "claim_id": claim,
        "payer_id": payer.0,
        "payer_organisation_id": payer.1,
        "amount": gbp(amount),
        "shortfall": gbp("0.00"),
        "achieved_on": on,
        "posted_at": at,
        "reverses": null
    })
}

const VERIFIED_AT: &str = "2026-09-21T10:42:18.655Z";

/// The council's share of HC-2026-00417's `EMPLOYED_13W`.
pub fn allocation_view() -> Value {
    allocation(
        "1843",
        CLAIM_EMPLOYED,
        (PAYER_COUNCIL, COUNCIL),
        "1638.00",
        "2026-09-18",
        VERIFIED_AT,
    )
}

/// As the fund's manager sees them: every payer's lines.
pub fn allocation_page() -> Value {
    let june = "2026-06-19T15:08:51.337Z";
    page(vec![
        allocation(
            "1201",
            CLAIM_ENGAGED,
            (PAYER_DWP, DWP),
            "120.00",
            "2026-06-15",
            june,
        ),
        allocation(
            "1202",
            CLAIM_ENGAGED,
            (PAYER_COUNCIL, COUNCIL),
            "280.00",
            "2026-06-15",
            june,
        ),
        allocation(
            "1842",
            CLAIM_EMPLOYED,
            (PAYER_DWP, DWP),
            "702.00",
            "2026-09-18",
            VERIFIED_AT,
        ),
        allocation_view(),
        allocation(
            "1844",
            CLAIM_ENGAGED_2,
            (PAYER_DWP, DWP),
            "120.00",
            "2026-09-02",
            VERIFIED_AT,
        ),
        allocation(
            "1845",
            CLAIM_ENGAGED_2,
            (PAYER_COUNCIL, COUNCIL),
            "280.00",
            "2026-09-02",
            VERIFIED_AT,
        ),
    ])
}

/// HC-2026-00417's `EMPLOYED_13W`, verified, as the validator sees it.
pub fn claim_view() -> Value {
    json!({
        "id": CLAIM_EMPLOYED,
        "project_id": PROJECT,
        "outcome_code": "EMPLOYED_13W",
        "participant_pseudonym": PSEUDONYM_417,
        "achieved_on": "2026-09-18",
        "period_start": "2026-09-18",
        "quantity": 1,
        "evidence_ref": "payroll-2026-09-18-0417",
        "home_area": "E06000019",
        "age_at_start": 34,
        "referred_on": "2026-05-27",
        "upload_id": UPLOAD,
        "status": "verified",
        "submitted_by": "jo.okafor",
        "submitted_at": "2026-09-19T08:31:02.918Z",
        "decided_by": "mina.hughes",
        "decided_at": VERIFIED_AT,
        "rejection_reason": null,
        "revoked_at": null,
        "revocation_reason": null,
        "gross": gbp("2600.00"),
        "payable": gbp("2340.00"),
        "adjustments": [
            {"kind": "deadweight", "amount": gbp("260.00"), "detail": "deadweight of 0.1 deducted"}
        ],
        "allocations": [
            allocation("1842", CLAIM_EMPLOYED, (PAYER_DWP, DWP), "702.00", "2026-09-18", VERIFIED_AT),
            allocation_view()
        ]
    })
}

/// HC-2026-00501's `ENGAGED`, submitted on its own and not yet decided: no value yet.
fn submitted_claim() -> Value {
    json!({
        "id": "clm_01a13aaf43587e21a0c94b3f18d6e27f",
        "project_id": PROJECT,
        "outcome_code": "ENGAGED",
        "participant_pseudonym": "3e92ccbbcace21c0f72f46232275441f",
        "achieved_on": "2026-10-12",
        "period_start": "2026-10-12",
        "quantity": 1,
        "evidence_ref": "keyworker-log-0501",
        "home_area": "E06000019",
        "age_at_start": 29,
        "referred_on": "2026-09-30",
        "upload_id": null,
        "status": "submitted",
        "submitted_by": "jo.okafor",
        "submitted_at": "2026-10-14T13:52:07.448Z",
        "decided_by": null,
        "decided_at": null,
        "rejection_reason": null,
        "revoked_at": null,
        "revocation_reason": null,
        "gross": null,
        "payable": null,
        "adjustments": [],
        "allocations": []
    })
}

pub fn claim_page() -> Value {
    page(vec![claim_view(), submitted_claim()])
}

/// The two rows of [`BULK_CSV`], stored.
pub fn bulk_report() -> Value {
    json!({
        "upload_id": UPLOAD,
        "mode": "all_or_nothing",
        "rows": 2,
        "accepted": 2,
        "rejected": 0,
        "stored": 2,
        "results": [
            {"row": 1, "status": "accepted", "claim_id": CLAIM_EMPLOYED},
            {"row": 2, "status": "accepted", "claim_id": CLAIM_ENGAGED_2}
        ]
    })
}

pub const BULK_CSV: &str = "participant_ref,outcome_code,achieved_on,quantity,evidence_ref,home_area,age_at_start,referred_on\n\
HC-2026-00417,EMPLOYED_13W,2026-09-18,1,payroll-2026-09-18-0417,E06000019,34,2026-05-27\n\
HC-2026-00452,ENGAGED,2026-09-02,1,keyworker-log-0452,E06000019,51,2026-08-19\n";

pub const BULK_NDJSON: &str = "{\"participant_ref\": \"HC-2026-00417\", \"outcome_code\": \"EMPLOYED_13W\", \"achieved_on\": \"2026-09-18\", \"quantity\": 1, \"evidence_ref\": \"payroll-2026-09-18-0417\", \"home_area\": \"E06000019\", \"age_at_start\": 34, \"referred_on\": \"2026-05-27\"}\n\
{\"participant_ref\": \"HC-2026-00452\", \"outcome_code\": \"ENGAGED\", \"achieved_on\": \"2026-09-02\", \"quantity\": 1, \"evidence_ref\": \"keyworker-log-0452\", \"home_area\": \"E06000019\", \"age_at_start\": 51, \"referred_on\": \"2026-08-19\"}\n";

/// The upload's two claims verified, and a claim sent again that was verified in June.
pub fn bulk_verify_report() -> Value {
    json!({
        "requested": 3,
        "verified": 2,
        "refused": 1,
        "results": [
            {"claim_id": CLAIM_EMPLOYED, "verified": true, "payable": gbp("2340.00")},
            {"claim_id": CLAIM_ENGAGED_2, "verified": true, "payable": gbp("400.00")},
            {
                "claim_id": CLAIM_ENGAGED,
                "verified": false,
                "reasons": [{"code": "not_submitted", "detail": "the claim is verified, not submitted"}]
            }
        ]
    })
}

fn party(id: &str) -> Value {
    let (name, identifier) = match id {
        DWP => ("Department for Work and Pensions", None),
        COUNCIL => ("Herefordshire Council", Some("GB-LAE-HEF")),
        _ => ("Reconnections Delivery Partnership", None),
    };
    json!({"organisation_id": id, "name": name, "identifier": identifier})
}

/// A 2026-Q3 document of the provider's with two lines; `money` is its total, paid and
/// outstanding, `issued` its issue and due dates.
#[allow(clippy::too_many_arguments)]
fn summary(
    id: &str,
    kind: &str,
    recipient: &str,
    number: Option<&str>,
    status: &str,
    money: (&str, &str, &str),
    issued: (Option<&str>, Option<&str>),
    created_at: &str,
) -> Value {
    json!({
        "id": id,
        "kind": kind,
        "number": number,
        "status": status,
        "project_id": PROJECT,
        "period": "2026-Q3",
        "period_start": "2026-07-01",
        "period_end": "2026-09-30",
        "issuer_organisation_id": PROVIDER,
        "recipient_organisation_id": recipient,
        "issuer": party(PROVIDER),
        "recipient": party(recipient),
        "total": gbp(money.0),
        "paid": gbp(money.1),
        "outstanding": gbp(money.2),
        "issued_on": issued.0,
        "due_on": issued.1,
        "credits_document_id": null,
        "void_reason": null,
        "line_count": 2,
        "created_at": created_at
    })
}

const BUILT_AT: &str = "2026-10-01T09:00:12.581Z";

/// The council's 2026-Q3 invoice, issued and paid in full.
pub fn document_summary() -> Value {
    summary(
        INVOICE_COUNCIL,
        "invoice",
        COUNCIL,
        Some("RDP-2026-0003"),
        "paid",
        ("1918.00", "1918.00", "0.00"),
        (Some("2026-10-02"), Some("2026-11-01")),
        BUILT_AT,
    )
}

/// The council's invoice as the council sees it: the provider's people are not named to it.
pub fn document_view() -> Value {
    let mut view = document_summary();
    let rest = json!({
        "lines": [
            {
                "position": 0,
                "claim_id": CLAIM_EMPLOYED,
                "outcome_code": "EMPLOYED_13W",
                "participant_pseudonym": PSEUDONYM_417,
                "achieved_on": "2026-09-18",
                "posted_at": VERIFIED_AT,
                "amount": gbp("1638.00")
            },
            {
                "position": 1,
                "claim_id": CLAIM_ENGAGED_2,
                "outcome_code": "ENGAGED",
                "participant_pseudonym": PSEUDONYM_452,
                "achieved_on": "2026-09-02",
                "posted_at": VERIFIED_AT,
                "amount": gbp("280.00")
            }
        ],
        "payments": [
            {
                "id": PAYMENT,
                "amount": gbp("1918.00"),
                "paid_on": "2026-10-28",
                "reference": "BACS HC-PO-558213",
                "recorded_by": "sam.price",
                "recorded_by_organisation_id": COUNCIL,
                "recorded_at": "2026-10-28T10:15:44.090Z",
                "settled_by": "payment",
                "counterpart_document_id": null
            }
        ],
        "history": [
            {
                "action": "built",
                "actor": null,
                "actor_organisation_id": PROVIDER,
                "at": BUILT_AT,
                "detail": "2 lines, total 191800 minor units"
            },
            {
                "action": "issued",
                "actor": null,
                "actor_organisation_id": PROVIDER,
                "at": "2026-10-02T09:30:05.716Z",
                "detail": "numbered RDP-2026-0003, due 2026-11-01"
            },
            {
                "action": "paid",
                "actor": "sam.price",
                "actor_organisation_id": COUNCIL,
                "at": "2026-10-28T10:15:44.090Z",
                "detail": "191800 minor units paid on 2026-10-28"
            }
        ]
    });
    if let (Some(view), Value::Object(rest)) = (view.as_object_mut(), rest) {
        view.extend(rest);
    }
    view
}

fn draft(id: &str, recipient: &str, total: &str) -> Value {
    summary(
        id,
        "invoice",
        recipient,
        None,
        "draft",
        (total, "0.00", "0.00"),
        (None, None),
        BUILT_AT,
    )
}

/// The provider builds 2026-Q3: an invoice to each payer.
pub fn settlement_report() -> Value {
    json!({
        "period": "2026-Q3",
        "replaced_drafts": 0,
        "allocations_settled": 4,
        "documents": [
            draft(INVOICE_COUNCIL, COUNCIL, "1918.00"),
            draft(INVOICE_DWP, DWP, "822.00")
        ]
    })
}

pub fn document_page() -> Value {
    let dwp_issued = summary(
        INVOICE_DWP,
        "invoice",
        DWP,
        Some("RDP-2026-0004"),
        "issued",
        ("822.00", "0.00", "822.00"),
        (Some("2026-10-02"), Some("2026-11-01")),
        BUILT_AT,
    );
    page(vec![document_summary(), dwp_issued])
}

/// The DWP's invoice, sent to the wrong address, voided by the provider.
pub fn void_report() -> Value {
    let mut voided = summary(
        INVOICE_DWP,
        "invoice",
        DWP,
        Some("RDP-2026-0004"),
        "void",
        ("822.00", "0.00", "0.00"),
        (Some("2026-10-02"), Some("2026-11-01")),
        BUILT_AT,
    );
    voided["void_reason"] = json!("issued to the wrong address");
    let mut credit = summary(
        CREDIT_NOTE,
        "credit_note",
        DWP,
        Some("RDP-2026-0005"),
        "issued",
        ("-822.00", "0.00", "0.00"),
        (Some("2026-10-05"), None),
        "2026-10-05T15:40:00.233Z",
    );
    credit["credits_document_id"] = json!(INVOICE_DWP);
    json!({"voided": voided, "credit_note": credit})
}

pub const DOCUMENT_CSV: &str = "document_id,document_number,kind,period,issuer_organisation_id,recipient_organisation_id,line,claim_id,outcome_code,participant_pseudonym,achieved_on,amount\n\
doc_01a0f6b155607445ac60d5ecafea6133,RDP-2026-0003,invoice,2026-Q3,org_019cadd4ac107171b49ad4b4d1357fbc,org_019cadd31da07460a287edcaad404949,1,clm_01a0b8ca51707db39420e01d6e4e6e9e,EMPLOYED_13W,5f0c2a9d41e87b3c6a1d09e4b27f8c53,2026-09-18,1638.00\n\
doc_01a0f6b155607445ac60d5ecafea6133,RDP-2026-0003,invoice,2026-Q3,org_019cadd4ac107171b49ad4b4d1357fbc,org_019cadd31da07460a287edcaad404949,2,clm_01a0b8ca51707c6ea1c321e9cb30e1d4,ENGAGED,b81e4d7a2c905f63e17a48d0c2b95e06,2026-09-02,280.00\n";

/// A position's amounts of a payer that has been invoiced and has paid `billed` (nothing
/// outstanding) and has no shortfall.
fn amounts(committed: &str, allocated: &str, billed: &str, headroom: &str) -> Map<String, Value> {
    let mut map = Map::new();
    for (name, amount) in [
        ("committed", committed),
        ("allocated", allocated),
        ("shortfall", "0.00"),
        ("invoiced", billed),
        ("paid", billed),
        ("outstanding", "0.00"),
        ("headroom", headroom),
    ] {
        map.insert(name.to_owned(), gbp(amount));
    }
    map
}

fn with(mut value: Value, more: Map<String, Value>) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.extend(more);
    }
    value
}

/// The fund's position on 2026-12-01, as its manager sees it.
pub fn fund_position() -> Value {
    let dwp = with(
        json!({
            "payer_id": PAYER_DWP,
            "organisation_id": DWP,
            "role": "central_top_up",
            "fund_id": FUND,
            "commitment": "accepted",
            "warning": null,
            "cap_binds_in": null
        }),
        amounts("450000.00", "942.00", "120.00", "449058.00"),
    );
    let council = with(
        json!({
            "payer_id": PAYER_COUNCIL,
            "organisation_id": COUNCIL,
            "role": "local_commissioner",
            "fund_id": null,
            "commitment": "accepted",
            "warning": null,
            "cap_binds_in": null
        }),
        amounts("1050000.00", "2198.00", "2198.00", "1047802.00"),
    );
    with(
        json!({
            "fund_id": FUND,
            "name": "Work and Health Outcomes Fund",
            "budget": gbp("20000000.00"),
            "uncommitted": gbp("19550000.00"),
            "projects": [{
                "project_id": PROJECT,
                "name": "Reconnections",
                "max_outcome_payment": gbp("1500000.00"),
                "contract_warning": null,
                "contract_cap_binds_in": null,
                "payers": [dwp, council],
                "plan": [
                    {"quarter": "2026-Q2", "planned": gbp("12000.00"), "actual": gbp("400.00")},
                    {"quarter": "2026-Q3", "planned": gbp("36000.00"), "actual": gbp("2740.00")},
                    {"quarter": "2026-Q4", "planned": gbp("54000.00"), "actual": gbp("0.00")},
                    {"quarter": "2027-Q1", "planned": gbp("60000.00"), "actual": gbp("0.00")}
                ]
            }],
            "warnings": []
        }),
        amounts("450000.00", "942.00", "120.00", "449058.00"),
    )
}

/// The council's statement for 2026-07-01 to 2026-09-30: its 2026-Q3 outcomes, and its
/// 2026-Q2 invoice, issued and paid in July.
pub fn statement() -> Value {
    json!({
        "organisation_id": COUNCIL,
        "from": "2026-07-01",
        "to": "2026-09-30",
        "lines": [{
            "project_id": PROJECT,
            "project_name": "Reconnections",
            "role": "local_commissioner",
            "allocated": gbp("1918.00"),
            "reversed": gbp("0.00"),
            "net": gbp("1918.00"),
            "shortfall": gbp("0.00"),
            "invoiced": gbp("280.00"),
            "paid": gbp("280.00"),
            "outstanding": gbp("0.00"),
            "issued_by_it": gbp("0.00"),
            "received": gbp("0.00"),
            "receivable": gbp("0.00"),
            "net_outstanding": gbp("0.00"),
            "documents": [{
                "id": INVOICE_COUNCIL_Q2,
                "number": "RDP-2026-0002",
                "kind": "invoice",
                "side": "to_it",
                "counterparty_organisation_id": PROVIDER,
                "issued_on": "2026-07-03",
                "total": gbp("280.00"),
                "paid": gbp("280.00"),
                "outstanding": gbp("0.00")
            }]
        }]
    })
}

pub const STATEMENT_CSV: &str = "organisation_id,from,to,project_id,project_name,role,currency,allocated,reversed,net,shortfall,invoiced,paid,outstanding,issued_by_it,received,receivable,net_outstanding\n\
org_019cadd31da07460a287edcaad404949,2026-07-01,2026-09-30,prj_019cd2f8417872c3bcb28f041200bb52,Reconnections,local_commissioner,GBP,1918.00,0.00,1918.00,0.00,280.00,280.00,0.00,0.00,0.00,0.00,0.00\n";

pub fn outbox_page() -> Value {
    json!({
        "counts": {"queued": 1, "sent": 14, "failed": 0},
        "items": [
            {
                "id": "msg_01a0fbf30d487317a410176c7413d0b4",
                "kind": "document_issued",
                "status": "sent",
                "subject": "Invoice RDP-2026-0003 from Reconnections Delivery Partnership: 1918.00 GBP, due 2026-11-01",
                "recipient_count": 1,
                "attempts": 1,
                "next_attempt_at": "2026-10-02T09:30:05.716Z",
                "last_error": null,
                "created_at": "2026-10-02T09:30:05.716Z",
                "sent_at": "2026-10-02T09:30:07.102Z"
            },
            {
                "id": "msg_01a10cb8cc807d77b904465850fcfe4b",
                "kind": "document_issued",
                "status": "queued",
                "subject": "Credit note RDP-2026-0005 from Reconnections Delivery Partnership: -822.00 GBP",
                "recipient_count": 1,
                "attempts": 1,
                "next_attempt_at": "2026-10-05T15:45:00.233Z",
                "last_error": "the relay did not answer in time",
                "created_at": "2026-10-05T15:40:00.233Z",
                "sent_at": null
            }
        ],
        "next_cursor": null
    })
}

const REBUILT_AT: &str = "2026-12-01T03:00:00Z";
const PAYMENTS_CURSOR: &str = "eyJzb3J0IjpudWxsLCJkZXNjZW5kaW5nIjpmYWxzZSwidmFsdWUiOm51bGwsImtleSI6InByal8wMTljZDJmODQxNzg3MmMzYmNiMjhmMDQxMjAwYmI1MnxvdXRfMDE5Y2QyZjg0MTc4N2JkY2E5ZWZhYWYzNWRiOGIxMDd8MjAyNi0wNy0wMXxvcmdfMDE5Y2FkZDMxZGEwNzQ2MGEyODdlZGNhYWQ0MDQ5NDkifQ";

/// Rows of each published table after the rebuild of 2026-12-01.
fn published_rows() -> Value {
    json!({
        "adjustments": 0,
        "funds": 1,
        "organisations": 3,
        "outcome_metrics": 2,
        "payments_quarterly": 6,
        "project_payers": 2,
        "projects": 1,
        "results_quarterly": 3
    })
}

pub fn open_data_index() -> Value {
    let table = |name: &str, title: &str, description: &str, rows: i64| {
        json!({
            "name": name,
            "title": title,
            "description": description,
            "rows": rows,
            "built_at": REBUILT_AT,
            "url": format!("/open-data/v1/{name}"),
            "csv": format!("/open-data/v1/{name}.csv")
        })
    };
    json!({
        "tables": [
            table("funds", "Outcome funds", "Outcome funds that pay towards at least one published project.", 1),
            table("organisations", "Organisations", "Public bodies and companies that commission, pay for, deliver or fund a published project. No contact details.", 3),
            table("projects", "Projects", "Published social outcomes partnerships.", 1),
            table("project_payers", "Outcome payment commitments", "Who pays for a project's outcomes, up to what, in what share, and how much so far.", 2),
            table("outcome_metrics", "Outcome metrics and prices", "The rate card: each outcome a project pays for, its price and its limits (INDIGO outcome_metrics with outcome_pricings).", 2),
            table("results_quarterly", "Results by quarter", "Outcomes achieved and paid, and participants engaged, per outcome metric and calendar quarter of achievement.", 3),
            table("payments_quarterly", "Outcome payments by quarter, payer and metric", "Outcome payments due from each payer for each outcome metric, by calendar quarter in which the verified outcomes were achieved, net of revocations.", 6),
            table("adjustments", "Adjustments to published quarters", "What changed in the quarters already published (late verifications less revocations), per project, outcome metric and calendar year, net over all the project's published quarters (withheld ones included) since they were published or last adjusted. A published quarter never changes; changes that cannot be published yet are in neither the quarters nor the adjustments. Adjustments are made once a year, by the first rebuild of the year; a row is published only when each count's change is nothing or at least the suppression threshold, and changes that cannot be published yet wait for the next year.", 0)
        ],
        "datapackage": "/open-data/v1/datapackage.json",
        "releases": "/open-data/v1/releases",
        "licence": {
            "name": "OGL-UK-3.0",
            "title": "Open Government Licence v3.0",
            "path": "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"
        },
        "indigo": "/open-data/v1/projects/{project_id}/indigo.json",
        "queries": "filters column=value, column__gt=, __gte=, __lt=, __lte=, __in=a,b (also on .csv); _sort=column or _sort_desc=column; _size=1..1000 (default 100); cursor= from next_cursor; _facet=column",
        "api_documentation": "/docs/",
        "suppression": "counts from 1 to 4 are withheld (null in JSON, \"suppressed\" in CSV), with any amount or total that would reveal one",
        "stability": "v1 is stable: tables and columns are only ever added, never renamed or removed, and a column keeps its meaning and type. Releases never change once cut."
    })
}

/// `payments_quarterly?period_start_date=2026-07-01&_size=2&_facet=payer_organisation_id`:
/// the 9 `EMPLOYED_13W` outcomes of 2026-Q3, paid 2,340.00 each, 30 % and 70 %.
pub fn open_data_page() -> Value {
    let row = |payer: &str, amount: &str| {
        json!({
            "project_id": PROJECT,
            "outcome_metric_id": OUTCOME_EMPLOYED,
            "period_start_date": "2026-07-01",
            "period_end_date": "2026-09-30",
            "payer_organisation_id": payer,
            "recipient_organisation_id": PROVIDER,
            "money_amount": amount,
            "money_currency": "GBP"
        })
    };
    json!({
        "table": "payments_quarterly",
        "rows": [row(DWP, "6318.00"), row(COUNCIL, "14742.00")],
        "next_cursor": PAYMENTS_CURSOR,
        "next_url": format!("/open-data/v1/payments_quarterly?period_start_date=2026-07-01&_size=2&_facet=payer_organisation_id&cursor={PAYMENTS_CURSOR}"),
        "facets": {
            "payer_organisation_id": [
                {"value": DWP, "count": 2},
                {"value": COUNCIL, "count": 2}
            ]
        }
    })
}

/// `project_payers.csv`: CRLF line ends (RFC 4180).
pub const OPEN_DATA_CSV: &str = "project_id,organisation_id,organisation_role_category,payer_role,maximum_potential_outcome_payment_amount,maximum_potential_outcome_payment_currency,share,total_outcome_payments_amount,total_outcome_payments_currency\r\n\
prj_019cd2f8417872c3bcb28f041200bb52,org_019cadd1a6a070088e242d1d87a6e39b,Government/Public Sector/Public Bank,central_top_up,450000.00,GBP,0.3,13398.00,GBP\r\n\
prj_019cd2f8417872c3bcb28f041200bb52,org_019cadd31da07460a287edcaad404949,Government/Public Sector/Public Bank,local_commissioner,1050000.00,GBP,0.7,31262.00,GBP\r\n";

/// The data package, shortened to one of its eight resources.
pub fn data_package() -> Value {
    let field = |name: &str, kind: &str, description: &str| json!({"name": name, "type": kind, "description": description, "constraints": {"required": true}});
    json!({
        "profile": "tabular-data-package",
        "name": "cofund-open-data",
        "title": "Outcome funds: projects, payers, rate cards, results and payments",
        "description": "Standardised, anonymised data on social outcomes partnerships, following the INDIGO data standard (v4) where it has a field. No participant-level data; counts from 1 to 4 are withheld (written \"suppressed\"), with any amount or total from which one could be worked out.",
        "licenses": [{
            "name": "OGL-UK-3.0",
            "title": "Open Government Licence v3.0",
            "path": "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"
        }],
        "created": REBUILT_AT,
        "resources": [{
            "name": "project_payers",
            "title": "Outcome payment commitments",
            "description": "Who pays for a project's outcomes, up to what, in what share, and how much so far.",
            "path": "project_payers.csv",
            "profile": "tabular-data-resource",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "dialect": {"delimiter": ",", "lineTerminator": "\r\n", "quoteChar": "\"", "doubleQuote": true, "header": true},
            "indigo": "outcome_payment_commitments",
            "lastModified": REBUILT_AT,
            "schema": {
                "fields": [
                    field("project_id", "string", "The project's cofund id."),
                    field("organisation_id", "string", "The paying organisation."),
                    field("organisation_role_category", "string", "INDIGO's category of the payer: Government/Public Sector/Public Bank, Investment Fund or Other."),
                    field("payer_role", "string", "The payer's role in the project: central_top_up, local_commissioner or co_commissioner."),
                    field("maximum_potential_outcome_payment_amount", "number", "The most the payer will pay for the project's outcomes."),
                    field("maximum_potential_outcome_payment_currency", "string", "ISO 4217 currency."),
                    {"name": "share", "type": "number", "description": "The payer's fixed share of each payment (0 to 1); empty when shares follow the commitments pro rata or change by phase."},
                    {"name": "total_outcome_payments_amount", "type": "number", "description": "What the payer owes for verified outcomes so far, net of revocations.", "unit": "currency", "suppressible": true}
                ],
                "primaryKey": ["project_id", "organisation_id"],
                "foreignKeys": [
                    {"fields": ["project_id"], "reference": {"resource": "projects", "fields": ["project_id"]}},
                    {"fields": ["organisation_id"], "reference": {"resource": "organisations", "fields": ["organisation_id"]}}
                ],
                "missingValues": ["", "suppressed"]
            }
        }]
    })
}

fn public(value: Value) -> Value {
    json!({"value": value, "status": "PUBLIC"})
}

/// INDIGO money: the amount a JSON number written from its exact decimal text.
fn money(amount: &str) -> Value {
    let amount: serde_json::Number = amount.parse().expect("an example amount is a number");
    json!({"currency": public(json!("GBP")), "amount": public(json!(amount))})
}

/// The project's INDIGO document, shortened to one outcome's pricing and results.
pub fn indigo_project() -> Value {
    let withheld = json!({
        "value": null,
        "status": "PRIVATE",
        "notes": "Withheld: it counts, or could reveal, from 1 to 4 participants or outcomes."
    });
    let commitment = |org: &str, max: &str, total: &str| {
        json!({
            "organisation_id": public(json!(org)),
            "organisation_role_category": public(json!("Government/Public Sector/Public Bank")),
            "maximum_potential_outcome_payment": money(max),
            "total_outcome_payments": money(total),
            "status": "PUBLIC"
        })
    };
    let result = |start: &str, end: &str, achieved: Value| {
        json!({
            "outcome_metric_id": public(json!(OUTCOME_EMPLOYED)),
            "result_level": public(json!("Outcome level")),
            "result_type": public(json!("Interim")),
            "period": {"start_date": {"value": start}, "end_date": {"value": end}},
            "outcomes_achieved": achieved.clone(),
            "number_engaged_in_impact_bond": achieved.clone(),
            "number_with_positive_social_outcomes": achieved,
            "status": "PUBLIC"
        })
    };
    json!({
        "id": PROJECT,
        "status": "PUBLIC",
        "name": public(json!("Reconnections")),
        "stage_development": public(json!("Implementation")),
        "dates": {
            "start_date_of_service_provision": public(json!("2026-04-01")),
            "anticipated_end_date_of_service_provision": public(json!("2029-03-31"))
        },
        "purpose_and_classifications": {
            "policy_sector": public(json!("Employment and training")),
            "social_challenge": public(json!("Long-term unemployment"))
        },
        "service_and_beneficiaries": {
            "target_population": public(json!("Adults out of work for a year or more"))
        },
        "overall_project_finance": {
            "maximum_potential_outcome_payment_v2": money("1500000"),
            "total_outcome_payments_made": money("44660")
        },
        "outcome_funds": [{"id": FUND, "status": "PUBLIC"}],
        "outcome_payment_commitments": [
            commitment(DWP, "450000", "13398"),
            commitment(COUNCIL, "1050000", "31262")
        ],
        "outcome_metrics": [{
            "id": OUTCOME_EMPLOYED,
            "definition": public(json!("13 weeks in paid work")),
            "unit_description_of_service_user_or_beneficiaries": public(json!("achievement")),
            "status": "PUBLIC"
        }],
        "outcome_pricings": [{
            "outcome_metric_id": public(json!(OUTCOME_EMPLOYED)),
            "currency": public(json!("GBP")),
            "price_per_unit": {"amount": public(json!(2600.0))},
            "status": "PUBLIC"
        }],
        "results": [
            result("2026-07-01", "2026-09-30", public(json!(9))),
            result("2026-10-01", "2026-12-31", withheld)
        ]
    })
}

/// Release 2026-10-01.1, as served (with the URLs of the release and its files).
pub fn release_manifest() -> Value {
    let version = "2026-10-01.1";
    let file = |name: &str, media_type: &str, bytes: i64, sha256: &str| {
        json!({
            "name": name,
            "media_type": media_type,
            "bytes": bytes,
            "sha256": sha256,
            "url": format!("/open-data/v1/releases/{version}/{name}")
        })
    };
    let csv = "text/csv; charset=utf-8";
    json!({
        "version": version,
        "released_at": "2026-10-01T06:00:00Z",
        "licence": "OGL-UK-3.0",
        "k": 5,
        "rows": {
            "adjustments": 0,
            "funds": 1,
            "organisations": 3,
            "outcome_metrics": 2,
            "payments_quarterly": 2,
            "project_payers": 2,
            "projects": 1,
            "results_quarterly": 2
        },
        "files": [
            file("funds.csv", csv, 271, "b5b1d97f2a55643579ff79b2bb1c9ee39b79e592ecc190a0cbdfda73be0f8561"),
            file("organisations.csv", csv, 498, "d99b7c32573f148b977a53215f635c177ae91a03b22c65996462ae32f3161875"),
            file("projects.csv", csv, 702, "9bf454ee32a2f575a647a0ab5b4128ac20149dea2a0ec00dc71203a90f2dd7c3"),
            file("project_payers.csv", csv, 559, "d381ada45fdf2bb7e571246fc000c963158a57bbe04f1c3d2e1f4b230066272e"),
            file("outcome_metrics.csv", csv, 474, "c16f14e20145dafcf2526414a7f59d092460e3c595386773402566ccfa31472f"),
            file("results_quarterly.csv", csv, 388, "5aface1b26e5156b7dea6521369c3cbde18d3d7603972f3ac593c0d1a725cbf9"),
            file("payments_quarterly.csv", csv, 612, "3fa54092a815178104accc8ac6bd3dbd2414f8bdc83dd6b0964d5c37841c3224"),
            file("adjustments.csv", csv, 131, "6f2d01e25e5af9eed03c2130b2808ad549e8248e3e88ee90a0026b6d03f196e2"),
            file("datapackage.json", "application/json", 24981, "327b04a31598e39074295f4b7d92d7a9b3dd11387cdff5e0b576e4f52ba626e0"),
            file("SHA256SUMS", "text/plain; charset=utf-8", 752, "59b9c09687fddaf5da85567e44202346b2f42aefafac61f09311ee6e84e1da9d"),
            file("cofund-open-data-2026-10-01.1.zip", "application/zip", 6488, "ee04f006867ebbcf69f294938fa2ea028a0efd0e28b18ad720c766777fe3b639")
        ],
        "url": format!("/open-data/v1/releases/{version}")
    })
}

/// The release's `SHA256SUMS`: a checksum and a name a line, as `sha256sum -c` reads them.
pub const SHA256SUMS: &str =
    "b5b1d97f2a55643579ff79b2bb1c9ee39b79e592ecc190a0cbdfda73be0f8561  funds.csv\n\
d99b7c32573f148b977a53215f635c177ae91a03b22c65996462ae32f3161875  organisations.csv\n\
9bf454ee32a2f575a647a0ab5b4128ac20149dea2a0ec00dc71203a90f2dd7c3  projects.csv\n\
d381ada45fdf2bb7e571246fc000c963158a57bbe04f1c3d2e1f4b230066272e  project_payers.csv\n\
c16f14e20145dafcf2526414a7f59d092460e3c595386773402566ccfa31472f  outcome_metrics.csv\n\
5aface1b26e5156b7dea6521369c3cbde18d3d7603972f3ac593c0d1a725cbf9  results_quarterly.csv\n\
3fa54092a815178104accc8ac6bd3dbd2414f8bdc83dd6b0964d5c37841c3224  payments_quarterly.csv\n\
6f2d01e25e5af9eed03c2130b2808ad549e8248e3e88ee90a0026b6d03f196e2  adjustments.csv\n\
327b04a31598e39074295f4b7d92d7a9b3dd11387cdff5e0b576e4f52ba626e0  datapackage.json\n";

pub fn releases() -> Value {
    json!({"releases": [release_manifest()]})
}

pub fn rebuild_report() -> Value {
    json!({"projects": 1, "rows": published_rows(), "suppressed_cells": 4,
           "quarters_frozen": 2, "quarters_waiting": 0})
}

#[cfg(test)]
mod tests {
    //! Every request example of the document is a request the server takes: it parses as
    //! the handler parses it, and the registry's rules accept it against the organisations
    //! and fund of the story.

    use std::collections::HashMap;

    use serde::de::DeserializeOwned;
    use serde_json::Value;

    use super::*;
    use crate::api::extract::parse_json;
    use crate::domain::registry::{
        validate_fund, validate_organisation, validate_project, FundFacts, OrganisationKind,
        ProjectFacts,
    };

    fn request_example(path: &str, method: &str, media: &str) -> Value {
        let document = crate::api::openapi::document_value();
        let content = &document["paths"][path][method]["requestBody"]["content"][media];
        if let Some(example) = content.get("example") {
            return example.clone();
        }
        let name = content["schema"]["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .unwrap_or_else(|| panic!("{method} {path}: no example and no named schema"));
        document["components"]["schemas"][name]["example"].clone()
    }

    fn parsed<T: DeserializeOwned>(path: &str, method: &str) -> T {
        let example = request_example(path, method, "application/json");
        let bytes = serde_json::to_vec(&example).expect("serialises");
        parse_json(&bytes).unwrap_or_else(|e| panic!("{method} {path}: {}", e.detail()))
    }

    #[test]
    fn registry_examples_pass_the_registry_rules() {
        use crate::domain::registry::{NewFund, NewOrganisation, NewProject};
        let organisation: NewOrganisation = parsed("/v1/organisations", "post");
        validate_organisation(organisation).expect("a valid organisation");
        let fund: NewFund = parsed("/v1/funds", "post");
        assert_eq!(fund.owner_organisation_id, DWP);
        validate_fund(fund, Some(OrganisationKind::CentralFund)).expect("a valid fund");
        let project: NewProject = parsed("/v1/projects", "post");
        let organisations: HashMap<String, OrganisationKind> = [
            (DWP, OrganisationKind::CentralFund),
            (COUNCIL, OrganisationKind::LocalAuthority),
            (PROVIDER, OrganisationKind::Provider),
            (VALIDATOR, OrganisationKind::Validator),
        ]
        .into_iter()
        .map(|(id, kind)| (id.to_owned(), kind))
        .collect();
        let fund = FundFacts {
            owner_organisation_id: crate::domain::ids::OrganisationId::from(DWP),
            currency: "GBP".to_owned(),
            budget_minor: crate::domain::money::Minor(2_000_000_000),
            committed_minor: crate::domain::money::Minor::ZERO,
            service_end: chrono::NaiveDate::from_ymd_opt(2031, 3, 31).expect("a date"),
        };
        let facts = ProjectFacts {
            organisations,
            fund: Some(fund.clone()),
            funds: HashMap::from([(FUND.to_owned(), fund)]),
        };
        validate_project(project, &facts).expect("a valid project");
    }

    #[test]
    fn every_other_json_request_example_parses() {
        use crate::api::{claims, documents};
        use crate::domain::claims::ClaimInput;
        let _: ClaimInput = parsed("/v1/projects/{id}/claims", "post");
        let verify: claims::BulkVerifyRequest = parsed("/v1/projects/{id}/claims/verify", "post");
        assert!(verify.upload_id.is_none() && verify.claim_ids.contains(&CLAIM_EMPLOYED.into()));
        let _: claims::ReasonRequest = parsed("/v1/claims/{id}/reject", "post");
        let _: claims::ReasonRequest = parsed("/v1/claims/{id}/revoke", "post");
        let build: documents::SettlementRequest = parsed("/v1/projects/{id}/settlements", "post");
        crate::api::extract::period(&build.period).unwrap_or_else(|_| panic!("a period"));
        let _: documents::PaymentRequest = parsed("/v1/documents/{id}/payments", "post");
        let _: documents::VoidRequest = parsed("/v1/documents/{id}/void", "post");
        let _: crate::domain::position::PaymentPlanRequest =
            parsed("/v1/projects/{id}/payment-plan", "put");
    }

    #[test]
    fn the_bulk_examples_are_the_same_claims_in_both_formats() {
        let path = "/v1/projects/{id}/claims/bulk";
        let csv = request_example(path, "post", "text/csv");
        let ndjson = request_example(path, "post", "application/x-ndjson");
        assert_eq!(csv, json!(BULK_CSV));
        assert_eq!(ndjson, json!(BULK_NDJSON));
        let lines: Vec<crate::domain::claims::ClaimInput> = BULK_NDJSON
            .lines()
            .map(|line| parse_json(line.as_bytes()).unwrap_or_else(|e| panic!("{}", e.detail())))
            .collect();
        let mut rows = csv::Reader::from_reader(BULK_CSV.as_bytes());
        let header = rows.headers().expect("a header").clone();
        let records: Vec<csv::StringRecord> = rows.records().map(|r| r.expect("a row")).collect();
        assert_eq!(records.len(), lines.len());
        for (record, line) in records.iter().zip(&lines) {
            let cell = |name: &str| {
                let at = header.iter().position(|h| h == name).expect("a column");
                record[at].to_owned()
            };
            assert_eq!(cell("participant_ref"), line.participant_ref);
            assert_eq!(cell("outcome_code"), line.outcome_code);
            assert_eq!(cell("achieved_on"), line.achieved_on.to_string());
        }
    }
}
