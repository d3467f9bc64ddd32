//! Recent events: a ring over a time window, ordered by time, at most `max_events` long, oldest
//! dropped first. Event ids make replays and merges no-ops.

use bincode::{Decode, Encode};

/// One event as the profile keeps it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Encode, Decode)]
pub struct Event {
    /// When it happened, ms (first so the derived order is by time).
    pub ts: i64,
    /// Its id (`_id` in XDM); unique per event.
    pub id: String,
    /// Its type (`eventType`).
    pub kind: String,
    /// The XDM as JSON text.
    pub xdm: String,
}

/// The ring.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode)]
pub struct Events {
    events: Vec<Event>,
}

impl Events {
    /// Adds an event (unless its id is already there) and applies the bounds. When two events
    /// share an id, the smaller one by (time, id, type, XDM) is kept, whichever came first.
    /// Returns whether the ring changed.
    pub fn push(&mut self, event: Event, max_events: usize, window_ms: i64, now: i64) -> bool {
        // An event the bounds would drop at once is not inserted, so replaying it is a no-op.
        let too_old = event.ts < now.saturating_sub(window_ms)
            || (self.events.len() >= max_events && self.events.first().is_some_and(|f| event < *f));
        if too_old {
            return self.trim(max_events, window_ms, now);
        }
        let mut changed = match self.events.iter().position(|e| e.id == event.id) {
            Some(i) if self.events[i] <= event => false,
            Some(i) => {
                self.events.remove(i);
                self.insert_sorted(event);
                true
            }
            None => {
                self.insert_sorted(event);
                true
            }
        };
        changed |= self.trim(max_events, window_ms, now);
        changed
    }

    fn insert_sorted(&mut self, event: Event) {
        let at = self.events.partition_point(|e| *e < event);
        self.events.insert(at, event);
    }

    /// Drops events older than the window, then the oldest beyond `max_events`.
    pub fn trim(&mut self, max_events: usize, window_ms: i64, now: i64) -> bool {
        let before = self.events.len();
        let horizon = now.saturating_sub(window_ms);
        self.events.retain(|e| e.ts >= horizon);
        if self.events.len() > max_events {
            let excess = self.events.len() - max_events;
            self.events.drain(..excess);
        }
        self.events.len() != before
    }

    /// Drops the oldest event; used by the size cap.
    pub fn drop_oldest(&mut self) -> bool {
        if self.events.is_empty() {
            return false;
        }
        self.events.remove(0);
        true
    }

    /// Union by id, then the bounds.
    pub fn merge(&mut self, other: &Events, max_events: usize, window_ms: i64, now: i64) -> bool {
        let mut changed = false;
        for e in &other.events {
            changed |= self.push(e.clone(), usize::MAX, i64::MAX, now);
        }
        changed | self.trim(max_events, window_ms, now)
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Event> {
        self.events.iter()
    }

    /// How many events are kept.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str, ts: i64) -> Event {
        Event {
            ts,
            id: id.into(),
            kind: "web.webpagedetails.pageViews".into(),
            xdm: "{}".into(),
        }
    }

    #[test]
    fn keeps_order_bounds_and_dedupes() {
        let mut r = Events::default();
        for (id, ts) in [("c", 30), ("a", 10), ("b", 20), ("a", 10), ("d", 40)] {
            r.push(ev(id, ts), 3, 1000, 50);
        }
        let ids: Vec<_> = r.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["b", "c", "d"]);
        // Replaying an event the ring already dropped changes nothing.
        assert!(!r.push(ev("a", 10), 3, 1000, 50));
        // Time passing drops what left the window.
        assert!(r.push(ev("old", 1), 3, 1000, 1030));
        let ids: Vec<_> = r.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["c", "d"]);
    }

    #[test]
    fn merge_is_a_union_by_id() {
        let mut a = Events::default();
        let mut b = Events::default();
        a.push(ev("x", 1), 10, 100, 5);
        a.push(ev("y", 2), 10, 100, 5);
        b.push(ev("y", 2), 10, 100, 5);
        b.push(ev("z", 3), 10, 100, 5);
        let mut ab = a.clone();
        ab.merge(&b, 10, 100, 5);
        let mut ba = b.clone();
        ba.merge(&a, 10, 100, 5);
        assert_eq!(ab, ba);
        assert_eq!(ab.len(), 3);
        assert!(!ab.merge(&a, 10, 100, 5));
    }
}
