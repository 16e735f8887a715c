//! A small fork-join pool for the engine's token step: ~120 parallel sections of 10–100 µs
//! each per token. rayon parks idle workers after a few dozen yields and wakes them through the
//! OS, which costs about as much as one section; these workers instead spin on a generation
//! counter for [`SPIN`] after their last job before they park, so a section starts in well
//! under a microsecond while a caption is being decoded.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker spins before it parks.
pub const SPIN: Duration = Duration::from_millis(5);

/// A job: `f(task)` for every task index below `tasks`, handed out one at a time.
#[derive(Clone, Copy)]
struct Job {
    /// Erased `&(dyn Fn(usize) + Sync)`, valid until every worker has reported back.
    f: *const (dyn Fn(usize) + Sync + 'static),
    tasks: usize,
}

struct Shared {
    /// Bumped once per job; workers compare it with the last one they ran.
    generation: AtomicUsize,
    /// Written by the caller before `generation` is bumped, read by workers after.
    job: UnsafeCell<Job>,
    next: AtomicUsize,
    /// Workers still inside the current job.
    busy: AtomicUsize,
    panicked: AtomicBool,
    stop: AtomicBool,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

// SAFETY: `job`, `next` and `busy` are written only by `SpinPool::run`, which takes
// `&mut SpinPool`, so one caller at a time (a task cannot reach the pool either: it would need a
// second borrow of it); the caller writes them while no worker reads them (between jobs,
// `busy == 0`), and workers read `job` only after the Acquire load of the bumped `generation`
// that the caller's store published it with. The closure it points to is `Sync`.
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

impl Shared {
    /// Takes tasks of the current job until none is left.
    fn work(&self) {
        // SAFETY: see `impl Sync for Shared`; the closure outlives the job (`run` waits).
        let job = unsafe { *self.job.get() };
        let f = unsafe { &*job.f };
        loop {
            let t = self.next.fetch_add(1, Ordering::Relaxed);
            if t >= job.tasks {
                break;
            }
            f(t);
        }
    }
}

/// `threads − 1` spinning workers plus the calling thread.
pub struct SpinPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl SpinPool {
    /// A pool of `threads` threads in all (the caller counts as one).
    pub fn new(threads: usize) -> Self {
        let shared = Arc::new(Shared {
            generation: AtomicUsize::new(0),
            job: UnsafeCell::new(Job {
                f: &noop as &(dyn Fn(usize) + Sync),
                tasks: 0,
            }),
            next: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let workers = (1..threads.max(1))
            .map(|i| {
                let s = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("geomotion-engine-{i}"))
                    .spawn(move || worker(&s, 0))
                    .expect("spawning an engine thread")
            })
            .collect();
        Self { shared, workers }
    }

    /// As many threads as the machine has cores (rayon's count, so `RAYON_NUM_THREADS` applies).
    pub fn for_machine() -> Self {
        Self::new(rayon::current_num_threads())
    }

    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `f(task)` for every `task < tasks` on the pool's threads and returns when all are
    /// done. Panics if `f` panicked on any thread.
    ///
    /// `&mut self`: one job at a time is what makes the pool sound (the job is handed to the
    /// workers through shared state), and the borrow checker enforces it, across threads and
    /// from inside a task alike:
    ///
    /// ```compile_fail,E0499
    /// let mut pool = geomotion::lm::infer::pool::SpinPool::new(2);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| pool.run(8, &|_| {}));
    ///     pool.run(8, &|_| {}); // a second caller while the first may be running
    /// });
    /// ```
    pub fn run(&mut self, tasks: usize, f: &(dyn Fn(usize) + Sync)) {
        let s = &*self.shared;
        if self.workers.is_empty() || tasks <= 1 {
            (0..tasks).for_each(f);
            return;
        }
        // SAFETY: the lifetime is erased only for the duration of this call: we wait below
        // until every worker has left the job before returning (or unwinding).
        let f: *const (dyn Fn(usize) + Sync + 'static) = unsafe { std::mem::transmute(f) };
        // SAFETY: no worker is inside a job (`busy == 0` after the previous call).
        unsafe { *s.job.get() = Job { f, tasks } };
        s.next.store(0, Ordering::Relaxed);
        s.busy.store(self.workers.len(), Ordering::Relaxed);
        s.generation.fetch_add(1, Ordering::SeqCst);
        if s.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        let mine = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.work()));
        while s.busy.load(Ordering::Acquire) > 0 {
            std::hint::spin_loop();
        }
        let theirs = s.panicked.swap(false, Ordering::Relaxed);
        if let Err(p) = mine {
            std::panic::resume_unwind(p);
        }
        assert!(!theirs, "an engine thread panicked");
    }
}

impl Drop for SpinPool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        {
            let _g = self.shared.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn noop(_: usize) {}

/// A worker's loop; `seen` is the generation before the pool's first job (a worker that starts
/// late must still run that job).
fn worker(s: &Shared, mut seen: usize) {
    loop {
        // Spin for new work, then park.
        let since = Instant::now();
        let mut spins = 0u32;
        loop {
            let g = s.generation.load(Ordering::Acquire);
            if g != seen {
                seen = g;
                break;
            }
            spins = spins.wrapping_add(1);
            if spins % 1024 == 0 && since.elapsed() > SPIN {
                s.sleepers.fetch_add(1, Ordering::SeqCst);
                let mut g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
                while s.generation.load(Ordering::SeqCst) == seen {
                    g = s.wake.wait(g).unwrap_or_else(|e| e.into_inner());
                }
                drop(g);
                s.sleepers.fetch_sub(1, Ordering::SeqCst);
                seen = s.generation.load(Ordering::Acquire);
                break;
            }
            std::hint::spin_loop();
        }
        if s.stop.load(Ordering::SeqCst) {
            return;
        }
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.work())).is_err() {
            s.panicked.store(true, Ordering::Relaxed);
        }
        s.busy.fetch_sub(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once_across_many_jobs_and_after_parking() {
        let mut pool = SpinPool::new(3);
        let counts: Vec<AtomicUsize> = (0..97).map(|_| AtomicUsize::new(0)).collect();
        for round in 0..200 {
            if round == 100 {
                std::thread::sleep(SPIN * 3); // the workers park; the next job must wake them
            }
            pool.run(counts.len(), &|t| {
                counts[t].fetch_add(1, Ordering::Relaxed);
            });
        }
        assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 200));
    }

    #[test]
    fn a_panicking_task_panics_the_caller_and_the_pool_stays_usable() {
        let mut pool = SpinPool::new(2);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(64, &|t| assert!(t != 63, "task 63"))
        }));
        assert!(r.is_err());
        let n = AtomicUsize::new(0);
        pool.run(10, &|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 10);
    }
}
