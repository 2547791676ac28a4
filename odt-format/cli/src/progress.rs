//! Progress of long work on stderr: on a terminal, an overall bar (VM n/N, bytes of the total,
//! rate, ETA) above one bar per file under way; elsewhere (a log, a pipe, a service's
//! journal) no bars but one plain line every 30 s and one when each VM finishes; with
//! `quiet` (`--json`) nothing. Never on stdout, which `--json` keeps for its one document.
//!
//! The overall figures are summed over every lane (`--parallel N` runs N files at once, each
//! on its own [`Bars::stream`]) from the bytes each lane's pieces moved, on top of what an
//! earlier run did ([`Progress::plan`], [`Progress::resumed`]): a resumed job starts at the
//! bytes and VMs already done, and its rate (hence its ETA) counts only this run's bytes.

use std::io::IsTerminal;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use odt_format::progress::{human_bytes, Progress, VmWork};

use crate::UsageError;

/// The environment variable that sets the period of the plain progress lines, in whole
/// seconds (30 when unset): tests make it short.
pub const INTERVAL_ENV: &str = "ODT_PROGRESS_INTERVAL_SECS";

/// [`INTERVAL_ENV`] in both programs' `--help` and man pages.
pub const INTERVAL_ENV_VAR: crate::manual::EnvVar = crate::manual::EnvVar {
    name: INTERVAL_ENV,
    help: "seconds between progress lines when stderr is not a terminal (default 30)",
};

/// The default period of the plain progress lines.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// The period [`INTERVAL_ENV`] sets; a value that is not a whole number of seconds (at least
/// 1) is a usage error, which `program::main` reports before any work.
pub fn interval() -> Result<Duration, UsageError> {
    let Some(v) = std::env::var_os(INTERVAL_ENV) else {
        return Ok(DEFAULT_INTERVAL);
    };
    match v.to_str().and_then(|s| s.trim().parse::<u64>().ok()) {
        Some(n) if n >= 1 => Ok(Duration::from_secs(n)),
        _ => Err(UsageError(format!(
            "{INTERVAL_ENV}={}: not a whole number of seconds (at least 1); unset it for the \
             default of 30",
            v.to_string_lossy()
        ))),
    }
}

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Bars on a terminal.
    Bars,
    /// Plain lines every `period`, and one per finished VM.
    Lines(Duration),
    /// Nothing (`--json`).
    Off,
}

/// Progress on stderr: bars on a terminal, plain lines elsewhere, nothing when `quiet`.
pub struct Bars {
    mode: Mode,
    /// Where every bar is drawn, the overall one first (see [`Bars::stream`]).
    multi: Arc<MultiProgress>,
    /// The figures of the whole work, shared by every lane.
    overall: Arc<Overall>,
    /// This lane's piece.
    piece: Mutex<Piece>,
}

/// The piece a lane works on: its bar, what it counted into the overall figures.
#[derive(Default)]
struct Piece {
    bar: Option<ProgressBar>,
    /// Bytes of the piece this run moved, as counted into the overall figures.
    counted: u64,
    /// Leading bytes an earlier run did ([`Progress::resumed`]).
    resumed: u64,
}

impl Bars {
    /// Bars on a terminal, lines elsewhere, and nothing when `quiet` (e.g. `--json`).
    pub fn new(quiet: bool) -> Self {
        let mode = match (quiet, std::io::stderr().is_terminal()) {
            (true, _) => Mode::Off,
            (false, true) => Mode::Bars,
            // program::main checked the variable before any work.
            (false, false) => Mode::Lines(interval().unwrap_or(DEFAULT_INTERVAL)),
        };
        Self::with_mode(mode)
    }

    fn with_mode(mode: Mode) -> Self {
        let multi = Arc::new(MultiProgress::with_draw_target(match mode {
            Mode::Bars => ProgressDrawTarget::stderr(),
            _ => ProgressDrawTarget::hidden(),
        }));
        Bars {
            mode,
            overall: Arc::new(Overall::new(mode, multi.clone())),
            multi,
            piece: Mutex::new(Piece::default()),
        }
    }

    /// Bars for one of several transfers running at once: its own bar, drawn on its own line
    /// below the others, counted into the same overall figures.
    pub fn stream(&self) -> Bars {
        Bars {
            mode: self.mode,
            multi: self.multi.clone(),
            overall: self.overall.clone(),
            piece: Mutex::new(Piece::default()),
        }
    }

    fn piece(&self) -> MutexGuard<'_, Piece> {
        self.piece.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Progress for Bars {
    fn start(&self, label: &str, total: u64) {
        let mut piece = self.piece();
        *piece = Piece::default();
        if self.mode != Mode::Bars {
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
        piece.bar = Some(pb);
    }
    fn set(&self, done: u64) {
        let mut piece = self.piece();
        if let Some(pb) = &piece.bar {
            pb.set_position(done);
        }
        let counted = done.saturating_sub(piece.resumed);
        let before = std::mem::replace(&mut piece.counted, counted);
        drop(piece);
        self.overall.moved(counted as i128 - before as i128, 0);
    }
    fn finish(&self) {
        if let Some(pb) = self.piece().bar.take() {
            pb.finish_and_clear();
        }
    }
    fn lane(&self) -> Box<dyn Progress + Send + '_> {
        Box::new(self.stream())
    }
    fn note(&self, msg: &str) {
        if self.mode == Mode::Bars {
            // Above the bars, which are redrawn below it.
            let line = odt_format::text::printable_lines(msg).into_owned();
            if self.multi.println(&line).is_err() {
                eprintln!("{line}");
            }
        }
    }
    fn plan(&self, vms: &[VmWork]) {
        self.overall.plan(vms);
    }
    fn resumed(&self, done: u64) {
        self.piece().resumed = done;
    }
    fn discard(&self) {
        let mut piece = self.piece();
        let (counted, resumed) = (piece.counted, piece.resumed);
        (piece.counted, piece.resumed) = (0, 0);
        drop(piece);
        self.overall.moved(-(counted as i128), -(resumed as i128));
    }
    fn vm_done(&self, vm: usize, bytes: Option<u64>) {
        self.overall.vm_done(vm, bytes);
    }
}

/// The figures of the whole work, and how they are shown: the overall bar on a terminal, the
/// line ticker elsewhere.
struct Overall {
    mode: Mode,
    shared: Arc<Shared>,
    multi: Arc<MultiProgress>,
    bar: Mutex<Option<ProgressBar>>,
    ticker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// What the ticker thread shares with the lanes.
struct Shared {
    tally: Mutex<Tally>,
    /// Set (and signalled) when the work is over: the ticker stops.
    over: (Mutex<bool>, Condvar),
}

/// The figures.
#[derive(Default)]
struct Tally {
    /// Each VM's planned bytes, and whether it is counted as finished.
    vms: Vec<(u64, bool)>,
    vms_done: usize,
    total: u64,
    /// Bytes an earlier run did.
    before: u64,
    /// Bytes this run moved.
    run: u64,
    /// When [`Progress::plan`] was called: the rate counts from there.
    started: Option<Instant>,
    /// When the terminal bar was last redrawn.
    drawn: Option<Instant>,
}

impl Tally {
    fn done(&self) -> u64 {
        (self.before + self.run).min(self.total)
    }

    /// This run's bytes per second, once there is something to measure: after half a second
    /// (earlier figures swing wildly), or at the end, when it is the run's average.
    fn rate(&self) -> Option<f64> {
        let secs = self.started?.elapsed().as_secs_f64();
        let measurable = secs > 0.5 || (self.done() >= self.total && secs > 0.0);
        (measurable && self.run > 0).then(|| self.run as f64 / secs)
    }

    /// `2/4 VMs, 1.2 GiB of 3.0 GiB (40%), 38.0 MiB/s, ETA 0:48`.
    fn line(&self) -> String {
        let (done, total) = (self.done(), self.total);
        let pct = match total {
            0 => 100,
            t => (done as u128 * 100 / t as u128) as u64,
        };
        let rate = self.rate();
        // Nothing left is no wait, even before a rate could be measured.
        let eta = match done >= total {
            true => Some(clock(0.0)),
            false => rate.map(|r| clock((total - done) as f64 / r)),
        };
        format!(
            "{}/{} VMs, {} of {} ({pct}%), {}, ETA {}",
            self.vms_done,
            self.vms.len(),
            human_bytes(done),
            human_bytes(total),
            rate.map_or("- B/s".into(), |r| format!("{}/s", human_bytes(r as u64))),
            eta.as_deref().unwrap_or("-")
        )
    }
}

/// `0:48`, `12:05`, `1:02:03`.
fn clock(secs: f64) -> String {
    let s = secs.max(0.0).min(u32::MAX as f64).round() as u64;
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, m, s) => format!("{m}:{s:02}"),
        (h, m, s) => format!("{h}:{m:02}:{s:02}"),
    }
}

impl Overall {
    fn new(mode: Mode, multi: Arc<MultiProgress>) -> Overall {
        Overall {
            mode,
            shared: Arc::new(Shared {
                tally: Mutex::new(Tally::default()),
                over: (Mutex::new(false), Condvar::new()),
            }),
            multi,
            bar: Mutex::new(None),
            ticker: Mutex::new(None),
        }
    }

    fn tally(&self) -> MutexGuard<'_, Tally> {
        self.shared.tally.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn plan(&self, vms: &[VmWork]) {
        {
            let mut t = self.tally();
            *t = Tally {
                vms: vms
                    .iter()
                    .map(|v| (v.bytes.max(v.done), v.finished))
                    .collect(),
                vms_done: vms.iter().filter(|v| v.finished).count(),
                total: vms.iter().map(|v| v.bytes.max(v.done)).sum(),
                before: vms.iter().map(|v| v.done).sum(),
                started: Some(Instant::now()),
                ..Tally::default()
            };
        }
        match self.mode {
            Mode::Bars => self.show_bar(),
            Mode::Lines(period) => self.start_ticker(period),
            Mode::Off => {}
        }
    }

    /// `run` bytes moved by this run, `before` bytes of an earlier run's, added (or, for a
    /// discarded piece, taken back).
    fn moved(&self, run: i128, before: i128) {
        let mut t = self.tally();
        t.run = (t.run as i128 + run).max(0) as u64;
        t.before = (t.before as i128 + before).max(0) as u64;
        if self.mode == Mode::Bars
            && t.drawn
                .is_none_or(|d| d.elapsed() >= Duration::from_millis(100))
        {
            t.drawn = Some(Instant::now());
            self.draw(&t);
        }
    }

    fn vm_done(&self, vm: usize, bytes: Option<u64>) {
        let mut t = self.tally();
        let Some(&(planned, finished)) = t.vms.get(vm) else {
            return;
        };
        if finished {
            return;
        }
        let actual = bytes.unwrap_or(planned);
        t.vms[vm] = (actual, true);
        t.vms_done += 1;
        t.total = t.total - planned + actual;
        match self.mode {
            Mode::Bars => self.draw(&t),
            Mode::Lines(_) => line(&t),
            Mode::Off => {}
        }
    }

    fn show_bar(&self) {
        let pb = self.multi.insert(0, ProgressBar::new(1));
        pb.set_style(
            ProgressStyle::with_template("{prefix:30!} [{bar:30}] {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(pb);
        self.draw(&self.tally());
    }

    fn draw(&self, t: &Tally) {
        if let Some(pb) = &*self.bar.lock().unwrap_or_else(|e| e.into_inner()) {
            pb.set_length(t.total.max(1));
            pb.set_position(t.done());
            pb.set_prefix(format!("all: {}/{} VMs", t.vms_done, t.vms.len()));
            let line = t.line();
            let after_vms = line.split_once(", ").map_or(line.as_str(), |(_, r)| r);
            pb.set_message(after_vms.to_owned());
        }
    }

    /// The plain lines: one every `period` until the work is over.
    fn start_ticker(&self, period: Duration) {
        let shared = self.shared.clone();
        let handle = std::thread::Builder::new()
            .name("odt-progress".into())
            .spawn(move || {
                let (lock, cv) = &shared.over;
                let mut over = lock.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    let (o, timeout) = cv
                        .wait_timeout(over, period)
                        .unwrap_or_else(|e| e.into_inner());
                    over = o;
                    if *over {
                        return;
                    }
                    if timeout.timed_out() {
                        line(&shared.tally.lock().unwrap_or_else(|e| e.into_inner()));
                    }
                }
            });
        if let Ok(h) = handle {
            *self.ticker.lock().unwrap_or_else(|e| e.into_inner()) = Some(h);
        }
    }
}

/// One plain progress line on stderr, named after the program.
fn line(t: &Tally) {
    eprintln!("{}: {}", crate::program::name(), t.line());
}

impl Drop for Overall {
    fn drop(&mut self) {
        let (lock, cv) = &self.shared.over;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        if let Some(h) = self
            .ticker
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = h.join();
        }
        if let Some(pb) = self.bar.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            pb.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm(bytes: u64, done: u64, finished: bool) -> VmWork {
        VmWork {
            bytes,
            done,
            finished,
        }
    }

    fn figures(b: &Bars) -> (usize, u64, u64, u64) {
        let t = b.overall.tally();
        (t.vms_done, t.done(), t.total, t.run)
    }

    #[test]
    fn lanes_at_once_sum_into_one_total_and_a_resume_starts_where_it_was() {
        let b = Bars::with_mode(Mode::Off);
        // VM 0 finished before, VM 1 half done (one file of 100 done, a partial of 50 at 20),
        // VM 2 fresh.
        b.plan(&[vm(300, 300, true), vm(150, 120, false), vm(100, 0, false)]);
        assert_eq!(figures(&b), (1, 420, 550, 0));
        let (l1, l2) = (b.lane(), b.lane());
        l1.start("vm1: partial", 50);
        l1.resumed(20);
        l2.start("vm2: disk", 100);
        // The re-read prefix is not this run's work.
        l1.set(10);
        l1.set(20);
        assert_eq!(figures(&b), (1, 420, 550, 0));
        l1.set(50);
        l2.set(60);
        assert_eq!(figures(&b), (1, 510, 550, 90));
        l1.finish();
        b.vm_done(1, None);
        l2.set(100);
        l2.finish();
        b.vm_done(2, None);
        assert_eq!(figures(&b), (3, 550, 550, 130));
        // A VM planned finished is not counted twice.
        b.vm_done(0, None);
        assert_eq!(figures(&b).0, 3);
    }

    #[test]
    fn a_discarded_piece_takes_back_what_it_counted_and_an_estimate_is_corrected() {
        let b = Bars::with_mode(Mode::Off);
        b.plan(&[vm(1000, 100, false)]);
        b.start("vm0: disk", 400);
        b.resumed(100);
        b.set(300);
        assert_eq!(figures(&b), (0, 300, 1000, 200));
        // The source changed: the piece starts again from 0 under a fresh key.
        b.discard();
        assert_eq!(figures(&b), (0, 0, 1000, 0));
        b.start("vm0: disk", 400);
        b.set(400);
        b.finish();
        // A download's size is known at its end: 400 of an estimated 1000.
        b.vm_done(0, Some(400));
        assert_eq!(figures(&b), (1, 400, 400, 400));
    }

    #[test]
    fn the_line_says_vms_bytes_percent_rate_and_eta() {
        let mut t = Tally {
            vms: vec![
                (1 << 30, true),
                (1 << 30, false),
                (1 << 30, false),
                (1 << 29, false),
            ],
            vms_done: 1,
            total: 7 << 29,
            before: 1 << 30,
            run: 0,
            started: Some(Instant::now()),
            drawn: None,
        };
        assert_eq!(t.line(), "1/4 VMs, 1.0 GiB of 3.5 GiB (28%), - B/s, ETA -");
        t.started = Some(Instant::now() - Duration::from_secs(10));
        t.run = 100 << 20;
        // 10 MiB/s this run, 2.4 GiB left.
        assert_eq!(
            t.line(),
            "1/4 VMs, 1.1 GiB of 3.5 GiB (31%), 10.0 MiB/s, ETA 4:06"
        );
        assert_eq!(clock(3723.0), "1:02:03");
        // All done within the first half second: the run's average, nothing left to wait for.
        t.started = Some(Instant::now() - Duration::from_millis(250));
        t.run = 5 << 29;
        let line = t.line();
        assert!(
            line.starts_with("1/4 VMs, 3.5 GiB of 3.5 GiB (100%), "),
            "{line}"
        );
        assert!(line.ends_with(" GiB/s, ETA 0:00"), "{line}");
        // Nothing moved by this run (all done before): no rate to show.
        t.run = 0;
        t.before = t.total;
        assert_eq!(
            t.line(),
            "1/4 VMs, 3.5 GiB of 3.5 GiB (100%), - B/s, ETA 0:00"
        );
    }
}
