//! Renderings of a [`Comparison`]: the console table, GitHub-flavoured
//! Markdown for `$GITHUB_STEP_SUMMARY`, and JUnit `<property>` entries.

use super::{Comparison, MetricComparison, SuiteComparison};
use crate::stats::{self, Interval};

fn suite_cell(s: &SuiteComparison) -> String {
    match s.alpha {
        Some(a) => format!("{} (alpha {a})", s.suite),
        None => s.suite.clone(),
    }
}

/// A p-value for people: 4 decimals, or `<0.0001`.
pub fn fmt_p(p: f64) -> String {
    if p < 0.0001 {
        "<0.0001".to_string()
    } else {
        format!("{p:.4}")
    }
}

fn rate(k: usize, n: usize, i: Interval) -> String {
    if n == 0 {
        return "-".to_string();
    }
    format!(
        "{k}/{n} {:.0}% [{:.0}–{:.0}%]",
        100.0 * k as f64 / n as f64,
        100.0 * i.low,
        100.0 * i.high
    )
}

fn metric_cell(m: &MetricComparison) -> String {
    let p = m
        .p_value
        .map(|p| format!("p={}", fmt_p(p)))
        .unwrap_or_else(|| format!("no test: fewer than {} pairs", stats::PAIRED_T_MIN_PAIRS));
    format!("{} {:+.3} ({p}, n={})", m.name, m.mean_diff, m.n)
}

impl Comparison {
    /// The console table (plain text), followed by the newly failing and
    /// newly passing cases.
    pub fn console(&self, alpha: f64) -> String {
        let mut rows = vec![[
            "suite".to_string(),
            "baseline pass rate [95% CI]".to_string(),
            "candidate pass rate [95% CI]".to_string(),
            "newly failing".to_string(),
            "newly passing".to_string(),
            "McNemar p".to_string(),
            "metrics (mean diff, paired t)".to_string(),
        ]];
        for s in &self.suites {
            rows.push([
                suite_cell(s),
                rate(s.baseline_passed, s.pairs, s.baseline_interval),
                rate(s.candidate_passed, s.pairs, s.candidate_interval),
                s.newly_failing.len().to_string(),
                s.newly_passing.len().to_string(),
                format!("{:.4}", s.mcnemar_p),
                s.metrics.iter().map(metric_cell).collect::<Vec<_>>().join("; "),
            ]);
        }
        let widths: Vec<usize> = (0..7)
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = format!("\ncomparison with {} (alpha {alpha}):\n", self.baseline);
        for r in &rows {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
                .collect();
            out.push_str(&format!("  {}\n", line.join("  ").trim_end()));
        }
        for s in &self.suites {
            for n in &s.newly_failing {
                out.push_str(&format!("  newly failing: {n}\n"));
            }
            for n in &s.newly_passing {
                out.push_str(&format!("  newly passing: {n}\n"));
            }
        }
        let reg = self.regressions(alpha);
        if reg.is_empty() {
            out.push_str("  no significant regression\n");
        } else {
            for r in reg {
                out.push_str(&format!("  significant regression: {r}\n"));
            }
        }
        out
    }

    /// GitHub-flavoured Markdown for `$GITHUB_STEP_SUMMARY`.
    pub fn markdown(&self, alpha: f64) -> String {
        let cell = |s: &str| s.replace('|', "\\|").replace(['\n', '\r'], " ");
        let mut out = format!(
            "### Comparison with {}\n\n| suite | baseline pass rate [95% CI] | candidate pass rate [95% CI] | newly failing | newly passing | McNemar p | metrics (mean diff, paired t) |\n|---|---|---|---|---|---|---|\n",
            cell(&self.baseline)
        );
        for s in &self.suites {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {:.4} | {} |\n",
                cell(&suite_cell(s)),
                rate(s.baseline_passed, s.pairs, s.baseline_interval),
                rate(s.candidate_passed, s.pairs, s.candidate_interval),
                s.newly_failing.len(),
                s.newly_passing.len(),
                s.mcnemar_p,
                cell(&s.metrics.iter().map(metric_cell).collect::<Vec<_>>().join("; "))
            ));
        }
        let changed: Vec<String> = self
            .suites
            .iter()
            .flat_map(|s| {
                s.newly_failing
                    .iter()
                    .map(|n| format!("- newly failing: `{}`", cell(n)))
                    .chain(
                        s.newly_passing
                            .iter()
                            .map(|n| format!("- newly passing: `{}`", cell(n))),
                    )
            })
            .collect();
        if !changed.is_empty() {
            out.push('\n');
            out.push_str(&changed.join("\n"));
            out.push('\n');
        }
        let reg = self.regressions(alpha);
        out.push_str(&if reg.is_empty() {
            format!("\nNo significant regression at alpha {alpha}.\n")
        } else {
            format!(
                "\n**Significant regression** at alpha {alpha}: {}\n",
                cell(&reg.join("; "))
            )
        });
        out
    }

    /// JUnit `<property>` entries per suite: (suite, name, value).
    pub fn junit_properties(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for s in &self.suites {
            let mut p = |k: &str, v: String| out.push((s.suite.clone(), format!("comparison.{k}"), v));
            p("baseline", self.baseline.clone());
            p("pairs", s.pairs.to_string());
            p("baseline_pass_rate", format!("{}/{}", s.baseline_passed, s.pairs));
            p(
                "baseline_wilson95",
                format!("{:.4}-{:.4}", s.baseline_interval.low, s.baseline_interval.high),
            );
            p("candidate_pass_rate", format!("{}/{}", s.candidate_passed, s.pairs));
            p(
                "candidate_wilson95",
                format!("{:.4}-{:.4}", s.candidate_interval.low, s.candidate_interval.high),
            );
            p("newly_failing", s.newly_failing.join("; "));
            p("newly_passing", s.newly_passing.join("; "));
            p("mcnemar_p", format!("{:.6}", s.mcnemar_p));
            for m in &s.metrics {
                p(&format!("metric.{}.mean_diff", m.name), format!("{:.6}", m.mean_diff));
                p(
                    &format!("metric.{}.paired_t_p", m.name),
                    m.p_value.map(|v| format!("{v:.6}")).unwrap_or_else(|| "n/a".into()),
                );
            }
        }
        out
    }
}
