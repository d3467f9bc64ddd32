//! Ranking for `recommendation` activities: each offer scores by the visitor's category
//! affinity (the profile's reference algorithm) and recent product views, and the top N win.
//!
//! Score of an offer = the sum of the affinity scores of its categories
//! + [`VIEWED_CATEGORY_POINTS`] per recent product view in one of its categories
//! + [`VIEWED_ITEM_POINTS`] per recent view of the offer itself (a view whose `SKU` is the
//!   offer id).
//!
//! Recent views are the profile's `commerce.productViews` events (the bounded ring), read from
//! `productListItems[].SKU` and `productListItems[].productCategories[].categoryID` (else
//! `categoryName`). Ties keep the authored offer order, so a visitor with no history gets the
//! first N offers: the editor's default ranking.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;
use vantage_model::Profile;

use crate::model::Offer;

/// Event type of a product view.
pub const PRODUCT_VIEW: &str = "commerce.productViews";
/// Points per recent view in one of an offer's categories.
pub const VIEWED_CATEGORY_POINTS: f64 = 1.0;
/// Points per recent view of the offer itself.
pub const VIEWED_ITEM_POINTS: f64 = 3.0;

/// The part of a product-view XDM that ranking reads; everything else is skipped unparsed.
#[derive(Deserialize)]
struct ViewXdm<'a> {
    #[serde(rename = "productListItems", default, borrow)]
    items: Vec<ViewedItem<'a>>,
}

#[derive(Deserialize)]
struct ViewedItem<'a> {
    #[serde(rename = "SKU", default, borrow)]
    sku: Option<Cow<'a, str>>,
    #[serde(rename = "productCategories", default, borrow)]
    categories: Vec<ViewedCategory<'a>>,
}

#[derive(Deserialize)]
struct ViewedCategory<'a> {
    #[serde(rename = "categoryID", default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(rename = "categoryName", default, borrow)]
    name: Option<Cow<'a, str>>,
}

/// What the profile says the visitor is interested in, read once per request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Interests {
    affinity: HashMap<String, f64>,
    viewed_categories: HashMap<String, u32>,
    viewed_items: HashMap<String, u32>,
}

impl Interests {
    /// Reads affinity scores and recent product views from the profile. Events whose XDM does
    /// not parse are skipped.
    pub fn from_profile(profile: &Profile) -> Interests {
        let mut interests = Interests {
            affinity: profile
                .affinity
                .scores()
                .iter()
                .map(|s| (s.category.clone(), s.score))
                .collect(),
            ..Interests::default()
        };
        for event in profile.events.iter().filter(|e| e.kind == PRODUCT_VIEW) {
            let Ok(xdm) = serde_json::from_str::<ViewXdm<'_>>(&event.xdm) else {
                continue;
            };
            for item in xdm.items {
                if let Some(sku) = item.sku {
                    *interests.viewed_items.entry(sku.into_owned()).or_default() += 1;
                }
                for category in item.categories {
                    if let Some(name) = category.id.or(category.name) {
                        *interests
                            .viewed_categories
                            .entry(name.into_owned())
                            .or_default() += 1;
                    }
                }
            }
        }
        interests
    }

    /// The offer's score (see the module docs).
    pub fn score(&self, offer: &Offer) -> f64 {
        let mut score = 0.0;
        for (i, category) in offer.categories.iter().enumerate() {
            // A category listed twice counts once.
            if offer.categories[..i].contains(category) {
                continue;
            }
            score += self.affinity.get(category).copied().unwrap_or(0.0);
            score += f64::from(self.viewed_categories.get(category).copied().unwrap_or(0))
                * VIEWED_CATEGORY_POINTS;
        }
        score
            + f64::from(self.viewed_items.get(&offer.id).copied().unwrap_or(0)) * VIEWED_ITEM_POINTS
    }
}

/// Ranks offers best first (stable: ties keep their order) with their scores.
pub fn rank<'o>(offers: &[&'o Offer], interests: &Interests) -> Vec<(&'o Offer, f64)> {
    let mut scored: Vec<(&Offer, f64)> = offers.iter().map(|&o| (o, interests.score(o))).collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use vantage_model::profile::Event;
    use vantage_model::{Identity, Policy, ProfileId};

    fn offer(id: &str, categories: &[&str]) -> Offer {
        serde_json::from_value(json!({"id": id, "categories": categories,
            "schema": "https://ns.adobe.com/personalization/json-content-item", "data": {"content": {}}}))
        .unwrap()
    }

    fn profile() -> Profile {
        let who = Identity::new("ECID", "1").unwrap();
        Profile::new(ProfileId::primary(&who), who, 0, 0, &Policy::default())
    }

    #[test]
    fn ranks_by_affinity_then_views_keeping_order_on_ties() {
        let mut p = profile();
        p.affinity.view("shoes", 1); // shoes 10
        p.affinity.view("hats", 2); // shoes 9, hats 5
        let view = |id: &str, sku: &str, category: &str| {
            Event {
            ts: 10,
            id: id.into(),
            kind: PRODUCT_VIEW.into(),
            xdm: json!({"productListItems": [{"SKU": sku, "productCategories": [{"categoryID": category}]}]})
                .to_string(),
        }
        };
        let policy = Policy::default();
        p.push_event(view("e1", "scarf-1", "scarves"), 20, &policy);
        p.push_event(view("e2", "hat-2", "hats"), 20, &policy);
        let by_name =
            json!({"productListItems": [{"productCategories": [{"categoryName": "scarves"}]}, {}]});
        p.push_event(
            Event {
                ts: 12,
                id: "e3".into(),
                kind: PRODUCT_VIEW.into(),
                xdm: by_name.to_string(),
            },
            20,
            &policy,
        );
        p.push_event(
            Event {
                ts: 11,
                id: "bad".into(),
                kind: PRODUCT_VIEW.into(),
                xdm: "not json".into(),
            },
            20,
            &policy,
        );
        let interests = Interests::from_profile(&p);
        let offers = [
            offer("plain", &[]),
            offer("hat-1", &["hats"]),
            offer("hat-2", &["hats", "hats"]),
            offer("boot", &["shoes"]),
            offer("scarf-2", &["scarves"]),
            offer("other", &[]),
        ];
        let refs: Vec<&Offer> = offers.iter().collect();
        let ranked: Vec<(&str, f64)> = rank(&refs, &interests)
            .into_iter()
            .map(|(o, s)| (o.id.as_str(), s))
            .collect();
        assert_eq!(
            ranked,
            [
                ("hat-2", 9.0),
                ("boot", 9.0),
                ("hat-1", 6.0),
                ("scarf-2", 2.0),
                ("plain", 0.0),
                ("other", 0.0)
            ]
        );
    }
}
