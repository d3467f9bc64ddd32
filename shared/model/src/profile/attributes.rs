//! Profile attributes: JSON values with a timestamp per leaf field path, last writer wins.
//!
//! A write deep-merges an object into the attributes: every non-object value (string, number,
//! bool, null, array, empty object) is a leaf, stored under its JSON Pointer with the record's
//! timestamp. Per path, the newer timestamp wins (ties go to the larger JSON text, so every
//! replica picks the same one). Rendering applies leaves in timestamp order, so a newer scalar
//! at `/a` replaces an older `/a/b`, and a newer `/a/b` turns an older scalar `/a` back into an
//! object. A leaf hidden by a newer leaf at one of its ancestors can never show again and is
//! dropped, which keeps the stored set bounded and the same whatever order writes arrived in.
//! `null` is a value: writing it clears a field without forgetting when.

use std::collections::BTreeMap;
use std::ops::Bound;

use bincode::{Decode, Encode};
use serde_json::{Map, Value};

/// The attributes of a profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode)]
pub struct Attributes {
    leaves: BTreeMap<String, Leaf>,
}

/// One leaf value and when it was written.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Leaf {
    /// The record timestamp, ms.
    pub ts: i64,
    /// The value as JSON text (bincode cannot carry `serde_json::Value` itself).
    pub json: String,
}

impl Attributes {
    /// Deep-merges `value` at timestamp `ts`. A non-object `value` is stored at the root
    /// pointer `""`. An empty object merges no field: it is what a consent-only profile record
    /// carries, and as a root leaf it would wipe every older attribute. Returns whether
    /// anything changed.
    pub fn merge_json(&mut self, value: &Value, ts: i64) -> bool {
        if value.as_object().is_some_and(Map::is_empty) {
            return false;
        }
        let mut changed = false;
        let mut pointer = String::new();
        self.merge_at(&mut pointer, value, ts, &mut changed);
        changed
    }

    fn merge_at(&mut self, pointer: &mut String, value: &Value, ts: i64, changed: &mut bool) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, child) in map {
                    let len = pointer.len();
                    pointer.push('/');
                    push_escaped(pointer, key);
                    self.merge_at(pointer, child, ts, changed);
                    pointer.truncate(len);
                }
            }
            leaf => *changed |= self.set_leaf(pointer, leaf.to_string(), ts),
        }
    }

    /// Sets one leaf if it wins by last-writer-wins; returns whether it did.
    pub fn set_leaf(&mut self, pointer: &str, json: String, ts: i64) -> bool {
        if let Some(old) = self.leaves.get(pointer)
            && (old.ts, old.json.as_str()) >= (ts, json.as_str())
        {
            return false;
        }
        if self.hidden_by_ancestor(pointer, ts) {
            return false;
        }
        // Older leaves below this one can never show again. They sort right after
        // `{pointer}/`, so a range scan finds them without visiting every leaf.
        let below = format!("{pointer}/");
        let hidden: Vec<String> = self
            .leaves
            .range::<str, _>((Bound::Included(below.as_str()), Bound::Unbounded))
            .take_while(|(path, _)| path.starts_with(&below))
            .filter(|(_, leaf)| leaf.ts < ts)
            .map(|(path, _)| path.clone())
            .collect();
        for path in &hidden {
            self.leaves.remove(path);
        }
        self.leaves.insert(pointer.to_owned(), Leaf { ts, json });
        true
    }

    fn hidden_by_ancestor(&self, pointer: &str, ts: i64) -> bool {
        pointer
            .match_indices('/')
            .map(|(i, _)| &pointer[..i])
            .any(|ancestor| self.leaves.get(ancestor).is_some_and(|l| l.ts > ts))
    }

    /// Folds `other` in, leaf by leaf, by the same rule as writes.
    pub fn merge(&mut self, other: &Attributes) -> bool {
        let mut changed = false;
        for (path, leaf) in &other.leaves {
            changed |= self.set_leaf(path, leaf.json.clone(), leaf.ts);
        }
        changed
    }

    /// The stored leaves by JSON Pointer.
    pub fn leaves(&self) -> &BTreeMap<String, Leaf> {
        &self.leaves
    }

    /// Whether no attribute has been written.
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// The attributes as one JSON object.
    pub fn to_json(&self) -> Value {
        let mut order: Vec<(&String, &Leaf)> = self.leaves.iter().collect();
        order.sort_by(|a, b| (a.1.ts, a.0).cmp(&(b.1.ts, b.0)));
        let mut root = Value::Object(Map::new());
        for (pointer, leaf) in order {
            let value = serde_json::from_str(&leaf.json).unwrap_or(Value::Null);
            set_path(&mut root, pointer, value);
        }
        match root {
            Value::Object(_) => root,
            // A root leaf (a non-object written as attributes) shows as the whole value.
            other => other,
        }
    }
}

fn push_escaped(out: &mut String, key: &str) {
    for c in key.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn set_path(root: &mut Value, pointer: &str, value: Value) {
    if pointer.is_empty() {
        *root = value;
        return;
    }
    let mut node = root;
    let mut tokens = pointer[1..].split('/').peekable();
    while let Some(token) = tokens.next() {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else { return };
        let slot = map.entry(unescape(token)).or_insert(Value::Null);
        if tokens.peek().is_none() {
            *slot = value;
            return;
        }
        node = slot;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn apply(writes: &[(Value, i64)]) -> Attributes {
        let mut a = Attributes::default();
        for (v, ts) in writes {
            a.merge_json(v, *ts);
        }
        a
    }

    #[test]
    fn deep_merges_and_last_writer_wins_per_field() {
        let a = apply(&[
            (
                json!({"person":{"name":{"firstName":"Ada","lastName":"L"}}}),
                10,
            ),
            (json!({"person":{"name":{"firstName":"Grace"}}}), 20),
            (json!({"person":{"name":{"lastName":"Old"}}}), 5),
            (json!({"loyalty":{"tier":"gold","points":5200}}), 15),
        ]);
        assert_eq!(
            a.to_json(),
            json!({"person":{"name":{"firstName":"Grace","lastName":"L"}},
                   "loyalty":{"tier":"gold","points":5200}})
        );
    }

    #[test]
    fn ties_resolve_the_same_way_in_any_order() {
        let x = apply(&[(json!({"a":1}), 7), (json!({"a":2}), 7)]);
        let y = apply(&[(json!({"a":2}), 7), (json!({"a":1}), 7)]);
        assert_eq!(x, y);
        assert_eq!(x.to_json(), json!({"a":2}));
    }

    #[test]
    fn structural_conflicts_are_order_independent() {
        let writes = [
            (json!({"a":{"c":1}}), 5),
            (json!({"a":"scalar"}), 6),
            (json!({"a":{"b":1}}), 7),
            (json!({"a":{"d":[1,2]}}), 4),
            (json!({"e":{}}), 3),
            (json!({"e":{"f":null}}), 8),
        ];
        let expected = apply(&writes);
        assert_eq!(expected.to_json(), json!({"a":{"b":1},"e":{"f":null}}));
        // Every rotation and the reverse give the same stored set and view.
        for r in 0..writes.len() {
            let mut w = writes.to_vec();
            w.rotate_left(r);
            assert_eq!(apply(&w), expected);
            w.reverse();
            assert_eq!(apply(&w), expected);
        }
        // The hidden `/a/c` and `/a/d` were dropped; `/a` stays to hide late arrivals.
        assert!(!expected.leaves().contains_key("/a/c"));
        assert!(expected.leaves().contains_key("/a"));
    }

    #[test]
    fn a_newer_leaf_drops_only_the_older_leaves_below_it() {
        let mut a = Attributes::default();
        a.merge_json(&json!({"a": {"b": 1, "c": {"d": 2}}, "ab": 3, "a~": 4}), 10);
        a.merge_json(&json!({"a": {"e": 5}}), 30);
        // A scalar at /a newer than /a/b and /a/c/d but older than /a/e.
        assert!(a.set_leaf("/a", "0".into(), 20));
        let paths: Vec<&str> = a.leaves().keys().map(String::as_str).collect();
        assert_eq!(paths, ["/a", "/a/e", "/ab", "/a~0"]);
        assert_eq!(a.to_json(), json!({"a": {"e": 5}, "ab": 3, "a~": 4}));
    }

    #[test]
    fn an_empty_root_object_keeps_every_attribute() {
        let mut a = apply(&[(json!({"web":{"lastPage":"/cart"}}), 1)]);
        assert!(!a.merge_json(&json!({}), 2));
        assert_eq!(a.to_json(), json!({"web":{"lastPage":"/cart"}}));
    }

    #[test]
    fn keys_with_slashes_and_tildes_round_trip() {
        let a = apply(&[(json!({"a/b":{"~c":true}}), 1)]);
        assert!(a.leaves().contains_key("/a~1b/~0c"));
        assert_eq!(a.to_json(), json!({"a/b":{"~c":true}}));
    }

    #[test]
    fn replaying_changes_nothing() {
        let mut a = apply(&[(json!({"x":{"y":1}}), 3)]);
        assert!(!a.merge_json(&json!({"x":{"y":1}}), 3));
        let b = a.clone();
        assert!(!a.merge(&b));
    }
}
