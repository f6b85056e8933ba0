//! Cancelling a batch: one [`Stop`] the caller triggers (a Ctrl-C handler, an HTTP request),
//! which every running attempt sees and can hook its own interrupt to.

use std::sync::{Arc, Mutex, PoisonError};

type Hook = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Inner {
    stopped: bool,
    hooks: Vec<Hook>,
}

/// A batch's cancel flag. Cloning shares it; once stopped it stays so.
#[derive(Clone, Default)]
pub struct Stop(Arc<Mutex<Inner>>);

impl std::fmt::Debug for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stop")
            .field("stopped", &self.is_stopped())
            .finish_non_exhaustive()
    }
}

impl Stop {
    /// A flag not yet set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops the batch: no job starts any more, and every hook registered by a running
    /// attempt is called (once, on this thread).
    pub fn stop(&self) {
        let hooks = {
            let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            inner.stopped = true;
            std::mem::take(&mut inner.hooks)
        };
        for hook in hooks {
            hook();
        }
    }

    /// Whether [`Stop::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stopped
    }

    /// Calls `hook` when the batch is stopped (at once when it already is): an attempt
    /// registers how to interrupt its prompt.
    pub fn on_stop(&self, hook: impl FnOnce() + Send + 'static) {
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.stopped {
            drop(inner);
            hook();
        } else {
            inner.hooks.push(Box::new(hook));
        }
    }
}
