//! Independent hook-tool calls made side by side. A hook tool's cost is mostly starting its
//! process, which Juju's agent lets overlap (it runs the commands themselves one at a time),
//! so reads that do not depend on each other finish in the time of the slowest.
//!
//! The work runs on a few threads made once per hook process (a thread costs about as much to
//! start as a small hook-tool call), inside a [`scope`] that waits for all of it, so the jobs
//! may borrow what the caller owns. A thread waiting for its scope runs queued jobs itself,
//! so scopes nest without ever waiting for a thread that is waiting too.

use std::any::Any;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use crate::lock;

/// How many calls a charm has in flight at once: enough to keep two cores busy starting
/// processes, few enough not to crowd the agent.
pub const CALLS_IN_FLIGHT: usize = 3;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The queue the worker threads take jobs from.
struct Pool {
    queue: Mutex<VecDeque<Job>>,
    queued: Condvar,
}

/// The process's pool, with `CALLS_IN_FLIGHT - 1` workers (the waiting thread is the last).
fn pool() -> &'static Pool {
    static POOL: OnceLock<&'static Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let pool: &'static Pool =
            Box::leak(Box::new(Pool { queue: Mutex::default(), queued: Condvar::new() }));
        for _ in 1..CALLS_IN_FLIGHT {
            std::thread::spawn(move || loop {
                let job = {
                    let mut queue = lock(&pool.queue);
                    loop {
                        match queue.pop_front() {
                            Some(job) => break job,
                            None => {
                                queue = pool.queued.wait(queue).unwrap_or_else(|poison| poison.into_inner())
                            }
                        }
                    }
                };
                job();
            });
        }
        pool
    })
}

impl Pool {
    fn push(&self, job: Job) {
        lock(&self.queue).push_back(job);
        self.queued.notify_one();
    }

    /// Runs one queued job on this thread; `false` when there was none.
    fn run_one(&self) -> bool {
        let job = lock(&self.queue).pop_front();
        job.map(|job| job()).is_some()
    }
}

/// Jobs started by one [`scope`]: they may borrow anything that outlives it (`'env`).
pub struct Scope<'env> {
    state: Arc<ScopeState>,
    _env: PhantomData<&'env mut &'env ()>,
}

#[derive(Default)]
struct ScopeState {
    pending: Mutex<usize>,
    finished: Condvar,
    /// The first panic of a job, raised again by the scope.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl<'env> Scope<'env> {
    /// Runs `job` on the pool; the scope waits for it.
    pub fn spawn(&self, job: impl FnOnce() + Send + 'env) {
        *lock(&self.state.pending) += 1;
        let state = Arc::clone(&self.state);
        let job: Box<dyn FnOnce() + Send + 'env> = Box::new(move || {
            if let Err(panic) = catch_unwind(AssertUnwindSafe(job)) {
                lock(&state.panic).get_or_insert(panic);
            }
            let mut pending = lock(&state.pending);
            *pending -= 1;
            if *pending == 0 {
                state.finished.notify_all();
            }
        });
        // SAFETY: only the lifetime changes. `scope` returns (or unwinds) only after every job
        // it spawned has run to its end, so nothing a job borrows for `'env` ends before it.
        let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + 'env>, Job>(job) };
        pool().push(job);
    }
}

/// Runs `body`, which may [`Scope::spawn`] jobs, and waits for them all (helping with queued
/// jobs meanwhile). A panic in `body` or a job is raised again once every job has ended.
pub fn scope<'env, R>(body: impl FnOnce(&Scope<'env>) -> R) -> R {
    let scope = Scope { state: Arc::default(), _env: PhantomData };
    let result = catch_unwind(AssertUnwindSafe(|| body(&scope)));
    while *lock(&scope.state.pending) > 0 {
        if pool().run_one() {
            continue;
        }
        let pending = lock(&scope.state.pending);
        if *pending > 0 {
            // Every job of this scope is running elsewhere: wait for the last to end.
            drop(scope.state.finished.wait_while(pending, |pending| *pending > 0));
        }
    }
    if let Some(panic) = lock(&scope.state.panic).take() {
        resume_unwind(panic);
    }
    result.unwrap_or_else(|panic| resume_unwind(panic))
}

/// `work` applied to every item side by side, the results in the items' order. Each thread
/// takes the next item when it is done with one, so many items cost few hand-overs.
pub fn map<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() <= 1 {
        return items.iter().map(work).collect();
    }
    let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    scope(|scope| {
        let run = || loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(index) else { return };
            *lock(&results[index]) = Some(work(item));
        };
        for _ in 1..items.len().min(CALLS_IN_FLIGHT) {
            scope.spawn(run);
        }
        run();
    });
    results
        .into_iter()
        .map(|result| {
            result.into_inner().unwrap_or_else(|poison| poison.into_inner()).expect("every item was taken")
        })
        .collect()
}

/// `first` on the pool while `second` runs on this thread; both results.
pub fn join<A: Send, B>(first: impl FnOnce() -> A + Send, second: impl FnOnce() -> B) -> (A, B) {
    let mut first_result = None;
    let second_result = scope(|scope| {
        let slot = &mut first_result;
        scope.spawn(move || *slot = Some(first()));
        second()
    });
    (first_result.expect("the scope ran the job"), second_result)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    #[test]
    fn results_keep_the_items_order_and_calls_overlap() {
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let items: Vec<u32> = (0..12).collect();
        let doubled = super::map(&items, |item| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(10));
            running.fetch_sub(1, Ordering::SeqCst);
            item * 2
        });
        assert_eq!(doubled, (0..12).map(|item| item * 2).collect::<Vec<_>>());
        let most = most.load(Ordering::SeqCst);
        // Other tests' waiting threads may help too: only the overlap is certain.
        assert!(most >= 2, "{most} calls were in flight at once");
    }

    #[test]
    fn join_runs_both_at_once() {
        let started = Instant::now();
        let pause = || std::thread::sleep(Duration::from_millis(50));
        assert_eq!(super::join(|| (pause(), 1).1, || (pause(), "two").1), (1, "two"));
        assert!(started.elapsed() < Duration::from_millis(95), "{:?}", started.elapsed());
    }

    #[test]
    fn nested_scopes_finish_even_when_every_worker_waits() {
        // More outer jobs than threads, each waiting for inner jobs: the waiters run them.
        let items: Vec<u64> = (0..(3 * super::CALLS_IN_FLIGHT as u64)).collect();
        let sums = super::map(&items, |outer| {
            let inner: Vec<u64> = (0..5).collect();
            super::map(&inner, |inner| {
                std::thread::sleep(Duration::from_millis(2));
                outer * 10 + inner
            })
            .into_iter()
            .sum::<u64>()
        });
        assert_eq!(sums, items.iter().map(|outer| outer * 50 + 10).collect::<Vec<_>>());
    }

    #[test]
    fn a_jobs_panic_reaches_the_caller_after_the_other_jobs_end() {
        let finished = AtomicUsize::new(0);
        let outcome = std::panic::catch_unwind(|| {
            super::scope(|scope| {
                scope.spawn(|| panic!("job failed"));
                for _ in 0..3 {
                    scope.spawn(|| {
                        std::thread::sleep(Duration::from_millis(10));
                        finished.fetch_add(1, Ordering::SeqCst);
                    });
                }
            })
        });
        let panic = outcome.expect_err("the panic is raised again");
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"job failed"));
        assert_eq!(finished.load(Ordering::SeqCst), 3, "the scope waited for its other jobs");
    }

    #[test]
    fn one_item_runs_on_the_calling_thread() {
        let caller = std::thread::current().id();
        assert_eq!(super::map(&[1], |_| std::thread::current().id()), vec![caller]);
    }
}
