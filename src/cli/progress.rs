//! A progress line on stderr for CLI runs that take a while, as cosign and kubectl show
//! one: only when stderr is a terminal (never in a CI log or a pipe), rewritten in
//! place with a carriage return and cleared when the run ends, so stdout (the result)
//! is never mixed with it.

use std::future::Future;
use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How often the line is redrawn while waiting.
const TICK: Duration = Duration::from_millis(250);

/// A progress line for one command (`custody verify`, `custody report`).
pub(crate) struct Progress {
    label: &'static str,
    shown: bool,
    start: Instant,
    /// The length of the longest line drawn, to clear it.
    width: AtomicUsize,
}

impl Progress {
    /// A progress line headed `label`, shown only if stderr is a terminal.
    pub(crate) fn new(label: &'static str) -> Progress {
        Progress {
            label,
            shown: std::io::stderr().is_terminal(),
            start: Instant::now(),
            width: AtomicUsize::new(0),
        }
    }

    /// Shows `done/total what` (the last call, with `done == total`, ends the line).
    pub(crate) fn count(&self, done: usize, total: usize, what: &str) {
        if self.shown {
            self.draw(&format!("{done}/{total} {what}"));
            if done == total {
                eprintln!();
            }
        }
    }

    /// Awaits `work`, redrawing `doing` with the elapsed time until it ends, then
    /// clears the line.
    pub(crate) async fn during<F: Future>(&self, doing: &str, work: F) -> F::Output {
        if !self.shown {
            return work.await;
        }
        let mut work = std::pin::pin!(work);
        let mut tick = tokio::time::interval(TICK);
        let out = loop {
            tokio::select! {
                out = &mut work => break out,
                _ = tick.tick() => self.draw(doing),
            }
        };
        self.clear();
        out
    }

    fn draw(&self, what: &str) {
        let secs = self.start.elapsed().as_secs_f64();
        let line = format!("{}: {what} ({secs:.1}s)", self.label);
        self.width
            .fetch_max(line.chars().count(), Ordering::Relaxed);
        let mut err = std::io::stderr().lock();
        // Errors writing a progress line are not worth failing the command for.
        let _ = write!(err, "\r{line}");
        let _ = err.flush();
    }

    fn clear(&self) {
        let width = self.width.load(Ordering::Relaxed);
        eprint!("\r{:width$}\r", "");
    }
}
