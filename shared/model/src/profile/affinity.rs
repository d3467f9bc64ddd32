//! Category affinity, the reference algorithm: the first category viewed scores 10, every later
//! view of a category adds 5, a category not seen before takes 1 point from each of the others,
//! only the top 5 are kept (a sixth evicts the lowest of the five), and scores halve when a
//! session ends.

use bincode::{Decode, Encode};

/// How many categories are kept.
pub const KEEP: usize = 5;
const FIRST: f64 = 10.0;
const LATER: f64 = 5.0;
const DECAY: f64 = 1.0;

/// One category's score.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub struct Score {
    /// The category.
    pub category: String,
    /// Its points.
    pub score: f64,
    /// When it was last viewed, ms; the size cap drops the stalest first.
    pub updated_at: i64,
}

/// The scores, highest first.
#[derive(Debug, Clone, Default, PartialEq, Encode, Decode)]
pub struct Affinity {
    scores: Vec<Score>,
}

impl Affinity {
    /// Records a view of `category` at `now`.
    pub fn view(&mut self, category: &str, now: i64) {
        if let Some(s) = self.scores.iter_mut().find(|s| s.category == category) {
            s.score += LATER;
            s.updated_at = now;
        } else {
            let points = if self.scores.is_empty() { FIRST } else { LATER };
            for s in &mut self.scores {
                s.score -= DECAY;
            }
            if self.scores.len() >= KEEP {
                self.sort();
                self.scores.truncate(KEEP - 1);
            }
            self.scores.push(Score {
                category: category.to_owned(),
                score: points,
                updated_at: now,
            });
        }
        self.sort();
    }

    /// Halves every score; call when a session ends.
    pub fn end_session(&mut self) {
        for s in &mut self.scores {
            s.score /= 2.0;
        }
    }

    /// Adds `other`'s scores to ours per category and keeps the top 5.
    pub fn merge(&mut self, other: &Affinity) {
        for o in &other.scores {
            match self.scores.iter_mut().find(|s| s.category == o.category) {
                Some(s) => {
                    s.score += o.score;
                    s.updated_at = s.updated_at.max(o.updated_at);
                }
                None => self.scores.push(o.clone()),
            }
        }
        self.sort();
        self.scores.truncate(KEEP);
    }

    /// Drops the category viewed longest ago; used by the size cap.
    pub fn drop_oldest(&mut self) -> bool {
        let Some(i) = (0..self.scores.len()).min_by(|&a, &b| {
            let (a, b) = (&self.scores[a], &self.scores[b]);
            (a.updated_at, &a.category).cmp(&(b.updated_at, &b.category))
        }) else {
            return false;
        };
        self.scores.remove(i);
        true
    }

    /// Highest score first (ties: most recent, then by name).
    pub fn scores(&self) -> &[Score] {
        &self.scores
    }

    /// The favourite category, if any.
    pub fn top(&self) -> Option<&str> {
        self.scores.first().map(|s| s.category.as_str())
    }

    fn sort(&mut self) {
        self.scores.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(b.updated_at.cmp(&a.updated_at))
                .then(a.category.cmp(&b.category))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(a: &Affinity) -> Vec<(&str, f64)> {
        a.scores()
            .iter()
            .map(|s| (s.category.as_str(), s.score))
            .collect()
    }

    #[test]
    fn reference_walkthrough() {
        let mut a = Affinity::default();
        a.view("shoes", 1);
        assert_eq!(scores(&a), [("shoes", 10.0)]);
        a.view("hats", 2);
        assert_eq!(scores(&a), [("shoes", 9.0), ("hats", 5.0)]);
        a.view("hats", 3);
        assert_eq!(scores(&a), [("hats", 10.0), ("shoes", 9.0)]);
        a.end_session();
        assert_eq!(scores(&a), [("hats", 5.0), ("shoes", 4.5)]);
    }

    #[test]
    fn a_sixth_category_evicts_the_lowest_of_five() {
        let mut a = Affinity::default();
        for (i, c) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            a.view(c, i as i64);
        }
        assert_eq!(a.scores().len(), 5);
        assert_eq!(a.top(), Some("a"));
        a.view("f", 10);
        let names: Vec<_> = scores(&a).into_iter().map(|(c, _)| c).collect();
        assert_eq!(names.len(), KEEP);
        assert!(names.contains(&"f"));
        // "b" had lost a point to each of c, d, e and f and was the lowest.
        assert!(!names.contains(&"b"));
    }

    #[test]
    fn merge_sums_per_category() {
        let mut a = Affinity::default();
        a.view("x", 1);
        let mut b = Affinity::default();
        b.view("x", 2);
        b.view("y", 3);
        a.merge(&b);
        assert_eq!(scores(&a), [("x", 19.0), ("y", 5.0)]);
        assert!(a.drop_oldest());
        assert_eq!(a.scores().len(), 1);
    }
}
