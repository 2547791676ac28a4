//! Progress bars on a terminal (bytes, rate, ETA); silence otherwise.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use odt_format::progress::Progress;

/// Progress bars on stderr when it is a terminal and `quiet` is false.
pub struct Bars {
    enabled: bool,
    /// Where every stream's bar is drawn, one line each (see [`Bars::stream`]).
    multi: Arc<MultiProgress>,
    bar: Mutex<Option<ProgressBar>>,
}

impl Bars {
    /// Bars that draw only on a terminal, and never when `quiet` (e.g. `--json`).
    pub fn new(quiet: bool) -> Self {
        Bars {
            enabled: !quiet && std::io::stderr().is_terminal(),
            multi: Arc::new(MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            bar: Mutex::new(None),
        }
    }

    /// Bars for one of several transfers running at once: its own bar, drawn on its own line
    /// below the others.
    pub fn stream(&self) -> Bars {
        Bars {
            enabled: self.enabled,
            multi: self.multi.clone(),
            bar: Mutex::new(None),
        }
    }
}

impl Progress for Bars {
    fn start(&self, label: &str, total: u64) {
        if !self.enabled {
            return;
        }
        let pb = self.multi.add(ProgressBar::new(total));
        pb.set_style(
            ProgressStyle::with_template(
                "{msg:30!} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        // Labels name VMs and files: untrusted text (docs/SECURITY.md §S4).
        pb.set_message(odt_format::text::printable(label).into_owned());
        *self.bar.lock().expect("not poisoned") = Some(pb);
    }
    fn set(&self, done: u64) {
        if let Some(pb) = &*self.bar.lock().expect("not poisoned") {
            pb.set_position(done);
        }
    }
    fn finish(&self) {
        if let Some(pb) = self.bar.lock().expect("not poisoned").take() {
            pb.finish_and_clear();
        }
    }
    fn lane(&self) -> Box<dyn Progress + Send + '_> {
        Box::new(self.stream())
    }
    fn note(&self, msg: &str) {
        if self.enabled {
            // Above the bars, which are redrawn below it.
            let line = odt_format::text::printable_lines(msg).into_owned();
            if self.multi.println(&line).is_err() {
                eprintln!("{line}");
            }
        }
    }
}
