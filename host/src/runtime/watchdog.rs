//! The time limit of plugins compiled without interruption checks.
//!
//! wasmtime stops a runaway call with epoch checks that Cranelift compiles into every loop
//! and function entry. They cost: 10–17% of a pull and 5–10% of a push with the built-in
//! zstd (docs/performance.md). Plugins whose bound is [`TimeBound::EndProcess`] (the
//! built-ins, which twgate builds from its own source, and custom plugins configured with
//! `interruptible = false`) run without them, and the runtime's ticker asks this watchdog
//! every tick whether one of their calls is overdue. Such a call cannot be stopped on its
//! own, so the watchdog ends the process, with the same one-line error as an interrupted call.
//!
//! Plugins with epoch checks are watched too, as a backstop: the checks stop code, not a
//! call blocked inside the host (a `wasi:clocks` sleep, a poll, an HTTP request that never
//! answers), so such a call that is still running [`BACKSTOP_GRACE`] after its limit ends
//! the process the same way.
//!
//! **Invariant:** ending the process is safe for the store: a backup becomes visible only
//! when its manifest is committed, which happens after the last plugin call, so an ended
//! push leaves at most an orphaned data object (as `kill -9` would), never a backup.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How a plugin call that outlives its time limit is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeBound {
    /// Interruption checks in the plugin's code: the call traps, the stream fails cleanly
    /// and twgate exits with an error. The default for plugins from files.
    Interrupt,
    /// No checks in the code (faster); the watchdog ends the whole process instead.
    EndProcess,
}

/// How long after its limit a call of a plugin with epoch checks may still run (blocked in
/// the host, where the checks cannot reach) before the watchdog ends the process: a few
/// ticks of the ticker, so an interrupted call always gets to fail cleanly first.
pub(crate) const BACKSTOP_GRACE: Duration = Duration::from_secs(1);

/// The exit status the watchdog ends the process with.
static EXIT_CODE: AtomicU8 = AtomicU8::new(1);

/// Sets the exit status for an overdue call: `wal fetch` needs one that stops PostgreSQL's
/// recovery (126), not 1, which means "not in the archive".
pub fn set_exit_code(code: u8) {
    EXIT_CODE.store(code, Ordering::Relaxed);
}

/// One plugin instance's clock: when its current call started, if one is running.
#[derive(Debug)]
pub(crate) struct CallClock {
    plugin: String,
    /// The limit the plugin was given, as messages state it.
    limit: Duration,
    /// When the watchdog acts: the limit, plus [`BACKSTOP_GRACE`] for a backstop.
    timeout: Duration,
    origin: Instant,
    /// Milliseconds since `origin` plus one when the running call started; 0 when idle.
    started: AtomicU64,
}

impl CallClock {
    /// Marks the start of a call; the returned guard marks its end.
    pub(crate) fn start(&self) -> CallGuard<'_> {
        let since = self.origin.elapsed().as_millis() as u64;
        self.started.store(since + 1, Ordering::Relaxed);
        CallGuard(self)
    }

    /// How long the running call has been running, if one is.
    fn running_for(&self, now: Instant) -> Option<Duration> {
        let started = self.started.load(Ordering::Relaxed);
        let since = now.saturating_duration_since(self.origin).as_millis() as u64;
        (started != 0).then(|| Duration::from_millis(since.saturating_sub(started - 1)))
    }
}

/// Ends the call it was started for when dropped.
pub(crate) struct CallGuard<'a>(&'a CallClock);

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        self.0.started.store(0, Ordering::Relaxed);
    }
}

/// Every live clock of plugins bound by [`TimeBound::EndProcess`].
#[derive(Debug, Default)]
pub(crate) struct Watchdog {
    clocks: Mutex<Vec<Weak<CallClock>>>,
}

impl Watchdog {
    /// A clock for one instance of `plugin`, watched for as long as it lives: the watchdog
    /// ends the process once a call has run `limit`, or `limit` and [`BACKSTOP_GRACE`] for a
    /// `backstop` (a plugin whose own checks stop it at `limit`).
    pub(crate) fn clock(&self, plugin: &str, limit: Duration, backstop: bool) -> Arc<CallClock> {
        let clock = Arc::new(CallClock {
            plugin: plugin.into(),
            limit,
            timeout: match backstop {
                true => limit + BACKSTOP_GRACE,
                false => limit,
            },
            origin: Instant::now(),
            started: AtomicU64::new(0),
        });
        let mut clocks = self.clocks.lock().unwrap();
        clocks.retain(|c| c.strong_count() > 0);
        clocks.push(Arc::downgrade(&clock));
        clock
    }

    /// The first call running longer than its limit at `now`: its plugin and limit.
    pub(crate) fn overdue(&self, now: Instant) -> Option<(String, Duration)> {
        let clocks = self.clocks.lock().unwrap();
        clocks.iter().filter_map(Weak::upgrade).find_map(|clock| {
            let running = clock.running_for(now)?;
            (running > clock.timeout).then(|| (clock.plugin.clone(), clock.limit))
        })
    }

    /// Ends the process if a call is overdue. Called by the runtime's ticker.
    pub(crate) fn check(&self) {
        if let Some((plugin, timeout)) = self.overdue(Instant::now()) {
            eprintln!(
                "twgate: error: plugin {plugin} ran longer than {} s in one call and was stopped",
                timeout.as_secs()
            );
            std::process::exit(EXIT_CODE.load(Ordering::Relaxed).into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backstop_waits_out_the_grace_and_reports_the_limit() {
        let dog = Watchdog::default();
        let clock = dog.clock("hostile", Duration::from_secs(2), true);
        let _call = clock.start();
        let now = Instant::now();
        assert_eq!(dog.overdue(now + Duration::from_millis(2500)), None);
        assert_eq!(
            dog.overdue(now + Duration::from_secs(4)),
            Some(("hostile".to_string(), Duration::from_secs(2)))
        );
    }

    #[test]
    fn only_a_running_call_past_its_limit_is_overdue() {
        let dog = Watchdog::default();
        let clock = dog.clock("zstd", Duration::from_millis(100), false);
        let later = Instant::now() + Duration::from_secs(5);
        assert_eq!(
            dog.overdue(later),
            None,
            "an idle instance is never overdue"
        );
        {
            let _call = clock.start();
            assert_eq!(dog.overdue(Instant::now()), None, "just started");
            assert_eq!(
                dog.overdue(later),
                Some(("zstd".to_string(), Duration::from_millis(100)))
            );
        }
        assert_eq!(dog.overdue(later), None, "the call ended");
    }

    #[test]
    fn dropped_instances_are_forgotten() {
        let dog = Watchdog::default();
        let clock = dog.clock("age", Duration::from_millis(1), false);
        let call = clock.start();
        std::mem::forget(call); // the call never ends...
        drop(clock); // ...but its instance is gone
        let later = Instant::now() + Duration::from_secs(5);
        assert_eq!(dog.overdue(later), None);
        let _other = dog.clock("zstd", Duration::from_secs(1), false);
        assert_eq!(dog.clocks.lock().unwrap().len(), 1);
    }
}
