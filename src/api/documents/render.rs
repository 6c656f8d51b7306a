//! A document as CSV (streamed) and as a printable HTML page.

use actix_web::web::Bytes;
use futures_util::Stream;

use super::DocumentView;
use crate::api::stream::Sink;
use crate::db::models::{DocumentLine, SettlementDocument};
use crate::db::{queries, DbConn, Pool};
use crate::domain::money::{exponent_of, format_minor};
use crate::domain::settlement::DocumentKind;
use crate::domain::spreadsheet::text_cell;

/// Most lines the HTML page lists; the CSV has every line.
pub const HTML_MAX_LINES: i64 = 5_000;

/// A download name that says what the file is: `SKM-2025-0007.csv`, or the id of a draft.
pub fn file_name(d: &SettlementDocument, extension: &str) -> String {
    let stem = d.number.as_deref().unwrap_or(&d.id);
    let safe: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.{extension}")
}

const CSV_HEADER: [&str; 12] = [
    "document_id",
    "document_number",
    "kind",
    "period",
    "issuer_organisation_id",
    "recipient_organisation_id",
    "line",
    "claim_id",
    "outcome_code",
    "participant_pseudonym",
    "achieved_on",
    "amount",
];

/// Streams the document's lines as CSV, `page` lines per query: the response starts with the
/// first page and at most a few pages are ever held in memory. A client that goes away stops
/// the reading. The `amount` column is in the document's currency (named in the header row's
/// `amount` and in the JSON view).
pub fn csv_stream(
    pool: Pool,
    document: SettlementDocument,
    page: i64,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    crate::api::stream::from_database(pool, "a document's CSV", move |conn, sink| {
        write_csv_pages(conn, &document, page, sink)
    })
}

fn write_csv_pages(
    conn: &mut DbConn,
    d: &SettlementDocument,
    page: i64,
    sink: &Sink,
) -> Result<(), String> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(1 << 20));
    writer.write_record(CSV_HEADER).map_err(|e| e.to_string())?;
    // One writer a page: its bytes are sent, and the next page starts with an empty buffer.
    let new_writer = || csv::Writer::from_writer(Vec::with_capacity(1 << 20));
    let exponent = exponent_of(&d.currency);
    let number = d.number.as_deref().unwrap_or("");
    let mut after = -1;
    loop {
        let lines = queries::documents::document_lines_page(conn, &d.id, after, page)
            .map_err(|e| e.to_string())?;
        for line in &lines {
            writer
                .write_record([
                    d.id.as_str(),
                    number,
                    d.kind.as_str(),
                    d.period.as_str(),
                    d.issuer_organisation_id.as_str(),
                    d.recipient_organisation_id.as_str(),
                    &(line.position + 1).to_string(),
                    line.claim_id.as_str(),
                    &text_cell(&line.outcome_code),
                    line.participant_pseudonym.as_str(),
                    &line.achieved_on.to_string(),
                    &format_minor(line.amount_minor, exponent),
                ])
                .map_err(|e| e.to_string())?;
        }
        let chunk = std::mem::replace(&mut writer, new_writer())
            .into_inner()
            .map_err(|e| e.to_string())?;
        if !sink.send(chunk) {
            return Ok(()); // the client went away
        }
        match lines.last() {
            Some(last) if lines.len() as i64 == page => after = last.position,
            _ => return Ok(()),
        }
    }
}

/// One payer of the project, as the split explanation lists it.
pub struct SplitRow {
    pub name: String,
    pub role: String,
    pub max_commitment: String,
    /// The share as the project fixes it, or how it is derived.
    pub share: String,
}

/// Escapes text for HTML element content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn title(view: &DocumentView) -> String {
    let kind = match view.summary.kind {
        DocumentKind::Invoice => "Invoice",
        DocumentKind::TopUpClaim => "Top-up claim",
        DocumentKind::CreditNote => "Credit note",
    };
    match &view.summary.number {
        Some(number) => format!("{kind} {number}"),
        None => format!("{kind} (draft, not yet issued)"),
    }
}

/// How the amounts of this document were arrived at, in words.
fn explanation(view: &DocumentView, project_name: &str, route: &str) -> String {
    let s = &view.summary;
    let what = match (s.kind, route) {
        (DocumentKind::TopUpClaim, _) => format!(
            "{} claims from {} its share of each verified outcome of {}, outcomes the provider has invoiced to {} in full.",
            s.issuer.name, s.recipient.name, project_name, s.issuer.name
        ),
        (_, "via_commissioner") => format!(
            "{} invoices {}, the lead commissioner of {}, for the whole value of each verified outcome; the lead claims each other payer's share back from it.",
            s.issuer.name, s.recipient.name, project_name
        ),
        _ => format!(
            "{} invoices {} for its own share of each verified outcome of {}.",
            s.issuer.name, s.recipient.name, project_name
        ),
    };
    format!(
        "{what} Each outcome's payable amount is split between the payers below by their shares, \
         computed exactly and rounded to the penny so that the parts add up to the whole: each \
         payer's part is rounded down, and the pennies left over go one each to the parts with \
         the largest remainders. A payer never pays beyond its maximum commitment. Negative \
         lines credit outcomes revoked after they were settled."
    )
}

/// The name of a party of the document, or its id.
fn name_of(view: &DocumentView, organisation_id: &str) -> String {
    [&view.summary.issuer, &view.summary.recipient]
        .into_iter()
        .find(|p| p.organisation_id == organisation_id)
        .map_or_else(|| organisation_id.to_owned(), |p| p.name.clone())
}

/// An HTML table: `columns` are (heading, right-aligned); cells are already escaped.
fn table(class: &str, columns: &[(&str, bool)], rows: impl Iterator<Item = Vec<String>>) -> String {
    let align = |numeric: bool| if numeric { " class=\"n\"" } else { "" };
    let mut out = format!("<table class=\"{class}\"><tr>");
    for (heading, numeric) in columns {
        out.push_str(&format!("<th{}>{}</th>", align(*numeric), esc(heading)));
    }
    out.push_str("</tr>");
    for row in rows {
        out.push_str("<tr>");
        for (cell, (_, numeric)) in row.iter().zip(columns) {
            out.push_str(&format!("<td{}>{cell}</td>", align(*numeric)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#111}table{border-collapse:collapse;width:100%;margin-bottom:1em}\
     th,td{border-bottom:1px solid #ccc;padding:4px 6px;text-align:left}td.n,th.n{text-align:right}\
     .parties{display:flex;gap:4em}.totals td{font-weight:bold}@media print{body{margin:0}}";

fn party(label: &str, p: &super::PartyView) -> String {
    let identifier = p
        .identifier
        .as_deref()
        .map(|i| format!("Identifier {}<br>", esc(i)));
    format!(
        "<div class=\"party\"><h2>{label}</h2><p><strong>{}</strong><br>{}cofund id {}</p></div>",
        esc(&p.name),
        identifier.unwrap_or_default(),
        esc(&p.organisation_id)
    )
}

/// The page's header: title, parties and the document's facts.
fn heading(view: &DocumentView, project_name: &str) -> String {
    let s = &view.summary;
    let date = |d: Option<chrono::NaiveDate>| {
        d.map_or_else(|| "not yet issued".to_owned(), |d| d.to_string())
    };
    let mut facts = vec![
        vec!["Project".to_owned(), esc(project_name)],
        vec![
            "Period".to_owned(),
            format!(
                "{} ({} to {})",
                esc(&s.period),
                s.period_start,
                s.period_end
            ),
        ],
        vec!["Status".to_owned(), esc(s.status.as_str())],
        vec!["Issued on".to_owned(), date(s.issued_on)],
        vec!["Due on".to_owned(), date(s.due_on)],
    ];
    if let Some(reason) = &s.void_reason {
        facts.push(vec!["Void".to_owned(), esc(reason)]);
    }
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>{STYLE}</style></head><body><h1>{title}</h1><div class=\"parties\">{}{}</div>{}",
        party("From", &s.issuer),
        party("To", &s.recipient),
        table("meta", &[("", false), ("", false)], facts.into_iter()),
        title = esc(&title(view)),
    )
}

/// The printable page: issuer, recipient, number, dates, lines, totals, and the split.
pub fn html_page(
    view: &DocumentView,
    project_name: &str,
    route: &str,
    split: &[SplitRow],
    lines: &[DocumentLine],
) -> String {
    let mut out = heading(view, project_name);
    out.push_str(&lines_section(view, lines));
    out.push_str(&split_section(view, project_name, route, split));
    out.push_str(&payments_and_history(view));
    out.push_str("</body></html>");
    out
}

/// `amount` with the document's currency, escaped.
fn money_of(view: &DocumentView, amount: &str) -> String {
    format!("{} {}", esc(amount), esc(&view.summary.total.currency))
}

/// The lines (as many as are given), a note if there are more, and the totals.
fn lines_section(view: &DocumentView, lines: &[DocumentLine]) -> String {
    let s = &view.summary;
    let exponent = exponent_of(&s.total.currency);
    let mut out = String::from("<h2>Lines</h2>");
    let columns = [
        ("#", false),
        ("Claim", false),
        ("Outcome", false),
        ("Participant (pseudonym)", false),
        ("Achieved on", false),
        ("Amount", true),
    ];
    out.push_str(&table(
        "lines",
        &columns,
        lines.iter().map(|l| {
            vec![
                (l.position + 1).to_string(),
                esc(&l.claim_id),
                esc(&l.outcome_code),
                esc(&l.participant_pseudonym),
                l.achieved_on.to_string(),
                money_of(view, &format_minor(l.amount_minor, exponent)),
            ]
        }),
    ));
    if (lines.len() as i64) < s.line_count {
        out.push_str(&format!(
            "<p>The first {} of {} lines are shown; the CSV rendering lists every line.</p>",
            lines.len(),
            s.line_count
        ));
    }
    let totals = [
        ("Total", &s.total),
        ("Paid", &s.paid),
        ("Outstanding", &s.outstanding),
    ];
    out.push_str(&table(
        "totals",
        &[("", false), ("", true)],
        totals
            .iter()
            .map(|(label, m)| vec![label.to_string(), money_of(view, &m.amount)]),
    ));
    out
}

/// How the amounts were split between the payers, in words and as a table.
fn split_section(
    view: &DocumentView,
    project_name: &str,
    route: &str,
    split: &[SplitRow],
) -> String {
    let mut out = format!(
        "<h2>How the amounts were split</h2><p>{}</p>",
        esc(&explanation(view, project_name, route))
    );
    let columns = [
        ("Payer", false),
        ("Role", false),
        ("Maximum commitment", true),
        ("Share", false),
    ];
    out.push_str(&table(
        "split",
        &columns,
        split.iter().map(|r| {
            vec![
                esc(&r.name),
                esc(&r.role),
                esc(&r.max_commitment),
                esc(&r.share),
            ]
        }),
    ));
    out
}

/// The payments recorded (if any) and every transition, each with who made it as the viewer
/// may see them.
fn payments_and_history(view: &DocumentView) -> String {
    let mut out = String::new();
    if !view.payments.is_empty() {
        out.push_str("<h2>Payments</h2>");
        let columns = [("Paid on", false), ("Reference", false), ("Amount", true)];
        out.push_str(&table(
            "payments",
            &columns,
            view.payments.iter().map(|p| {
                vec![
                    p.paid_on.to_string(),
                    esc(&p.reference),
                    money_of(view, &p.amount.amount),
                ]
            }),
        ));
    }
    out.push_str("<h2>History</h2><ul>");
    for e in &view.history {
        let at = e.at.format("%Y-%m-%d %H:%M UTC");
        let who = match (&e.actor, &e.actor_organisation_id) {
            (Some(person), _) => esc(person),
            (None, Some(org)) => format!("a user of {}", esc(&name_of(view, org))),
            (None, None) => "an administrator".to_owned(),
        };
        out.push_str(&format!(
            "<li>{at} {} by {who}: {}</li>",
            esc(e.action.as_str()),
            esc(&e.detail)
        ));
    }
    out.push_str("</ul>");
    out
}
