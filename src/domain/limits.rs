//! The ranges every input is held to at the edge, so that nothing a client sends can overflow
//! an amount or a date, or reach the database as text it cannot store. No real fund comes near
//! these limits; anything outside them is refused with the field named.

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer};

/// Earliest date cofund accepts anywhere (achievements, referrals, service periods, phases).
pub const MIN_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(d) => d,
    None => panic!("a valid date"),
};
/// Latest date cofund accepts anywhere.
pub const MAX_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2199, 12, 31) {
    Some(d) => d,
    None => panic!("a valid date"),
};

/// Most units (weeks, days or achievements) one claim may be for, and most units per
/// participant an outcome may allow.
pub const MAX_QUANTITY: i32 = 10_000;
/// Largest project-wide volume cap of one outcome.
pub const MAX_VOLUME_CAP: i32 = 100_000_000;
/// Most times one participant may be paid one outcome.
pub const MAX_CLAIMS_PER_PARTICIPANT: i32 = 1_000;
/// Longest wait a ladder rule may set between two outcomes: 100 years.
pub const MAX_DAYS_AFTER: i32 = 36_525;

/// Longest text field of any JSON body, in characters, unless the field has a tighter limit.
pub const MAX_TEXT_CHARS: usize = 2_000;
/// Longest evidence reference of a claim.
pub const MAX_EVIDENCE_REF_CHARS: usize = 500;
/// Longest participant reference, before it is pseudonymised.
pub const MAX_PARTICIPANT_REF_CHARS: usize = 200;
/// Longest code (outcome codes, area codes, exclusive groups).
pub const MAX_CODE_CHARS: usize = 64;

pub fn date_in_range(date: NaiveDate) -> bool {
    (MIN_DATE..=MAX_DATE).contains(&date)
}

pub fn date_range_message() -> String {
    format!("must be a date from {MIN_DATE} to {MAX_DATE}")
}

/// Why a text value cannot be stored, if it cannot: too long, or it holds a control character
/// (NUL among them, which PostgreSQL cannot store). Tab, line feed and carriage return are
/// allowed only where `multiline`.
pub fn text_problem(value: &str, max_chars: usize, multiline: bool) -> Option<String> {
    if value.chars().count() > max_chars {
        return Some(format!("is longer than {max_chars} characters"));
    }
    let allowed = |c: char| multiline && matches!(c, '\t' | '\n' | '\r');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        return Some("must not contain control characters".to_owned());
    }
    None
}

/// How every date cofund reads is written: the ten characters `YYYY-MM-DD`, nothing around
/// them (`2017-3-1` and ` 2017-03-01` are refused, as a spreadsheet's guess would be).
pub const DATE_FORMAT_MESSAGE: &str = "must be a date written YYYY-MM-DD";

/// A date written exactly `YYYY-MM-DD` (chrono alone also reads `2017-3-1`).
pub fn parse_iso_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    shaped
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
}

/// A UTC time written exactly `YYYY-MM-DDTHH:MM:SSZ`.
pub fn is_iso_utc_time(text: &str) -> bool {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 20
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            19 => *b == b'Z',
            _ => b.is_ascii_digit(),
        });
    shaped && chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%SZ").is_ok()
}

/// serde `deserialize_with` for a date field: `YYYY-MM-DD` and within
/// [`MIN_DATE`]..=[`MAX_DATE`].
pub fn date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
    let text = String::deserialize(deserializer)?;
    let date =
        parse_iso_date(&text).ok_or_else(|| serde::de::Error::custom(DATE_FORMAT_MESSAGE))?;
    if date_in_range(date) {
        Ok(date)
    } else {
        Err(serde::de::Error::custom(date_range_message()))
    }
}

/// [`date`] for an optional field (use with `#[serde(default)]`).
pub fn optional_date<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<NaiveDate>, D::Error> {
    #[derive(Deserialize)]
    struct Strict(#[serde(deserialize_with = "date")] NaiveDate);
    Ok(Option::<Strict>::deserialize(deserializer)?.map(|Strict(date)| date))
}

/// A parser's message with the offending value taken out. serde and csv quote the value they
/// could not read (`invalid type: integer `1234`, expected a string`); in a column-shifted
/// file that value may be a participant reference, which must never be echoed or logged.
/// An unknown field's name is taken out too (a JSON-lines row may be keyed by a reference);
/// messages that quote only cofund's own field names (missing or duplicate fields) are kept.
pub fn without_values(message: &str) -> String {
    const NAMES_ONLY: [&str; 2] = ["missing field", "duplicate field"];
    if NAMES_ONLY.iter().any(|p| message.starts_with(p)) {
        return message.to_owned();
    }
    // A syntax error (`expected `,` or `}` at line 1 column 14`) quotes only the grammar.
    if message.starts_with("expected ") {
        return message.to_owned();
    }
    // The value is the first quoted span: `…` or "…" (with backslash escapes).
    let Some(start) = message.find(['`', '"']) else {
        return message.to_owned();
    };
    match quoted_span_end(message, start) {
        Some(end) => format!("{}{}", message[..start].trim_end(), &message[end..]),
        // An unterminated quote: drop everything from it.
        None => message[..start].trim_end().to_owned(),
    }
}

/// The end (just past the closing quote) of the quoted span that opens at `start`. serde
/// writes a value in backticks as it is, backticks and all, and follows it with
/// `, expected …`: where that follows, it ends the value.
fn quoted_span_end(message: &str, start: usize) -> Option<usize> {
    let quote = message[start..].chars().next()?;
    if quote == '`' {
        if let Some(offset) = message[start + 1..].find("`, expected") {
            return Some(start + 1 + offset + 1);
        }
    }
    let mut escaped = false;
    for (i, c) in message[start + 1..].char_indices() {
        match c {
            '\\' if quote == '"' && !escaped => escaped = true,
            c if c == quote && !escaped => return Some(start + 1 + i + c.len_utf8()),
            _ => escaped = false,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_messages_lose_the_value_but_keep_field_names() {
        assert_eq!(
            without_values("invalid type: integer `1234567`, expected a string"),
            "invalid type: integer, expected a string"
        );
        assert_eq!(
            without_values(r#"invalid type: string "WOR-\"0001", expected i32"#),
            "invalid type: string, expected i32"
        );
        assert_eq!(
            without_values("unknown variant `WOR-0001`, expected `week` or `day`"),
            "unknown variant, expected `week` or `day`"
        );
        assert_eq!(
            without_values("unknown field `WOR-0042`, expected `bar`"),
            "unknown field, expected `bar`"
        );
        assert_eq!(
            without_values("missing field `achieved_on`"),
            "missing field `achieved_on`"
        );
        assert_eq!(without_values("trailing `WOR-1"), "trailing");
        assert_eq!(without_values("premature end"), "premature end");
    }

    #[test]
    fn the_parsers_own_punctuation_is_kept() {
        // serde_json's real messages, not copies of them.
        let error = |json: &str| {
            serde_json::from_str::<serde_json::Value>(json)
                .unwrap_err()
                .to_string()
        };
        let missing_comma = error(r#"{"name": "x" "kind": 1}"#);
        assert_eq!(
            without_values(&missing_comma),
            "expected `,` or `}` at line 1 column 14"
        );
        let missing_colon = error(r#"{"name" "x"}"#);
        assert_eq!(without_values(&missing_colon), missing_colon);
        assert!(missing_colon.contains("`:`"), "{missing_colon}");
        // A value that looks like punctuation, or holds backticks, is still taken out.
        #[derive(Debug, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Mode {
            AcceptValid,
        }
        for value in [",", "a`SECRET`x", "`"] {
            let json = serde_json::to_string(value).unwrap();
            let message = serde_json::from_str::<Mode>(&json).unwrap_err().to_string();
            let shown = without_values(&message);
            assert!(
                shown.starts_with("unknown variant, expected `accept_valid`"),
                "{message} → {shown}"
            );
            assert!(!shown.contains("SECRET"), "{shown}");
        }
        // A value after the punctuation is still taken out.
        let wrong_type = serde_json::from_str::<Vec<String>>("[1234567]")
            .unwrap_err()
            .to_string();
        assert_eq!(
            without_values(&wrong_type),
            "invalid type: integer, expected a string at line 1 column 8"
        );
    }

    #[test]
    fn text_is_bounded_and_free_of_control_characters() {
        assert_eq!(text_problem("ok", 10, false), None);
        assert!(text_problem("a\0b", 10, false).is_some());
        assert!(text_problem("a\nb", 10, false).is_some());
        assert_eq!(text_problem("a\nb", 10, true), None);
        assert!(text_problem("a\u{7f}", 10, true).is_some());
        assert!(text_problem(&"x".repeat(11), 10, true).is_some());
        // Characters, not bytes.
        assert_eq!(text_problem(&"é".repeat(10), 10, false), None);
    }

    #[test]
    fn dates_are_read_only_as_yyyy_mm_dd() {
        assert_eq!(
            parse_iso_date("2017-03-01"),
            NaiveDate::from_ymd_opt(2017, 3, 1)
        );
        for lenient in [
            "2017-3-1",
            " 2017-03-01",
            "2017-03-01 ",
            "2017/03/01",
            "+2017-03-01",
        ] {
            assert_eq!(parse_iso_date(lenient), None, "{lenient:?}");
        }
        assert_eq!(parse_iso_date("2021-02-30"), None);
        assert!(is_iso_utc_time("2021-03-01T09:00:00Z"));
        for lenient in [
            "2021-03-01T 9:00:00Z",
            "2021-03-01T01: 2:03Z",
            "2021-03-01T25:00:00Z",
        ] {
            assert!(!is_iso_utc_time(lenient), "{lenient:?}");
        }
        // The same in a JSON body, through the deserializers every date field uses.
        #[derive(Deserialize, Debug)]
        struct Body {
            #[serde(deserialize_with = "date")]
            on: NaiveDate,
            #[serde(default, deserialize_with = "optional_date")]
            maybe: Option<NaiveDate>,
        }
        let read = |json: &str| serde_json::from_str::<Body>(json);
        assert!(read(r#"{"on": "2021-2-3"}"#)
            .unwrap_err()
            .to_string()
            .contains("YYYY-MM-DD"));
        assert!(read(r#"{"on": "2021-02-03", "maybe": "2021-2-3"}"#).is_err());
        let body = read(r#"{"on": "2021-02-03", "maybe": null}"#).unwrap();
        assert_eq!(
            (body.on.to_string(), body.maybe),
            ("2021-02-03".into(), None)
        );
    }

    #[test]
    fn dates_are_held_to_the_documented_range() {
        assert!(date_in_range(MIN_DATE) && date_in_range(MAX_DATE));
        assert!(!date_in_range(MIN_DATE.pred_opt().unwrap()));
        assert!(!date_in_range(MAX_DATE.succ_opt().unwrap()));
    }
}
