//! Splitting a body into records: NDJSON (one record a line, blank lines skipped) or one JSON
//! array, each record with the number an error report names (its 1-based line, or its 1-based
//! position in the array).

use serde_json::value::RawValue;

use crate::limits::{IngestError, Limits};

/// One record's text and its number.
#[derive(Debug, PartialEq, Eq)]
pub struct Item<'a> {
    /// 1-based line (NDJSON) or array position.
    pub line: usize,
    /// The record's JSON text, or `Err` when it is not UTF-8.
    pub text: Result<&'a str, std::str::Utf8Error>,
}

/// Splits `body` after checking the body and record-count limits.
pub fn split<'a>(body: &'a [u8], limits: &Limits) -> Result<Vec<Item<'a>>, IngestError> {
    if body.len() > limits.max_body_bytes {
        return Err(IngestError::BodyTooLarge {
            size: body.len(),
            limit: limits.max_body_bytes,
        });
    }
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let items = if first == Some(&b'[') {
        array(body, limits)?
    } else {
        ndjson(body, limits)?
    };
    Ok(items)
}

fn ndjson<'a>(body: &'a [u8], limits: &Limits) -> Result<Vec<Item<'a>>, IngestError> {
    let mut items = Vec::new();
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if items.len() == limits.max_records {
            return Err(IngestError::TooManyRecords {
                count: limits.max_records + 1,
                limit: limits.max_records,
            });
        }
        items.push(Item {
            line: i + 1,
            text: std::str::from_utf8(line),
        });
    }
    Ok(items)
}

fn array<'a>(body: &'a [u8], limits: &Limits) -> Result<Vec<Item<'a>>, IngestError> {
    let text = std::str::from_utf8(body).map_err(|e| IngestError::MalformedArray(e.to_string()))?;
    // Bound nesting before serde_json recurses into it: records themselves are checked again.
    if crate::depth::exceeds(text.as_bytes(), limits.max_depth + 1) {
        return Err(IngestError::MalformedArray(format!(
            "nested deeper than {}",
            limits.max_depth
        )));
    }
    let raw: Vec<&'a RawValue> =
        serde_json::from_str(text).map_err(|e| IngestError::MalformedArray(e.to_string()))?;
    if raw.len() > limits.max_records {
        return Err(IngestError::TooManyRecords {
            count: raw.len(),
            limit: limits.max_records,
        });
    }
    Ok(raw
        .into_iter()
        .enumerate()
        .map(|(i, r)| Item {
            line: i + 1,
            text: Ok(r.get()),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(body: &str) -> Vec<(usize, &str)> {
        split(body.as_bytes(), &Limits::default())
            .unwrap()
            .into_iter()
            .map(|i| (i.line, i.text.unwrap()))
            .collect()
    }

    #[test]
    fn ndjson_numbers_physical_lines() {
        assert_eq!(
            lines("{\"a\":1}\r\n\n  \n{\"b\":2}\nnot json"),
            [(1, "{\"a\":1}"), (4, "{\"b\":2}"), (5, "not json")]
        );
        assert!(lines("").is_empty());
    }

    #[test]
    fn arrays_number_elements() {
        assert_eq!(
            lines(" [ {\"a\":1}, {\"b\":[2]} ]"),
            [(1, "{\"a\":1}"), (2, "{\"b\":[2]}")]
        );
        assert!(matches!(
            split(b"[{\"a\":1},", &Limits::default()),
            Err(IngestError::MalformedArray(_))
        ));
    }

    #[test]
    fn body_and_count_limits() {
        let limits = Limits {
            max_body_bytes: 20,
            max_records: 2,
            ..Limits::default()
        };
        assert_eq!(
            split(&[b' '; 21], &limits),
            Err(IngestError::BodyTooLarge {
                size: 21,
                limit: 20
            })
        );
        assert!(matches!(
            split(b"{}\n{}\n{}", &limits),
            Err(IngestError::TooManyRecords { limit: 2, .. })
        ));
        assert!(matches!(
            split(b"[{},{},{}]", &limits),
            Err(IngestError::TooManyRecords { count: 3, .. })
        ));
        let deep = format!("[{}{}]", "[".repeat(40), "]".repeat(40));
        assert!(matches!(
            split(deep.as_bytes(), &Limits::default()),
            Err(IngestError::MalformedArray(_))
        ));
    }
}
