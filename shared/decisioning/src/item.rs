//! Offers as Web SDK proposition items (`{id, schema, meta?, data}`), the shape alloy renders:
//! see `adobe-edge-protocol.md` §4.1 and the dom-action types of §5.2.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::{Activity, Experience, Offer, OfferSchema};

/// `data.format` of a dom-action item (Target's DOM action media type).
pub const DOM_ACTION_FORMAT: &str = "application/vnd.adobe.target.dom-action";

/// One `items[]` entry of a proposition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropositionItem {
    /// Required by alloy's `applyPropositions`; the offer id.
    pub id: String,
    /// The item schema URL.
    pub schema: String,
    /// Response tokens (`activity.name`, `offer.id`, …); `{}` for default content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
    /// The payload; absent for default content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// Sets `key` to `value` unless the author already did.
fn default_field(data: &mut Map<String, Value>, key: &str, value: Value) {
    data.entry(key).or_insert(value);
}

impl Offer {
    /// The proposition item for this offer, with the fields alloy expects filled in where the
    /// author left them out: dom-action gets `format` and `prehidingSelector` (= `selector`),
    /// html/json items their `format`, redirects `type: "redirect"`; default content has no
    /// data and an empty `meta`. Fields the author set are passed through untouched.
    pub fn to_item(&self) -> PropositionItem {
        let schema = self.offer_schema();
        if schema == Some(OfferSchema::DefaultContent) {
            return PropositionItem {
                id: self.id.clone(),
                schema: self.schema.clone(),
                meta: Some(Map::new()),
                data: None,
            };
        }
        let data = match (&self.data, schema) {
            (Value::Object(map), Some(schema)) => {
                let mut data = map.clone();
                match schema {
                    OfferSchema::DomAction => {
                        default_field(&mut data, "format", DOM_ACTION_FORMAT.into());
                        if let Some(selector) = data.get("selector").cloned() {
                            default_field(&mut data, "prehidingSelector", selector);
                        }
                    }
                    OfferSchema::HtmlContent => {
                        default_field(&mut data, "format", "text/html".into())
                    }
                    OfferSchema::JsonContent => {
                        default_field(&mut data, "format", "application/json".into())
                    }
                    OfferSchema::Redirect => default_field(&mut data, "type", "redirect".into()),
                    OfferSchema::DefaultContent => {}
                }
                Some(Value::Object(data))
            }
            (Value::Null, _) => None,
            (other, _) => Some(other.clone()),
        };
        PropositionItem {
            id: self.id.clone(),
            schema: self.schema.clone(),
            meta: None,
            data,
        }
    }

    /// [`Offer::to_item`] with Target's response tokens in `meta` (`activity.id`,
    /// `activity.name`, `experience.id`, `experience.name`, `offer.id`, `offer.name`).
    pub fn to_item_with_meta(
        &self,
        activity: &Activity,
        experience: &Experience,
    ) -> PropositionItem {
        let mut item = self.to_item();
        let meta = item.meta.get_or_insert_with(Map::new);
        for (key, value) in [
            ("activity.id", &activity.id),
            ("activity.name", &activity.name),
            ("experience.id", &experience.id),
            ("experience.name", &experience.name),
            ("offer.id", &self.id),
            ("offer.name", &self.name),
        ] {
            if !value.is_empty() {
                meta.insert(key.to_owned(), Value::String(value.clone()));
            }
        }
        item
    }

    /// An offer carrying an item's content (no caps, eligibility or scope: items do not carry
    /// them). `to_item` of the result gives the item back.
    pub fn from_item(item: &PropositionItem) -> Offer {
        Offer {
            id: item.id.clone(),
            name: String::new(),
            schema: item.schema.clone(),
            data: item.data.clone().unwrap_or(Value::Null),
            scope: None,
            caps: Vec::new(),
            eligibility: None,
            categories: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn offer(v: Value) -> Offer {
        serde_json::from_value(v).expect("offer parses")
    }

    /// Offer → item JSON (exactly `want`) → parsed item → offer → the same item again, and the
    /// offer from the item validates.
    fn round_trip(offer_json: Value, want: Value) {
        let o = offer(offer_json);
        let item = o.to_item();
        assert_eq!(serde_json::to_value(&item).unwrap(), want);
        let text = serde_json::to_string(&item).unwrap();
        let parsed: PropositionItem = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, item);
        let back = Offer::from_item(&parsed);
        assert_eq!(back.to_item(), item);
        let mut problems = Vec::new();
        crate::validate::check_offer(&mut problems, "offer", &back, &[]);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn dom_action_as_in_the_protocol_doc() {
        round_trip(
            json!({"id": "100001-item", "schema": "https://ns.adobe.com/personalization/dom-action",
                   "data": {"type": "setHtml", "selector": "#target-container", "content": "<div>Personalized</div>"},
                   "caps": [{"count": 3, "per": "day"}]}),
            json!({"id": "100001-item", "schema": "https://ns.adobe.com/personalization/dom-action",
                   "data": {"type": "setHtml", "format": "application/vnd.adobe.target.dom-action",
                            "content": "<div>Personalized</div>", "selector": "#target-container",
                            "prehidingSelector": "#target-container"}}),
        );
    }

    #[test]
    fn dom_action_keeps_author_fields() {
        round_trip(
            json!({"id": "s", "schema": "https://ns.adobe.com/personalization/dom-action",
                   "data": {"type": "setStyle", "selector": "#hero", "prehidingSelector": "body",
                            "content": {"background-color": "red", "priority": "important"}}}),
            json!({"id": "s", "schema": "https://ns.adobe.com/personalization/dom-action",
                   "data": {"type": "setStyle", "selector": "#hero", "prehidingSelector": "body",
                            "format": "application/vnd.adobe.target.dom-action",
                            "content": {"background-color": "red", "priority": "important"}}}),
        );
    }

    #[test]
    fn html_content_item() {
        round_trip(
            json!({"id": "h", "schema": "https://ns.adobe.com/personalization/html-content-item",
                   "data": {"content": "<p>Hi</p>"}}),
            json!({"id": "h", "schema": "https://ns.adobe.com/personalization/html-content-item",
                   "data": {"format": "text/html", "content": "<p>Hi</p>"}}),
        );
        round_trip(
            json!({"id": "h2", "schema": "https://ns.adobe.com/personalization/html-content-item",
                   "data": {"content": "<p>Hi</p>", "selector": "#banner", "type": "setHtml"}}),
            json!({"id": "h2", "schema": "https://ns.adobe.com/personalization/html-content-item",
                   "data": {"format": "text/html", "content": "<p>Hi</p>", "selector": "#banner", "type": "setHtml"}}),
        );
    }

    #[test]
    fn json_content_item() {
        round_trip(
            json!({"id": "j", "schema": "https://ns.adobe.com/personalization/json-content-item",
                   "data": {"content": {"doMagic": true, "importantValue": 150}}}),
            json!({"id": "j", "schema": "https://ns.adobe.com/personalization/json-content-item",
                   "data": {"format": "application/json", "content": {"doMagic": true, "importantValue": 150}}}),
        );
    }

    #[test]
    fn redirect_item() {
        round_trip(
            json!({"id": "r", "schema": "https://ns.adobe.com/personalization/redirect-item",
                   "data": {"content": "https://shop.example/new-home"}}),
            json!({"id": "r", "schema": "https://ns.adobe.com/personalization/redirect-item",
                   "data": {"type": "redirect", "content": "https://shop.example/new-home"}}),
        );
    }

    #[test]
    fn default_content_item() {
        round_trip(
            json!({"id": "control", "schema": "https://ns.adobe.com/personalization/default-content-item"}),
            json!({"id": "control", "schema": "https://ns.adobe.com/personalization/default-content-item", "meta": {}}),
        );
    }

    #[test]
    fn meta_carries_response_tokens() {
        let activity: Activity = serde_json::from_value(json!({
            "id": "hero-test", "name": "Homepage hero", "activityType": "ab", "scopes": ["__view__"],
            "experiences": [{"id": "0", "name": "A", "allocation": 100, "offers": [
                {"id": "hero-a", "schema": "https://ns.adobe.com/personalization/default-content-item"}]}]
        }))
        .unwrap();
        let e = &activity.experiences[0];
        let item = e.offers[0].to_item_with_meta(&activity, e);
        assert_eq!(
            serde_json::to_value(item).unwrap(),
            json!({"id": "hero-a", "schema": "https://ns.adobe.com/personalization/default-content-item",
                   "meta": {"activity.id": "hero-test", "activity.name": "Homepage hero",
                            "experience.id": "0", "experience.name": "A", "offer.id": "hero-a"}})
        );
    }
}
