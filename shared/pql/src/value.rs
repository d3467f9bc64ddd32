//! Runtime values of the evaluator and PQL's coercion rules: truthiness (null is false, empty
//! arrays are false), null-propagating comparisons, and the conversions between JSON attribute
//! values, timestamps and days.

use crate::ast::CmpOp;
use crate::context::Event;
use crate::time::{MS_PER_DAY, format_timestamp, parse_timestamp};
use std::borrow::Cow;
use std::cmp::Ordering;

/// A value during evaluation; borrows from the profile, the events and the plan.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    Null,
    Bool(bool),
    Num(f64),
    Str(Cow<'a, str>),
    /// An instant, ms since the epoch.
    Time(i64),
    /// A day (or other calendar interval) `[start, end)`.
    Span(i64, i64),
    /// A JSON array or object from the profile or an event.
    Json(&'a serde_json::Value),
    List(Vec<Val<'a>>),
    Event(&'a Event),
}

impl<'a> Val<'a> {
    pub fn from_json(v: &'a serde_json::Value) -> Val<'a> {
        match v {
            serde_json::Value::Null => Val::Null,
            serde_json::Value::Bool(b) => Val::Bool(*b),
            serde_json::Value::Number(n) => n.as_f64().map(Val::Num).unwrap_or(Val::Null),
            serde_json::Value::String(s) => Val::Str(Cow::Borrowed(s.as_str())),
            other => Val::Json(other),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }

    /// PQL truthiness in boolean position.
    pub fn truthy(&self) -> bool {
        match self {
            Val::Null => false,
            Val::Bool(b) => *b,
            Val::List(v) => !v.is_empty(),
            Val::Json(serde_json::Value::Array(a)) => !a.is_empty(),
            _ => true,
        }
    }

    /// Elements when the value is a list or array; `None` otherwise.
    pub fn elements(&self) -> Option<Vec<Val<'a>>> {
        match self {
            Val::List(v) => Some(v.clone()),
            Val::Json(serde_json::Value::Array(a)) => Some(a.iter().map(Val::from_json).collect()),
            _ => None,
        }
    }

    /// Elements of a list; a single non-null value counts as a one-element list.
    pub fn elements_or_single(&self) -> Vec<Val<'a>> {
        match self.elements() {
            Some(v) => v,
            None if self.is_null() => Vec::new(),
            None => vec![self.clone()],
        }
    }

    pub fn is_listy(&self) -> bool {
        matches!(self, Val::List(_) | Val::Json(serde_json::Value::Array(_)))
    }

    /// Navigates one field. Through lists and arrays it projects element-wise (flattening,
    /// dropping missing values), as `xEvent.device.model` does.
    pub fn field(&self, name: &str) -> Val<'a> {
        match self {
            Val::Json(serde_json::Value::Object(m)) => {
                m.get(name).map(Val::from_json).unwrap_or(Val::Null)
            }
            Val::Event(e) => match name {
                "timestamp" => Val::Time(e.timestamp_ms),
                "eventType" => Val::Str(Cow::Borrowed(e.event_type.as_str())),
                _ => match &e.xdm {
                    serde_json::Value::Object(m) => {
                        m.get(name).map(Val::from_json).unwrap_or(Val::Null)
                    }
                    _ => Val::Null,
                },
            },
            Val::List(_) | Val::Json(serde_json::Value::Array(_)) => {
                let mut out = Vec::new();
                for el in self.elements().unwrap_or_default() {
                    match el.field(name) {
                        Val::Null => {}
                        v if v.is_listy() => out.extend(v.elements().unwrap_or_default()),
                        v => out.push(v),
                    }
                }
                Val::List(out)
            }
            _ => Val::Null,
        }
    }

    pub fn as_num(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            Val::Time(t) => Some(*t as f64),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The instant a value denotes: timestamps, epoch milliseconds, RFC 3339 strings, and
    /// the start of a day.
    pub fn as_time(&self) -> Option<i64> {
        match self {
            Val::Time(t) => Some(*t),
            Val::Span(s, _) => Some(*s),
            Val::Num(n) if n.is_finite() => Some(*n as i64),
            Val::Str(s) => parse_timestamp(s),
            _ => None,
        }
    }

    /// A value as a time span: days stay days, bare date strings become their day, instants
    /// become a zero-length span flagged by `instant = true`.
    pub fn as_span(&self) -> Option<(i64, i64, bool)> {
        match self {
            Val::Span(s, e) => Some((*s, *e, false)),
            Val::Str(s) if s.trim().len() == 10 => {
                parse_timestamp(s).map(|t| (t, t.saturating_add(MS_PER_DAY), false))
            }
            other => other.as_time().map(|t| (t, t, true)),
        }
    }

    /// Converts to JSON for callers that want a non-boolean result.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Val::Null => serde_json::Value::Null,
            Val::Bool(b) => serde_json::Value::Bool(*b),
            Val::Num(n) => serde_json::Number::from_f64(*n)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Val::Str(s) => serde_json::Value::String(s.to_string()),
            Val::Time(t) => serde_json::Value::String(format_timestamp(*t)),
            Val::Span(s, _) => {
                serde_json::Value::String(format_timestamp(*s).chars().take(10).collect())
            }
            Val::Json(v) => (*v).clone(),
            Val::List(v) => serde_json::Value::Array(v.iter().map(Val::to_json).collect()),
            Val::Event(e) => e.xdm.clone(),
        }
    }
}

/// Deep equality with PQL coercions (`"true"` equals `true`, `"5"` equals `5`, a timestamp
/// string equals the same instant).
pub(crate) fn equal(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Null, _) | (_, Val::Null) => false,
        (Val::Num(x), Val::Num(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Bool(x), Val::Str(s)) | (Val::Str(s), Val::Bool(x)) => match s.as_ref() {
            "true" => *x,
            "false" => !*x,
            _ => false,
        },
        (Val::Num(x), Val::Str(s)) | (Val::Str(s), Val::Num(x)) => {
            s.trim().parse::<f64>().is_ok_and(|y| y == *x)
        }
        (Val::Span(s, e), other) | (other, Val::Span(s, e)) => match other {
            Val::Span(s2, e2) => s == s2 && e == e2,
            _ => other.as_time().is_some_and(|t| *s <= t && t < *e),
        },
        (Val::Time(t), other) | (other, Val::Time(t)) => other.as_time() == Some(*t),
        (Val::Event(x), Val::Event(y)) => std::ptr::eq(*x, *y),
        (Val::Json(serde_json::Value::Object(x)), Val::Json(serde_json::Value::Object(y))) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.get(k)
                        .is_some_and(|w| equal_json(&Val::from_json(v), &Val::from_json(w)))
                })
        }
        _ if a.is_listy() && b.is_listy() => {
            let (x, y) = (
                a.elements().unwrap_or_default(),
                b.elements().unwrap_or_default(),
            );
            x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| equal(p, q))
        }
        _ => false,
    }
}

/// Equality inside JSON structures: nulls are equal to each other there.
fn equal_json(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Null, Val::Null) => true,
        _ => equal(a, b),
    }
}

fn order(a: &Val, b: &Val) -> Option<Ordering> {
    match (a, b) {
        (Val::Num(x), Val::Num(y)) => x.partial_cmp(y),
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        (Val::Num(x), Val::Str(s)) => s.trim().parse::<f64>().ok().and_then(|y| x.partial_cmp(&y)),
        (Val::Str(s), Val::Num(y)) => s.trim().parse::<f64>().ok().and_then(|x| x.partial_cmp(y)),
        (Val::Span(s, e), other) => {
            let t = other.as_time()?;
            Some(if t < *s {
                Ordering::Greater
            } else if t >= *e {
                Ordering::Less
            } else {
                Ordering::Equal
            })
        }
        (other, Val::Span(..)) => order(b, other).map(Ordering::reverse),
        (Val::Time(x), other) => other.as_time().map(|y| x.cmp(&y)),
        (other, Val::Time(y)) => other.as_time().map(|x| x.cmp(y)),
        _ => None,
    }
}

/// A comparison with PQL's null rule: false whenever either side is null, so `!=` is not the
/// negation of `=`. A list compared with a scalar is true when some element compares true.
pub(crate) fn compare(op: CmpOp, a: &Val, b: &Val) -> bool {
    if a.is_null() || b.is_null() {
        return false;
    }
    match (a.is_listy(), b.is_listy()) {
        (true, false) => {
            return a
                .elements()
                .unwrap_or_default()
                .iter()
                .any(|x| compare(op, x, b));
        }
        (false, true) => {
            return b
                .elements()
                .unwrap_or_default()
                .iter()
                .any(|y| compare(op, a, y));
        }
        _ => {}
    }
    match op {
        CmpOp::Eq => equal(a, b),
        CmpOp::Ne => !equal(a, b),
        _ => match order(a, b) {
            Some(o) => match op {
                CmpOp::Lt => o == Ordering::Less,
                CmpOp::Le => o != Ordering::Greater,
                CmpOp::Gt => o == Ordering::Greater,
                _ => o != Ordering::Less,
            },
            None => false,
        },
    }
}

/// SQL `LIKE`: `%` is any run of characters, `_` exactly one; case-sensitive.
pub(crate) fn like(s: &str, pattern: &str) -> bool {
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    let (mut i, mut j) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if j < p.len() && (p[j] == '_' || p[j] == s[i]) && p[j] != '%' {
            i += 1;
            j += 1;
        } else if j < p.len() && p[j] == '%' {
            star = Some((j, i));
            j += 1;
        } else if let Some((sj, si)) = star {
            j = sj + 1;
            i = si + 1;
            star = Some((sj, si + 1));
        } else {
            return false;
        }
    }
    p[j.min(p.len())..].iter().all(|c| *c == '%')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards() {
        assert!(like("Madrid es", "%es%"));
        assert!(like("a@b.edu", "%.edu"));
        assert!(!like("a@b.EDU", "%.edu"));
        assert!(like("John", "J_hn"));
        assert!(!like("Johnny", "J_hn"));
        assert!(like("Johnny", "John%"));
        assert!(!like("UpJohn", "John%"));
        assert!(like("", "%"));
        assert!(!like("", "_"));
    }

    #[test]
    fn null_comparisons_are_false() {
        for op in [CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Ge] {
            assert!(!compare(op, &Val::Null, &Val::Num(1.0)));
        }
        assert!(compare(CmpOp::Ne, &Val::Num(1.0), &Val::Num(2.0)));
        assert!(compare(
            CmpOp::Eq,
            &Val::Bool(true),
            &Val::Str("true".into())
        ));
    }
}
