//! Blocking facade work on a worker thread while the calling thread, with the interpreter
//! released between messages, hands each event to the Python callback and watches for signals:
//! a KeyboardInterrupt (or a callback that raises) asks the work to stop and the pump waits for
//! it to end, so a run's prompt is stopped on the server as the CLI's Ctrl-C stops it.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use pyo3::prelude::*;
use serde_json::Value;

use crate::errors::{Kind, new_error};

/// How often the calling thread looks for signals while no event comes.
const POLL: Duration = Duration::from_millis(50);

/// Why the work was asked to stop.
#[derive(Debug)]
pub(crate) enum Stopped {
    /// A signal handler raised (Ctrl-C: `KeyboardInterrupt`).
    Signal(PyErr),
    /// The callback raised.
    Callback(PyErr),
}

impl Stopped {
    /// The Python exception that stopped the work.
    pub(crate) fn into_err(self) -> PyErr {
        match self {
            Stopped::Signal(e) | Stopped::Callback(e) => e,
        }
    }
}

enum Message<T> {
    Event(Value),
    Done(std::thread::Result<T>),
}

/// Runs `work` on a new thread; each value it emits is passed (as a Python object) to
/// `callback` on this thread. On a signal or a callback error, `stop` is called once and the
/// pump keeps waiting for `work` to end (a second signal stops waiting: the work then ends on
/// its own); after a signal the callback still gets the events of the work stopping (an error
/// it raises then is dropped: the signal is what is raised), after a callback error it gets
/// none. Returns what `work` returned and why it was stopped, if it was.
pub(crate) fn pump<T: Send + 'static>(
    py: Python<'_>,
    callback: Option<&Bound<'_, PyAny>>,
    stop: &dyn Fn(),
    work: impl FnOnce(&mut dyn FnMut(Value)) -> T + Send + 'static,
) -> PyResult<(T, Option<Stopped>)> {
    let (tx, rx) = mpsc::channel::<Message<T>>();
    std::thread::Builder::new()
        .name("comfy-local".to_owned())
        .spawn(move || {
            let events = tx.clone();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                work(&mut |value| {
                    let _ = events.send(Message::Event(value));
                })
            }));
            let _ = tx.send(Message::Done(result));
        })
        .map_err(|e| {
            new_error(
                py,
                Kind::Base,
                format!("cannot start a worker thread: {e}"),
                None,
            )
        })?;
    let mut rx = rx;
    let mut stopped: Option<Stopped> = None;
    loop {
        let (back, message) = receive(py, rx);
        rx = back;
        match message {
            // After a Ctrl-C the callback still sees how the work stops; after it raised, no more.
            Ok(Message::Event(value)) => {
                if !matches!(stopped, Some(Stopped::Callback(_)))
                    && let Some(callback) = callback
                    && let Err(e) =
                        crate::json::to_py(py, &value).and_then(|event| callback.call1((event,)))
                    && stopped.is_none()
                {
                    stop();
                    stopped = Some(Stopped::Callback(e));
                }
            }
            Ok(Message::Done(Ok(result))) => return Ok((result, stopped)),
            Ok(Message::Done(Err(_))) | Err(RecvTimeoutError::Disconnected) => {
                return Err(new_error(
                    py,
                    Kind::Base,
                    "internal error: the worker thread panicked".to_owned(),
                    None,
                ));
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        if let Err(signal) = py.check_signals() {
            if stopped.is_some() {
                // A second Ctrl-C: stop waiting (the work still stops in the background).
                return Err(signal);
            }
            stop();
            stopped = Some(Stopped::Signal(signal));
        }
    }
}

/// The next message, waited for with the interpreter released (the receiver moves to the
/// waiting closure and back: it is `Send` but not `Sync`).
fn receive<T: Send>(
    py: Python<'_>,
    rx: Receiver<Message<T>>,
) -> (Receiver<Message<T>>, Result<Message<T>, RecvTimeoutError>) {
    py.detach(move || {
        let message = rx.recv_timeout(POLL);
        (rx, message)
    })
}
