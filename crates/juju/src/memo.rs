//! Answers a hook asks Juju for at most once, even when several threads ask at the same time:
//! the first caller runs the tool while the others wait for its answer. A failed call is not
//! remembered (the next caller tries again).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::lock;

/// One remembered answer per key.
#[derive(Debug)]
pub(crate) struct Memo<K, V> {
    slots: Mutex<BTreeMap<K, Arc<Mutex<Option<V>>>>>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self { slots: Mutex::default() }
    }
}

impl<K: Ord + Clone, V: Clone> Memo<K, V> {
    /// The answer for `key`: remembered, or `fetch`ed (once, whoever else is asking).
    pub fn get_or_fetch<E>(&self, key: &K, fetch: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        let slot = Arc::clone(lock(&self.slots).entry(key.clone()).or_default());
        let mut answer = lock(&slot);
        if let Some(value) = answer.as_ref() {
            return Ok(value.clone());
        }
        let value = fetch()?;
        *answer = Some(value.clone());
        Ok(value)
    }

    /// The remembered answer for `key`, if there is one and nobody is fetching it.
    pub fn get(&self, key: &K) -> Option<V> {
        let slot = lock(&self.slots).get(key).cloned()?;
        let answer = slot.try_lock().ok()?.clone();
        answer
    }

    /// Forgets the answers whose keys `which` selects.
    pub fn forget(&self, mut which: impl FnMut(&K) -> bool) {
        lock(&self.slots).retain(|key, _| !which(key));
    }
}

#[cfg(test)]
mod tests {
    use super::Memo;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn concurrent_callers_share_one_fetch() {
        let memo: Memo<&str, u32> = Memo::default();
        let fetches = AtomicUsize::new(0);
        let answers: Vec<u32> = std::thread::scope(|scope| {
            let callers: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        memo.get_or_fetch(&"peers", || {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(20));
                            Ok::<_, ()>(7)
                        })
                    })
                })
                .collect();
            callers.into_iter().map(|caller| caller.join().unwrap().unwrap()).collect()
        });
        assert_eq!(answers, vec![7; 8]);
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_failure_is_not_remembered_and_forget_drops_answers() {
        let memo: Memo<u8, &str> = Memo::default();
        assert_eq!(memo.get_or_fetch(&1, || Err("agent gone")), Err("agent gone"));
        assert_eq!(memo.get(&1), None);
        assert_eq!(memo.get_or_fetch(&1, || Ok::<_, &str>("first")), Ok("first"));
        assert_eq!(memo.get_or_fetch(&1, || Ok::<_, &str>("second")), Ok("first"));
        memo.forget(|key| *key == 1);
        assert_eq!(memo.get_or_fetch(&1, || Ok::<_, &str>("third")), Ok("third"));
    }
}
