//! One rule for every CSV file cofund writes (open data, statements, documents): a text cell
//! that a spreadsheet would read as a formula is written with a leading apostrophe, as OWASP
//! advises for CSV injection, so that it is shown and never run. Numbers, amounts and dates
//! are written as they are (a negative amount is a number, not a formula).

use std::borrow::Cow;

/// The characters that make a spreadsheet read a cell as a formula (or, for tab and carriage
/// return, that some spreadsheets strip before doing so).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `text` as a CSV text cell: prefixed with `'` when it starts like a formula.
pub fn text_cell(text: &str) -> Cow<'_, str> {
    match text.chars().next() {
        Some(first) if FORMULA_STARTS.contains(&first) => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_plain_text_is_untouched() {
        for formula in ["=HYPERLINK(\"x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(text_cell(formula), format!("'{formula}"));
        }
        for plain in ["Council A", "", "a=b", "1-2", "'quoted"] {
            assert_eq!(text_cell(plain), plain);
        }
    }
}
