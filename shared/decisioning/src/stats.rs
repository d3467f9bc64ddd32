//! Report math: rates per experience and, against the control, the difference and relative
//! lift with 95% confidence intervals and a two-proportion z-test.
//!
//! For a metric with `x` successes in `n` trials (clicks or conversions per exposure):
//! - rate `p = x / n`;
//! - difference `d = p_t − p_c`, CI `d ± 1.96·√(p_t(1−p_t)/n_t + p_c(1−p_c)/n_c)` (Wald,
//!   unpooled);
//! - lift `d / p_c`, CI the difference CI divided by `p_c` (treats the control rate as known;
//!   adequate at report sizes, and what most testing tools show);
//! - z-test with the pooled rate `p = (x_t + x_c)/(n_t + n_c)`:
//!   `z = d / √(p(1−p)(1/n_t + 1/n_c))`, two-sided `p-value = erfc(|z|/√2)`.

use serde::Serialize;

use crate::model::{Activity, HOLDOUT_EXPERIENCE_ID};
use crate::report_keys::{self, Metric};

/// The 97.5th percentile of the standard normal distribution.
pub const Z_95: f64 = 1.959_963_984_540_054;
/// Significance level of [`Comparison::significant`].
pub const ALPHA: f64 = 0.05;

/// Counters of one experience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExperienceCounts {
    /// The experience (or `holdout`).
    pub experience_id: String,
    /// Displays.
    pub exposures: u64,
    /// Clicks.
    pub clicks: u64,
    /// Conversions.
    pub conversions: u64,
}

/// One metric of one experience.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricReport {
    /// Successes per exposure; absent without exposures.
    pub rate: Option<f64>,
    /// Against the control; absent for the control itself or when not computable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vs_control: Option<Comparison>,
}

/// A treatment against the control on one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// `p_t − p_c`.
    pub difference: f64,
    /// 95% CI of the difference.
    pub difference_ci: [f64; 2],
    /// `(p_t − p_c) / p_c`; absent when the control rate is 0.
    pub lift: Option<f64>,
    /// 95% CI of the lift.
    pub lift_ci: Option<[f64; 2]>,
    /// The z statistic.
    pub z: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// `p_value < 0.05`.
    pub significant: bool,
}

/// One row of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExperienceReport {
    /// The counters.
    #[serde(flatten)]
    pub counts: ExperienceCounts,
    /// Whether this is the control.
    pub control: bool,
    /// Clicks per exposure.
    pub click_rate: MetricReport,
    /// Conversions per exposure.
    pub conversion_rate: MetricReport,
}

/// A report: one row per experience.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The control's experience id.
    pub control: Option<String>,
    /// The rows, in the order given.
    pub experiences: Vec<ExperienceReport>,
}

/// `erfc(x)`, fractional error below 1.2e-7 (Numerical Recipes' Chebyshev fit), enough for
/// p-values.
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Compares `x_t / n_t` with `x_c / n_c`; `None` without trials on either side or when a
/// count exceeds its trials (not a proportion).
pub fn compare(x_t: u64, n_t: u64, x_c: u64, n_c: u64) -> Option<Comparison> {
    if n_t == 0 || n_c == 0 || x_t > n_t || x_c > n_c {
        return None;
    }
    let (xt, nt, xc, nc) = (x_t as f64, n_t as f64, x_c as f64, n_c as f64);
    let (pt, pc) = (xt / nt, xc / nc);
    let d = pt - pc;
    let half = Z_95 * (pt * (1.0 - pt) / nt + pc * (1.0 - pc) / nc).sqrt();
    let ci = [d - half, d + half];
    let pooled = (xt + xc) / (nt + nc);
    let se = (pooled * (1.0 - pooled) * (1.0 / nt + 1.0 / nc)).sqrt();
    let (z, p_value) = if se > 0.0 {
        let z = d / se;
        (z, erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0))
    } else {
        (0.0, 1.0)
    };
    Some(Comparison {
        difference: d,
        difference_ci: ci,
        lift: (pc > 0.0).then(|| d / pc),
        lift_ci: (pc > 0.0).then(|| [ci[0] / pc, ci[1] / pc]),
        z,
        p_value,
        significant: p_value < ALPHA,
    })
}

/// Rates and comparisons against the row at `control` (no comparisons if out of range).
pub fn report(rows: &[ExperienceCounts], control: usize) -> Report {
    let base = rows.get(control);
    let metric = |i: usize, x: u64, n: u64, xc: u64, nc: u64| MetricReport {
        rate: (n > 0).then(|| x as f64 / n as f64),
        vs_control: if i == control {
            None
        } else {
            compare(x, n, xc, nc)
        },
    };
    let experiences = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (cc, cv, ce) = base.map_or((0, 0, 0), |b| (b.clicks, b.conversions, b.exposures));
            ExperienceReport {
                counts: r.clone(),
                control: i == control && base.is_some(),
                click_rate: metric(i, r.clicks, r.exposures, cc, ce),
                conversion_rate: metric(i, r.conversions, r.exposures, cv, ce),
            }
        })
        .collect();
    Report {
        control: base.map(|b| b.experience_id.clone()),
        experiences,
    }
}

/// The report of an activity, reading its counters through `read` (key → value, 0 when
/// absent): one row per experience, then `holdout` when the activity has one; the control is
/// the experience flagged `control`, else the first.
pub fn activity_report(activity: &Activity, read: impl Fn(&str) -> u64) -> Report {
    let row = |id: &str| {
        let get = |m| read(&report_keys::counter(&activity.id, id, m));
        ExperienceCounts {
            experience_id: id.to_owned(),
            exposures: get(Metric::Exposures),
            clicks: get(Metric::Clicks),
            conversions: get(Metric::Conversions),
        }
    };
    let mut rows: Vec<ExperienceCounts> = activity.experiences.iter().map(|e| row(&e.id)).collect();
    if activity.holdout > 0.0 {
        rows.push(row(HOLDOUT_EXPERIENCE_ID));
    }
    report(&rows, activity.control_index())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) {
        assert!((a - b).abs() <= tolerance, "{a} vs {b}");
    }

    #[test]
    fn erfc_values() {
        close(erfc(0.0), 1.0, 1e-7);
        close(erfc(1.0), 0.157_299_207, 1e-7);
        close(erfc(-1.0), 1.842_700_793, 1e-7);
        close(erfc(1.959_963_985 / std::f64::consts::SQRT_2), 0.05, 1e-7);
    }

    /// Control 100/1000, treatment 130/1000, by hand:
    /// d = 0.03; SE = √(0.13·0.87/1000 + 0.1·0.9/1000) = √0.0002031 = 0.0142513;
    /// CI = 0.03 ± 1.96·0.0142513 = [0.002068, 0.057932]; lift 0.3, CI [0.02068, 0.57932];
    /// pooled 0.115, SE₀ = √(0.115·0.885·0.002) = 0.0142671, z = 2.10274, p = 0.035488.
    #[test]
    fn two_proportions_by_hand() {
        let c = compare(130, 1000, 100, 1000).unwrap();
        close(c.difference, 0.03, 1e-12);
        close(c.difference_ci[0], 0.002_068, 1e-6);
        close(c.difference_ci[1], 0.057_932, 1e-6);
        close(c.lift.unwrap(), 0.3, 1e-12);
        close(c.lift_ci.unwrap()[0], 0.020_679, 1e-6);
        close(c.lift_ci.unwrap()[1], 0.579_321, 1e-6);
        close(c.z, 2.102_74, 1e-5);
        close(c.p_value, 0.035_488, 1e-6);
        assert!(c.significant);

        // A loser that is not significant: 48/500 against 60/520.
        let c = compare(48, 500, 60, 520).unwrap();
        close(c.difference, -0.019_385, 1e-6);
        close(c.lift.unwrap(), -0.168, 1e-9);
        close(c.z, -1.005_853, 1e-5);
        close(c.p_value, 0.314_486, 1e-6);
        assert!(!c.significant);
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(compare(1, 0, 1, 10), None);
        assert_eq!(compare(11, 10, 1, 10), None);
        let zero = compare(0, 10, 0, 10).unwrap();
        assert_eq!((zero.z, zero.p_value, zero.lift), (0.0, 1.0, None));
    }

    #[test]
    fn report_rows_and_control() {
        let act: Activity = serde_json::from_value(serde_json::json!({
            "id": "t", "activityType": "ab", "scopes": ["s"], "holdout": 10,
            "experiences": [
                {"id": "a", "allocation": 50, "offers": []},
                {"id": "b", "allocation": 50, "control": true, "offers": []}]
        }))
        .unwrap();
        let counts = std::collections::HashMap::from([
            ("report/t/a/exposures".to_owned(), 1000),
            ("report/t/a/conversions".to_owned(), 130),
            ("report/t/a/clicks".to_owned(), 20),
            ("report/t/b/exposures".to_owned(), 1000),
            ("report/t/b/conversions".to_owned(), 100),
            ("report/t/holdout/exposures".to_owned(), 200),
        ]);
        let r = activity_report(&act, |k| counts.get(k).copied().unwrap_or(0));
        assert_eq!(r.control.as_deref(), Some("b"));
        let ids: Vec<_> = r
            .experiences
            .iter()
            .map(|e| e.counts.experience_id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b", "holdout"]);
        let a = &r.experiences[0];
        close(a.conversion_rate.rate.unwrap(), 0.13, 1e-12);
        close(
            a.conversion_rate.vs_control.as_ref().unwrap().p_value,
            0.035_488,
            1e-6,
        );
        close(a.click_rate.rate.unwrap(), 0.02, 1e-12);
        // The control's clicks are 0: a difference but no relative lift.
        let clicks = a.click_rate.vs_control.as_ref().unwrap();
        assert_eq!(clicks.lift, None);
        assert!(r.experiences[1].control && r.experiences[1].conversion_rate.vs_control.is_none());
        assert_eq!(r.experiences[2].conversion_rate.rate, Some(0.0));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["experiences"][0]["experienceId"], "a");
        assert_eq!(json["experiences"][0]["exposures"], 1000);
    }
}
