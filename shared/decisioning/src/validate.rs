//! Validation of activity definitions: every problem at once, each with the path of the field
//! it is about (`experiences[1].allocation`), so an author can fix a definition in one pass.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{
    ACTIVITY_FIELDS, Activity, ActivityType, Audience, BUCKETING_FIELDS, CAP_FIELDS,
    EXPERIENCE_FIELDS, Experience, HOLDOUT_EXPERIENCE_ID, OFFER_FIELDS, Offer, OfferSchema,
    SCHEMA_PREFIX, is_segment_id,
};
use crate::time::parse_rfc3339;

/// One thing wrong with a definition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Problem {
    /// Where: field path from the activity root, like `experiences[0].offers[1].data.selector`;
    /// empty for the activity as a whole.
    pub path: String,
    /// What is wrong, in words an author understands.
    pub message: String,
}

impl Problem {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// An activity definition that cannot be used, with everything wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid activity: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct InvalidActivity(pub Vec<Problem>);

/// Slack for floating-point sums of percentages (33.33 + 33.33 + 33.34).
const PERCENT_EPSILON: f64 = 1e-9;

/// The `data.type` values alloy renders (`initDomActionsModules.js`), grouped by what their
/// `content` must be.
const DOM_TYPES_STRING_CONTENT: &[&str] = &[
    "setHtml",
    "customCode",
    "setText",
    "setImageSource",
    "insertBefore",
    "insertAfter",
    "replaceHtml",
    "prependHtml",
    "appendHtml",
];
const DOM_TYPES_OBJECT_CONTENT: &[&str] =
    &["setAttribute", "setStyle", "move", "resize", "rearrange"];
const DOM_TYPES_NO_CONTENT: &[&str] = &["remove", "click", "collectInteractions"];

/// Parses and validates an activity from JSON text (an `activity` record, `type` optional).
pub fn parse_activity(json: &str) -> Result<Activity, InvalidActivity> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| InvalidActivity(vec![Problem::new("", format!("not valid JSON: {e}"))]))?;
    parse_activity_value(&value)
}

/// What an `activity` record asks for: a (new version of a) definition, or retirement.
#[derive(Debug, Clone, PartialEq)]
pub enum ActivityRecord {
    /// Define or replace the activity (status `active`, `paused` or `draft`).
    Define(Box<Activity>),
    /// Remove the activity (`"status": "retired"`); only `id` and `timestamp` are read.
    Retire {
        /// The activity to retire.
        id: String,
        /// When the hub retired it (RFC 3339), for ordering against other records.
        timestamp: Option<String>,
    },
}

/// Parses an `activity` record: a retirement needs only `id` (and a valid `timestamp` if
/// given), anything else must be a valid definition ([`parse_activity_value`]).
pub fn parse_activity_record(value: &Value) -> Result<ActivityRecord, InvalidActivity> {
    if value.get("status").and_then(Value::as_str) != Some("retired") {
        return parse_activity_value(value).map(|a| ActivityRecord::Define(Box::new(a)));
    }
    let mut p = Vec::new();
    let id = match value.get("id") {
        Some(Value::String(id)) => id.clone(),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        Some(_) => {
            p.push(Problem::new("id", "expected an id (string or integer)"));
            String::new()
        }
        None => {
            p.push(Problem::new("id", "is required"));
            String::new()
        }
    };
    if value.get("id").is_some() && p.is_empty() {
        check_id(&mut p, "id", &id);
    }
    let timestamp = match value.get("timestamp") {
        None | Some(Value::Null) => None,
        Some(Value::String(ts)) => {
            check_date(&mut p, "timestamp", ts);
            Some(ts.clone())
        }
        Some(_) => {
            p.push(Problem::new("timestamp", "must be an RFC 3339 string"));
            None
        }
    };
    if p.is_empty() {
        Ok(ActivityRecord::Retire { id, timestamp })
    } else {
        Err(InvalidActivity(p))
    }
}

/// Parses and validates an activity from a JSON value.
///
/// Unknown fields are problems too (a misspelt `allocaton` would otherwise vanish silently).
/// A field of the wrong shape stops the typed checks, so its problem is reported together with
/// the unknown-field ones only.
pub fn parse_activity_value(value: &Value) -> Result<Activity, InvalidActivity> {
    let mut problems = unknown_fields(value);
    match serde_path_to_error::deserialize::<_, Activity>(value) {
        Ok(activity) => {
            problems.extend(validate(&activity));
            if problems.is_empty() {
                Ok(activity)
            } else {
                Err(InvalidActivity(problems))
            }
        }
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            problems.push(Problem::new(path, e.into_inner().to_string()));
            Err(InvalidActivity(problems))
        }
    }
}

/// Checks an activity's meaning; returns every problem found (empty when it is valid).
pub fn validate(activity: &Activity) -> Vec<Problem> {
    let mut p = Vec::new();
    check_id(&mut p, "id", &activity.id);
    if let Some(ts) = &activity.timestamp {
        check_date(&mut p, "timestamp", ts);
    }
    let start = activity
        .start_date
        .as_ref()
        .and_then(|d| check_date(&mut p, "startDate", d));
    let end = activity
        .end_date
        .as_ref()
        .and_then(|d| check_date(&mut p, "endDate", d));
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        p.push(Problem::new("endDate", "must be after startDate"));
    }
    if activity.priority < 0 {
        p.push(Problem::new("priority", "must be 0 or more (higher wins)"));
    }
    check_scopes(&mut p, &activity.scopes);
    if let Some(a) = &activity.audience {
        check_audience(&mut p, "audience", a);
    }
    if activity
        .exclusion_group
        .as_deref()
        .is_some_and(str::is_empty)
    {
        p.push(Problem::new(
            "exclusionGroup",
            "must not be empty (omit it for none)",
        ));
    }
    if !activity.holdout.is_finite() || !(0.0..100.0).contains(&activity.holdout) {
        p.push(Problem::new(
            "holdout",
            "must be a percentage from 0 up to (not including) 100",
        ));
    }
    if let Err(e) = activity.bucketing.scheme() {
        p.push(Problem::new("bucketing.scheme", e.to_string()));
    }
    if activity
        .conversion_event_type
        .as_deref()
        .is_some_and(str::is_empty)
    {
        p.push(Problem::new(
            "conversionEventType",
            "must not be empty (omit it for none)",
        ));
    }
    match (activity.max_items, activity.activity_type) {
        (Some(0), ActivityType::Recommendation) => {
            p.push(Problem::new("maxItems", "must be at least 1"));
        }
        (Some(_), ActivityType::Ab | ActivityType::Xt) => p.push(Problem::new(
            "maxItems",
            "only applies to recommendation activities",
        )),
        _ => {}
    }
    check_experiences(&mut p, activity);
    for (scope, offer) in &activity.fallbacks {
        let path = format!("fallbacks[{scope:?}]");
        if !activity.scopes.contains(scope) {
            p.push(Problem::new(&path, "is not one of the activity's scopes"));
        }
        check_offer(&mut p, &path, offer, &activity.scopes);
        if offer.scope.as_ref().is_some_and(|s| s != scope) {
            p.push(Problem::new(
                format!("{path}.scope"),
                "differs from the scope it is the fallback for",
            ));
        }
    }
    p
}

fn check_id(p: &mut Vec<Problem>, path: &str, id: &str) {
    if id.trim().is_empty() {
        p.push(Problem::new(path, "must not be empty"));
    } else if id.chars().any(char::is_control) {
        p.push(Problem::new(path, "must not contain control characters"));
    }
}

/// Checks an RFC 3339 date and returns it in milliseconds when valid.
fn check_date(p: &mut Vec<Problem>, path: &str, date: &str) -> Option<i64> {
    match parse_rfc3339(date) {
        Ok(ms) => Some(ms),
        Err(e) => {
            p.push(Problem::new(path, e.to_string()));
            None
        }
    }
}

fn check_scopes(p: &mut Vec<Problem>, scopes: &[String]) {
    if scopes.is_empty() {
        p.push(Problem::new(
            "scopes",
            "must list at least one scope (e.g. \"__view__\")",
        ));
    }
    let mut seen = HashSet::new();
    for (i, scope) in scopes.iter().enumerate() {
        let path = format!("scopes[{i}]");
        if let Some(message) = scope_problem(scope) {
            p.push(Problem::new(&path, message));
        } else if !seen.insert(scope.as_str()) {
            p.push(Problem::new(&path, format!("duplicate scope {scope:?}")));
        }
    }
}

/// What is wrong with a scope name, if anything.
fn scope_problem(scope: &str) -> Option<String> {
    if scope.is_empty() {
        return Some("must not be empty".into());
    }
    if scope.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("must not contain whitespace".into());
    }
    if let Some(rest) = scope.strip_prefix("web://") {
        let host = rest.split(['/', '#', '?']).next().unwrap_or_default();
        if host.is_empty() {
            return Some("a page surface needs a host: web://host/path".into());
        }
    } else if let Some((scheme, rest)) = scope.split_once("://")
        && (scheme.is_empty() || rest.is_empty())
    {
        return Some("a surface is scheme://location".into());
    }
    None
}

fn check_audience(p: &mut Vec<Problem>, path: &str, audience: &Audience) {
    match audience {
        Audience::Segment(id) if !is_segment_id(id) => p.push(Problem::new(
            path,
            format!("segment id {id:?} may only use ASCII letters, digits and _ - . :"),
        )),
        Audience::Pql(text) if text.trim().is_empty() => {
            p.push(Problem::new(path, "PQL expression must not be empty"));
        }
        _ => {}
    }
}

fn check_experiences(p: &mut Vec<Problem>, activity: &Activity) {
    let experiences = &activity.experiences;
    if experiences.is_empty() {
        p.push(Problem::new(
            "experiences",
            "must have at least one experience",
        ));
        return;
    }
    let mut ids = HashSet::new();
    let mut total = 0.0;
    let mut over_reported = false;
    let mut catch_all: Option<usize> = None;
    for (i, e) in experiences.iter().enumerate() {
        let path = format!("experiences[{i}]");
        check_id(p, &format!("{path}.id"), &e.id);
        if !ids.insert(e.id.as_str()) {
            p.push(Problem::new(
                format!("{path}.id"),
                format!("duplicate experience id {:?}", e.id),
            ));
        }
        if e.id == HOLDOUT_EXPERIENCE_ID {
            p.push(Problem::new(
                format!("{path}.id"),
                format!("{HOLDOUT_EXPERIENCE_ID:?} is reserved for visitors held out"),
            ));
        }
        if e.control && experiences[..i].iter().any(|earlier| earlier.control) {
            p.push(Problem::new(
                format!("{path}.control"),
                "only one experience can be the control",
            ));
        }
        check_allocation(
            p,
            activity.activity_type,
            &path,
            e,
            &mut total,
            &mut over_reported,
        );
        match (&e.audience, activity.activity_type) {
            (Some(a), ActivityType::Xt) => check_audience(p, &format!("{path}.audience"), a),
            (Some(_), _) => p.push(Problem::new(
                format!("{path}.audience"),
                "experience audiences only apply to xt activities (use the activity audience)",
            )),
            (None, _) => {}
        }
        if activity.activity_type == ActivityType::Xt {
            if let Some(first) = catch_all {
                p.push(Problem::new(
                    &path,
                    format!("is unreachable: experiences[{first}] has no audience and matches everyone first"),
                ));
            } else if e.audience.is_none() {
                catch_all = Some(i);
            }
        }
        check_offers(p, &path, e, &activity.scopes);
    }
}

fn check_allocation(
    p: &mut Vec<Problem>,
    activity_type: ActivityType,
    path: &str,
    e: &Experience,
    total: &mut f64,
    over_reported: &mut bool,
) {
    let path = format!("{path}.allocation");
    match e.allocation {
        None if activity_type == ActivityType::Ab => {
            p.push(Problem::new(
                path,
                "is required in an ab activity (percent of traffic)",
            ));
        }
        None => {}
        Some(a) if !a.is_finite() || !(0.0..=100.0).contains(&a) => {
            p.push(Problem::new(path, "must be a percentage from 0 to 100"));
        }
        // Only ab experiences share the traffic; xt ones each split their own audience.
        Some(a) if activity_type == ActivityType::Ab => {
            *total += a;
            if *total > 100.0 + PERCENT_EPSILON && !*over_reported {
                *over_reported = true;
                p.push(Problem::new(
                    path,
                    format!("allocations add up to more than 100 ({total} so far)"),
                ));
            }
        }
        Some(_) => {}
    }
}

fn check_offers(p: &mut Vec<Problem>, path: &str, e: &Experience, scopes: &[String]) {
    if e.offers.is_empty() {
        p.push(Problem::new(
            format!("{path}.offers"),
            "must have at least one offer (a control uses a default-content-item offer)",
        ));
    }
    let mut ids = HashSet::new();
    for (j, offer) in e.offers.iter().enumerate() {
        let offer_path = format!("{path}.offers[{j}]");
        if !ids.insert(offer.id.as_str()) {
            p.push(Problem::new(
                format!("{offer_path}.id"),
                format!("duplicate offer id {:?}", offer.id),
            ));
        }
        check_offer(p, &offer_path, offer, scopes);
    }
}

/// Checks one offer: id, schema and its data, caps, eligibility and scope.
pub(crate) fn check_offer(p: &mut Vec<Problem>, path: &str, offer: &Offer, scopes: &[String]) {
    check_id(p, &format!("{path}.id"), &offer.id);
    match offer.offer_schema() {
        Some(schema) => check_offer_data(p, &format!("{path}.data"), schema, &offer.data),
        None => {
            let hint = OfferSchema::ALL
                .into_iter()
                .find(|s| s.short_name() == offer.schema)
                .map(|s| format!(" (did you mean {:?}?)", s.url()))
                .unwrap_or_default();
            p.push(Problem::new(
                format!("{path}.schema"),
                format!(
                    "unknown schema {:?}{hint}; expected one of the {SCHEMA_PREFIX}… item schemas: {}",
                    offer.schema,
                    OfferSchema::ALL.map(OfferSchema::short_name).join(", ")
                ),
            ));
        }
    }
    for (k, cap) in offer.caps.iter().enumerate() {
        if cap.count == 0 {
            p.push(Problem::new(
                format!("{path}.caps[{k}].count"),
                "must be at least 1 (remove the offer to never show it)",
            ));
        }
    }
    if offer
        .eligibility
        .as_deref()
        .is_some_and(|e| e.trim().is_empty())
    {
        p.push(Problem::new(
            format!("{path}.eligibility"),
            "PQL expression must not be empty (omit it for none)",
        ));
    }
    if let Some(scope) = &offer.scope
        && !scopes.contains(scope)
    {
        p.push(Problem::new(
            format!("{path}.scope"),
            format!("{scope:?} is not one of the activity's scopes"),
        ));
    }
    for (k, category) in offer.categories.iter().enumerate() {
        if category.trim().is_empty() {
            p.push(Problem::new(
                format!("{path}.categories[{k}]"),
                "must not be empty",
            ));
        }
    }
}

/// A non-empty string field of `data`, or the problem with it.
fn required_string<'a>(
    p: &mut Vec<Problem>,
    path: &str,
    data: &'a Value,
    field: &str,
) -> Option<&'a str> {
    match data.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s),
        Some(Value::String(_)) => {
            p.push(Problem::new(format!("{path}.{field}"), "must not be empty"));
            None
        }
        Some(_) => {
            p.push(Problem::new(format!("{path}.{field}"), "must be a string"));
            None
        }
        None => {
            p.push(Problem::new(format!("{path}.{field}"), "is required"));
            None
        }
    }
}

fn check_offer_data(p: &mut Vec<Problem>, path: &str, schema: OfferSchema, data: &Value) {
    if schema == OfferSchema::DefaultContent {
        if !(data.is_null() || data.as_object().is_some_and(serde_json::Map::is_empty)) {
            p.push(Problem::new(path, "a default-content-item carries no data"));
        }
        return;
    }
    if !data.is_object() {
        p.push(Problem::new(
            path,
            format!("must be an object for {}", schema.short_name()),
        ));
        return;
    }
    match schema {
        OfferSchema::DomAction => {
            let kind = required_string(p, path, data, "type");
            required_string(p, path, data, "selector");
            if let Some(kind) = kind {
                check_dom_content(p, path, kind, data.get("content"));
            }
        }
        OfferSchema::HtmlContent => {
            required_string(p, path, data, "content");
            match (data.get("selector"), data.get("type")) {
                (None, None) => {}
                (Some(_), Some(_)) => {
                    required_string(p, path, data, "selector");
                    if let Some(kind) = required_string(p, path, data, "type")
                        && !DOM_TYPES_STRING_CONTENT.contains(&kind)
                    {
                        p.push(Problem::new(
                            format!("{path}.type"),
                            format!(
                                "{kind:?} cannot render HTML; use one of {}",
                                DOM_TYPES_STRING_CONTENT.join(", ")
                            ),
                        ));
                    }
                }
                _ => p.push(Problem::new(
                    path,
                    "selector and type go together (alloy renders the item only when both are set)",
                )),
            }
        }
        OfferSchema::JsonContent => match data.get("content") {
            None | Some(Value::Null) => {
                p.push(Problem::new(format!("{path}.content"), "is required"))
            }
            Some(_) => {}
        },
        OfferSchema::Redirect => {
            if let Some(url) = required_string(p, path, data, "content")
                && !is_absolute_http_url(url)
            {
                p.push(Problem::new(
                    format!("{path}.content"),
                    "must be an absolute http(s) URL",
                ));
            }
            if data.get("type").is_some_and(|t| t != "redirect") {
                p.push(Problem::new(
                    format!("{path}.type"),
                    "must be \"redirect\" (or omitted)",
                ));
            }
        }
        OfferSchema::DefaultContent => {}
    }
}

fn check_dom_content(p: &mut Vec<Problem>, path: &str, kind: &str, content: Option<&Value>) {
    let content_path = format!("{path}.content");
    if DOM_TYPES_STRING_CONTENT.contains(&kind) {
        match content {
            Some(Value::String(_)) => {}
            Some(_) => p.push(Problem::new(
                content_path,
                format!("must be a string for {kind}"),
            )),
            None => p.push(Problem::new(
                content_path,
                format!("is required for {kind}"),
            )),
        }
    } else if DOM_TYPES_OBJECT_CONTENT.contains(&kind) {
        if !content.is_some_and(Value::is_object) {
            p.push(Problem::new(
                content_path,
                format!("must be an object for {kind}"),
            ));
        }
    } else if !DOM_TYPES_NO_CONTENT.contains(&kind) {
        p.push(Problem::new(
            format!("{path}.type"),
            format!(
                "unknown dom action {kind:?}; alloy renders {}, {}, {}",
                DOM_TYPES_STRING_CONTENT.join(", "),
                DOM_TYPES_OBJECT_CONTENT.join(", "),
                DOM_TYPES_NO_CONTENT.join(", ")
            ),
        ));
    }
}

fn is_absolute_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && !r.chars().any(char::is_whitespace)
    })
}

/// Reports fields that are not part of the model, with a suggestion when one is close.
fn unknown_fields(value: &Value) -> Vec<Problem> {
    let mut p = Vec::new();
    let Some(root) = value.as_object() else {
        return p;
    };
    check_fields(&mut p, "", value, ACTIVITY_FIELDS);
    if let Some(kind) = root.get("type")
        && kind != "activity"
    {
        p.push(Problem::new("type", "must be \"activity\" when present"));
    }
    if let Some(b) = root.get("bucketing") {
        check_fields(&mut p, "bucketing", b, BUCKETING_FIELDS);
    }
    if let Some(Value::Array(experiences)) = root.get("experiences") {
        for (i, e) in experiences.iter().enumerate() {
            let path = format!("experiences[{i}]");
            check_fields(&mut p, &path, e, EXPERIENCE_FIELDS);
            if let Some(Value::Array(offers)) = e.get("offers") {
                for (j, o) in offers.iter().enumerate() {
                    check_offer_fields(&mut p, &format!("{path}.offers[{j}]"), o);
                }
            }
        }
    }
    if let Some(Value::Object(fallbacks)) = root.get("fallbacks") {
        for (scope, o) in fallbacks {
            check_offer_fields(&mut p, &format!("fallbacks[{scope:?}]"), o);
        }
    }
    p
}

fn check_offer_fields(p: &mut Vec<Problem>, path: &str, offer: &Value) {
    check_fields(p, path, offer, OFFER_FIELDS);
    if let Some(Value::Array(caps)) = offer.get("caps") {
        for (k, cap) in caps.iter().enumerate() {
            check_fields(p, &format!("{path}.caps[{k}]"), cap, CAP_FIELDS);
        }
    }
}

fn check_fields(p: &mut Vec<Problem>, path: &str, value: &Value, known: &[&str]) {
    let Some(object) = value.as_object() else {
        return;
    };
    for key in object.keys() {
        if known.contains(&key.as_str()) {
            continue;
        }
        let hint = known
            .iter()
            .find(|k| edit_distance(k, key) <= 2)
            .map(|k| format!(" (did you mean {k:?}?)"))
            .unwrap_or_default();
        let field_path = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        p.push(Problem::new(field_path, format!("unknown field{hint}")));
    }
}

/// Levenshtein distance, for "did you mean" hints on short field names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
