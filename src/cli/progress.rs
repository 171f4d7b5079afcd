//! Progress on stderr: a bar on a terminal; elsewhere (CI logs, `2> file`) a line every few
//! seconds, as cargo and docker do, so a long run is never silent.

use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How progress is shown (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// A bar when stderr is a terminal, plain lines otherwise.
    Auto,
    /// A bar that redraws itself.
    Bar,
    /// A line every few seconds (5 s; MATRIX_SNAPSHOT_PROGRESS_SECS changes it).
    Plain,
}

/// Seconds between plain lines.
fn interval() -> Duration {
    std::env::var("MATRIX_SNAPSHOT_PROGRESS_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0 && s.is_finite())
        .map_or(Duration::from_secs(5), Duration::from_secs_f64)
}

/// A running progress report of `total` units.
pub struct Progress {
    done: Arc<AtomicU64>,
    bar: Option<ProgressBar>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Starts reporting `verb` (e.g. "exporting") of `total` `unit`s; nothing when `quiet`.
    pub fn start(mode: Mode, quiet: bool, verb: &str, unit: &str, total: u64) -> Progress {
        let mut progress = Progress {
            done: Arc::new(AtomicU64::new(0)),
            bar: None,
            stop: Arc::new((Mutex::new(false), Condvar::new())),
            ticker: None,
        };
        if quiet {
            return progress;
        }
        let bar = match mode {
            Mode::Bar => true,
            Mode::Plain => false,
            Mode::Auto => std::io::stderr().is_terminal(),
        };
        if bar {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template(&format!(
                    "{{spinner}} {verb} [{{bar:40}}] {{pos}}/{{len}} {unit} {{rate}} eta {{eta}}"
                ))
                .expect("valid template")
                // indicatif's {per_sec} prints 318.3361/s: whole units are enough.
                .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{}", rate(s.per_sec()));
                })
                .progress_chars("=> "),
            );
            progress.bar = Some(b);
            return progress;
        }
        errln!("matrix-snapshot: {verb} {total} {unit}");
        let (done, stop) = (progress.done.clone(), progress.stop.clone());
        let (verb, unit) = (verb.to_string(), unit.to_string());
        progress.ticker = Some(std::thread::spawn(move || {
            let started = Instant::now();
            let every = interval();
            let (lock, wake) = &*stop;
            let mut stopped = lock.lock().expect("progress lock");
            loop {
                let (guard, timeout) = wake.wait_timeout(stopped, every).expect("progress lock");
                stopped = guard;
                if *stopped {
                    return;
                }
                if timeout.timed_out() {
                    let n = done.load(Ordering::Relaxed);
                    errln!("{}", plain_line(&verb, &unit, n, total, started.elapsed()));
                }
            }
        }));
        progress
    }

    /// `n` units are done.
    pub fn set(&self, n: u64) {
        self.done.store(n, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.set_position(n);
        }
    }

    /// Stops reporting (the bar is cleared; the summary follows).
    pub fn finish(mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        *self.stop.0.lock().expect("progress lock") = true;
        self.stop.1.notify_all();
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

/// A rate for people: whole units per second (one decimal below 10).
fn rate(per_sec: f64) -> String {
    if per_sec < 10.0 {
        format!("{per_sec:.1}/s")
    } else {
        format!("{per_sec:.0}/s")
    }
}

/// One plain progress line.
fn plain_line(verb: &str, unit: &str, n: u64, total: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let per_sec = n as f64 / secs.max(1e-9);
    let pct = if total == 0 {
        100.0
    } else {
        n as f64 * 100.0 / total as f64
    };
    let eta = if n == 0 || n >= total {
        String::new()
    } else {
        format!(", about {:.0}s left", (total - n) as f64 / per_sec)
    };
    format!(
        "matrix-snapshot: {verb}: {n}/{total} {unit} ({pct:.0} %), {}, {secs:.0}s{eta}",
        rate(per_sec)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_lines_are_rounded_for_people() {
        assert_eq!(rate(318.3361), "318/s");
        assert_eq!(rate(2.345), "2.3/s");
        assert_eq!(
            plain_line("exporting", "assets", 250, 1000, Duration::from_secs(5)),
            "matrix-snapshot: exporting: 250/1000 assets (25 %), 50/s, 5s, about 15s left"
        );
        assert_eq!(
            plain_line("exporting", "assets", 1000, 1000, Duration::from_secs(10)),
            "matrix-snapshot: exporting: 1000/1000 assets (100 %), 100/s, 10s"
        );
    }
}
