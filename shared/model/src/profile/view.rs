//! The profile as JSON, for admin reads and for engines that evaluate against JSON paths.
//! Timestamps are RFC 3339; memberships use the reference platform's `segmentMembership`
//! shape; events carry their XDM back as JSON.

use serde_json::{Map, Value, json};

use super::Profile;
use crate::time::format_rfc3339;

impl Profile {
    /// The whole profile as one JSON object.
    pub fn to_json(&self) -> Value {
        let identities: Vec<Value> = self
            .identities
            .iter()
            .map(|l| {
                json!({"namespace": l.identity.namespace(), "id": l.identity.id(),
                       "linkedAt": format_rfc3339(l.linked_at)})
            })
            .collect();
        let mut identity_map = Map::new();
        for l in &self.identities {
            if let Value::Array(items) = identity_map
                .entry(l.identity.namespace().to_owned())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                items.push(json!({"id": l.identity.id()}));
            }
        }
        let memberships: Map<String, Value> = self
            .memberships
            .iter()
            .map(|(segment, m)| {
                let v = json!({"status": m.status.as_str(),
                               "lastQualificationTime": format_rfc3339(m.since),
                               "source": m.source.as_str()});
                (segment.clone(), v)
            })
            .collect();
        let events: Vec<Value> = self
            .events
            .iter()
            .map(|e| {
                json!({"id": e.id, "type": e.kind, "timestamp": format_rfc3339(e.ts),
                       "xdm": serde_json::from_str::<Value>(&e.xdm).unwrap_or(Value::Null)})
            })
            .collect();
        let affinity: Vec<Value> = self
            .affinity
            .scores()
            .iter()
            .map(|s| json!({"category": s.category, "score": s.score}))
            .collect();
        let caps: Map<String, Value> = self
            .caps
            .iter()
            .map(|(k, c)| {
                let recent: Vec<String> = c.recent.iter().map(|t| format_rfc3339(*t)).collect();
                (k.clone(), json!({"total": c.total, "recent": recent}))
            })
            .collect();
        let sticky: Map<String, Value> = self
            .sticky
            .iter()
            .map(|(k, a)| {
                let v = json!({"experience": a.experience, "bucketVersion": a.bucket_version,
                               "assignedAt": format_rfc3339(a.assigned_at)});
                (k.clone(), v)
            })
            .collect();
        let consent: Map<String, Value> = self
            .consent
            .iter()
            .map(|(p, e)| {
                let v = json!({"val": e.choice.as_str(), "time": format_rfc3339(e.ts)});
                (p.clone(), v)
            })
            .collect();
        json!({
            "profileId": self.id.as_str(),
            "identities": identities,
            "identityMap": identity_map,
            "attributes": self.attributes.to_json(),
            "segmentMembership": memberships,
            "events": events,
            "counters": self.counters,
            "affinity": affinity,
            "caps": caps,
            "sticky": sticky,
            "consent": consent,
            "createdAt": format_rfc3339(self.created_at),
            "updatedAt": format_rfc3339(self.updated_at),
            "expiresAt": format_rfc3339(self.expires_at),
        })
    }
}
