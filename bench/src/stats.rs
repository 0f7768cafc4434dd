//! Timing samples, the table and the machine-readable RATIO lines.

use std::time::Duration;

/// Samples of one measured path.
pub struct Samples {
    pub name: String,
    pub times: Vec<Duration>,
}

impl Samples {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            times: Vec::new(),
        }
    }

    pub fn median(&self) -> Duration {
        let mut t = self.times.clone();
        t.sort();
        t.get(t.len() / 2).copied().unwrap_or_default()
    }

    pub fn mean(&self) -> Duration {
        let n = u32::try_from(self.times.len()).unwrap_or(u32::MAX);
        if n == 0 {
            return Duration::ZERO;
        }
        self.times.iter().sum::<Duration>() / n
    }

    pub fn min(&self) -> Duration {
        self.times.iter().min().copied().unwrap_or_default()
    }

    pub fn max(&self) -> Duration {
        self.times.iter().max().copied().unwrap_or_default()
    }
}

/// A baseline and the project's path over it.
pub struct Comparison {
    pub ratio_name: &'static str,
    pub baseline: Samples,
    pub project: Samples,
}

impl Comparison {
    pub fn ratio(&self) -> f64 {
        let base = self.baseline.median().as_secs_f64();
        if base == 0.0 {
            return f64::NAN;
        }
        self.project.median().as_secs_f64() / base
    }
}

pub fn print_table(title: &str, rows: &[Comparison]) {
    println!();
    println!("{title}");
    println!(
        "{:<44} {:>5} {:>12} {:>12} {:>12}",
        "path", "runs", "median", "min", "max"
    );
    for c in rows {
        for s in [&c.baseline, &c.project] {
            println!(
                "{:<44} {:>5} {:>12} {:>12} {:>12}",
                s.name,
                s.times.len(),
                fmt(s.median()),
                fmt(s.min()),
                fmt(s.max())
            );
        }
        println!("{:<44} ratio project/raw = {:.3}", "", c.ratio());
    }
    println!();
    for c in rows {
        println!("RATIO {} {:.4}", c.ratio_name, c.ratio());
    }
}

/// Rows of samples with their mean, median and maximum (the offline benches, whose ratios are
/// of means: a manager waits the mean, poll waits included).
pub fn print_mean_table(title: &str, rows: &[&Samples]) {
    println!();
    println!("{title}");
    println!(
        "{:<44} {:>5} {:>12} {:>12} {:>12}",
        "path", "runs", "mean", "p50", "max"
    );
    for s in rows {
        println!(
            "{:<44} {:>5} {:>12} {:>12} {:>12}",
            s.name,
            s.times.len(),
            fmt(s.mean()),
            fmt(s.median()),
            fmt(s.max())
        );
    }
}

fn fmt(d: Duration) -> String {
    if d.as_secs_f64() >= 1.0 {
        format!("{:.3} s", d.as_secs_f64())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}
