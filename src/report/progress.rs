//! The progress bar on stderr while runs are read: only on a terminal, and only when reading is
//! slow (it appears after a second; 20 runs of a million points take several). indicatif
//! draws it; it is cleared before anything else is printed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long reading may take before the bar appears.
const DELAY: Duration = Duration::from_secs(1);

/// A bar counting runs read, hidden until [`DELAY`] has passed.
pub struct Progress {
    bar: ProgressBar,
    done: Arc<AtomicBool>,
}

impl Progress {
    /// A bar over `total` runs; never drawn when `enabled` is false.
    pub fn start(total: usize, enabled: bool) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{spinner} reading runs {bar:30} {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let done = Arc::new(AtomicBool::new(false));
        if enabled {
            let (bar, done) = (bar.clone(), Arc::clone(&done));
            std::thread::spawn(move || {
                std::thread::sleep(DELAY);
                if !done.load(Ordering::Acquire) {
                    bar.set_draw_target(ProgressDrawTarget::stderr());
                    bar.enable_steady_tick(Duration::from_millis(120));
                }
            });
        }
        Progress { bar, done }
    }

    /// One more run read.
    pub fn inc(&self) {
        self.bar.inc(1);
    }

    /// Clears the bar (if it was shown) before the report is printed.
    pub fn finish(self) {
        self.done.store(true, Ordering::Release);
        self.bar.finish_and_clear();
    }
}
