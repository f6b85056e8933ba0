//! A short-lived cache of listed and fetched instances, cleared by start and stop.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::instance::Instance;

#[derive(Debug, Default)]
struct Entries {
    list: Option<(Instant, Vec<Instance>)>,
    one: HashMap<String, (Instant, Instance)>,
}

#[derive(Debug)]
pub(crate) struct Cache {
    ttl: Duration,
    entries: Mutex<Entries>,
}

impl Cache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(Entries::default()),
        }
    }

    fn fresh(&self, stamp: Instant) -> bool {
        stamp.elapsed() < self.ttl
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // The entries are plain data: a panic elsewhere cannot leave them half-written.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn list(&self) -> Option<Vec<Instance>> {
        let entries = self.lock();
        let (stamp, list) = entries.list.as_ref()?;
        self.fresh(*stamp).then(|| list.clone())
    }

    /// A fresh copy of one instance, from a recent `get` or a recent `list`.
    pub(crate) fn get(&self, id: &str) -> Option<Instance> {
        let entries = self.lock();
        if let Some((stamp, instance)) = entries.one.get(id)
            && self.fresh(*stamp)
        {
            return Some(instance.clone());
        }
        let (stamp, list) = entries.list.as_ref()?;
        if !self.fresh(*stamp) {
            return None;
        }
        list.iter().find(|i| i.id == id).cloned()
    }

    pub(crate) fn store_list(&self, list: &[Instance]) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.lock();
        entries.list = Some((Instant::now(), list.to_vec()));
        entries.one.clear();
    }

    pub(crate) fn store_one(&self, instance: &Instance) {
        if self.ttl.is_zero() {
            return;
        }
        self.lock()
            .one
            .insert(instance.id.clone(), (Instant::now(), instance.clone()));
    }

    pub(crate) fn clear(&self) {
        *self.lock() = Entries::default();
    }
}
