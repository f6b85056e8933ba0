//! `GET /api/jobs/{id}/events`: a job's events as Server-Sent Events (`event:` the name, `id:`
//! its sequence number, `data:` one JSON object), from the one after `Last-Event-ID` on; the
//! stream ends after `done` or `error` (a finished job replays and ends at once) or when the
//! backend stops.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use futures_util::stream::{self, BoxStream, StreamExt as _};
use tokio::sync::watch;

use super::responses::{NoSuchJob, Unauthorized};
use super::{ApiPath, blocking};
use crate::AppState;
use crate::error::ApiError;
use crate::jobs::{Live, Subscription, is_final};
use crate::store::StoredEvent;

fn sse(event: &StoredEvent) -> Event {
    Event::default()
        .event(&event.name)
        .id(event.seq.to_string())
        .data(&event.data)
}

/// The sequence number the client has seen (`Last-Event-ID`), 0 when absent or unreadable.
fn last_event_id(headers: &HeaderMap) -> u64 {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// A job's events as they come: `queued` (`stage`: `accepted`, `prepared`, `uploaded`,
/// `submitted`, `waiting`), `node` (`state`: `running`, `cached`, `executed`), `progress`,
/// `output` (an output record), and last `done` (`result`) or `error` (`code`, `message`,
/// `hint`, `state`).
#[utoipa::path(get, path = "/api/jobs/{id}/events", tag = "jobs",
    params(("id" = String, Path, description = "A job id"),
           ("Last-Event-ID" = Option<String>, Header, description = "The `id:` of the last event seen: the stream starts after it")),
    responses((status = 200, description = "The event stream", content_type = "text/event-stream", body = crate::api::openapi::SseEventDoc),
              NoSuchJob,
              Unauthorized))]
pub async fn stream(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let after = last_event_id(&headers);
    let stopping = app.stopping.clone();
    let subscription = blocking(move || {
        app.jobs
            .subscribe(&id, after)?
            .ok_or_else(|| ApiError::unknown_job(&id))
    })
    .await?;
    let events: BoxStream<'static, Result<Event, Infallible>> = match subscription {
        Subscription::Finished(events) => {
            stream::iter(events.into_iter().map(|e| Ok(sse(&e)))).boxed()
        }
        Subscription::Live(live) => follow(live, after, stopping).boxed(),
    };
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Where a live stream is.
struct Cursor {
    live: Arc<Live>,
    changes: watch::Receiver<u64>,
    /// The last sequence number sent.
    sent: u64,
    queue: VecDeque<StoredEvent>,
    ended: bool,
    stopping: watch::Receiver<bool>,
}

fn follow(
    live: Arc<Live>,
    after: u64,
    stopping: watch::Receiver<bool>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let changes = live.watch();
    let cursor = Cursor {
        live,
        changes,
        sent: after,
        queue: VecDeque::new(),
        ended: false,
        stopping,
    };
    stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(event) = c.queue.pop_front() {
                c.sent = event.seq;
                c.ended = is_final(&event);
                return Some((Ok(sse(&event)), c));
            }
            if c.ended || *c.stopping.borrow() {
                return None;
            }
            c.changes.borrow_and_update();
            let new = c.live.since(c.sent);
            if !new.is_empty() {
                c.queue.extend(new);
                continue;
            }
            tokio::select! {
                result = c.changes.changed() => {
                    if result.is_err() {
                        // The job's sender is gone with it: what it announced is in `live`.
                        c.queue.extend(c.live.since(c.sent));
                        c.ended = c.queue.is_empty();
                    }
                }
                _ = c.stopping.changed() => return None,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    #[test]
    fn last_event_id_is_read_leniently() {
        let mut headers = HeaderMap::new();
        assert_eq!(super::last_event_id(&headers), 0);
        headers.insert("last-event-id", "7".parse().unwrap());
        assert_eq!(super::last_event_id(&headers), 7);
        headers.insert("last-event-id", "x".parse().unwrap());
        assert_eq!(super::last_event_id(&headers), 0);
    }
}
