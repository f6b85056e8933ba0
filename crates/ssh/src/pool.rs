//! A small pool of sessions to one host: one `Session` per concurrent activity, as libssh2
//! requires. A dead idle session is reconnected once; if that fails the error is reported.

use std::ops::Deref;
use std::sync::{Condvar, Mutex, PoisonError};

use crate::{ConnectOptions, Session, SshError};

/// Up to `max` sessions to the host of `opts`.
#[derive(Debug)]
pub struct Pool {
    opts: ConnectOptions,
    max: usize,
    state: Mutex<State>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    idle: Vec<Session>,
    out: usize,
}

/// A session borrowed from a [`Pool`]; returned to it on drop (if still alive).
#[derive(Debug)]
pub struct PooledSession<'a> {
    pool: &'a Pool,
    session: Option<Session>,
}

impl Pool {
    /// A pool of at most `max` (at least 1) sessions; connects lazily.
    pub fn new(opts: ConnectOptions, max: usize) -> Pool {
        Pool {
            opts,
            max: max.max(1),
            state: Mutex::new(State::default()),
            freed: Condvar::new(),
        }
    }

    pub fn options(&self) -> &ConnectOptions {
        &self.opts
    }

    /// An idle live session, else a new one; waits while `max` are in use.
    pub fn get(&self) -> Result<PooledSession<'_>, SshError> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(s) = st.idle.pop() {
                st.out += 1;
                drop(st);
                if s.is_alive() {
                    return Ok(self.wrap(s));
                }
                drop(s);
                tracing::debug!(host = %self.opts.host, port = self.opts.port, "pooled session is dead, reconnecting once");
                return self.connect_counted().map_err(|e| SshError::Reconnect {
                    host: self.opts.host.clone(),
                    port: self.opts.port,
                    source: Box::new(e),
                });
            }
            if st.out < self.max {
                st.out += 1;
                drop(st);
                return self.connect_counted();
            }
            st = self.freed.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Connects for a slot already counted in `out`; gives the slot back on failure.
    fn connect_counted(&self) -> Result<PooledSession<'_>, SshError> {
        match Session::connect(&self.opts) {
            Ok(s) => Ok(self.wrap(s)),
            Err(e) => {
                self.release(None);
                Err(e)
            }
        }
    }

    fn wrap(&self, s: Session) -> PooledSession<'_> {
        PooledSession {
            pool: self,
            session: Some(s),
        }
    }

    fn release(&self, s: Option<Session>) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.out = st.out.saturating_sub(1);
        if let Some(s) = s.filter(Session::is_alive) {
            st.idle.push(s);
        }
        drop(st);
        self.freed.notify_one();
    }

    /// Sessions currently idle in the pool.
    pub fn idle_count(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .idle
            .len()
    }
}

impl Deref for PooledSession<'_> {
    type Target = Session;

    fn deref(&self) -> &Session {
        match &self.session {
            Some(s) => s,
            None => unreachable!("the session is only taken in drop"),
        }
    }
}

impl Drop for PooledSession<'_> {
    fn drop(&mut self) {
        self.pool.release(self.session.take());
    }
}
