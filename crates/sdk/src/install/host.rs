//! The host-fetch data path of `install model`: this process resolves the URL (redirects,
//! credentials per host, the file name, the range), then the host downloads the bytes itself
//! through remote-fs's [`RemoteFs::fetch_on_host`], so they cross the host's link once instead
//! of the container's twice (in, then out over SSH).
//!
//! Tokens: the host receives the final URL and the headers meant for its host, on the fetch
//! program's stdin only. A redirect target (a CDN's signed URL) gets no token, as in the
//! streamed path. A rented instance gets none at all unless the config allows it
//! (`vastai.send_download_tokens`): a download that needs one is then not fetched by the host
//! ([`InstallError::TokenStaysHere`]; `auto` streams it instead).

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use comfy_local_remote_fs::host::SftpHost;
use comfy_local_remote_fs::{FsError, HostFetch, PutOptions, RemoteFs, RemotePath};

use super::source::{Opened, SourceError};
use super::{
    InstallError, InstallEvent, InstallOutcome, InstallSpec, InstallStatus, Source, backoff,
    destination, preflight, progress,
};

/// No progress from the host for this long ends the fetch (the `.part` is kept).
const IDLE: Duration = Duration::from_secs(120);

/// Why the host fetch did not install the file, when the caller may fall back to streaming.
pub(crate) enum HostEnd {
    Done(InstallOutcome),
    /// The host could not reach the source (or has no usable Python) before any byte was
    /// written: streaming through this process may still work.
    Unreachable(InstallError),
}

/// Installs `spec` with the host downloading the bytes; `python` runs the host program.
pub(crate) fn install_on_host(
    fs: &mut RemoteFs<SftpHost>,
    source: &Source,
    spec: &InstallSpec,
    python: &str,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(&InstallEvent),
) -> Result<HostEnd, InstallError> {
    let mut dest: Option<(RemotePath, String)> = match &spec.name {
        Some(name) => {
            let d = destination(fs, &spec.folder, name)?;
            if let Some(done) = preflight(fs, &d, spec, name)? {
                return Ok(HostEnd::Done(done));
            }
            Some((d, name.clone()))
        }
        None => None,
    };
    let mut attempt = 0u32;
    loop {
        let ready = match prepare(fs, source, spec, &mut dest, on_event)? {
            Step::Ready(r) => r,
            Step::Done(done) => return Ok(HostEnd::Done(done)),
            Step::Again => continue,
            Step::TokenStaysHere(url) => {
                return Ok(HostEnd::Unreachable(InstallError::TokenStaysHere { url }));
            }
        };
        match fetch(fs, spec, python, &ready, &mut attempt, cancel, on_event)? {
            Step::Ready(end) => return Ok(end),
            Step::Done(done) => return Ok(HostEnd::Done(done)),
            Step::Again | Step::TokenStaysHere(_) => {}
        }
    }
}

/// What a step of the install decided.
enum Step<T> {
    Ready(T),
    Done(InstallOutcome),
    /// Ask the source again (the `.part` was dropped, or the name is known now).
    Again,
    /// The download needs a token the host may not be given (its URL, as shown).
    TokenStaysHere(String),
}

/// The source's answer, resolved: where the bytes go, from which byte, and what the host asks.
struct Ready {
    dest: RemotePath,
    name: String,
    start: u64,
    total: Option<u64>,
    url: String,
    headers: Vec<(String, String)>,
    url_shown: String,
}

/// Asks the source (following redirects with the credentials of each host) from the `.part`'s
/// end, settles the name, and checks the size.
fn prepare(
    fs: &mut RemoteFs<SftpHost>,
    source: &Source,
    spec: &InstallSpec,
    dest: &mut Option<(RemotePath, String)>,
    on_event: &mut dyn FnMut(&InstallEvent),
) -> Result<Step<Ready>, InstallError> {
    let creds = source.credentials();
    let offset = match dest.as_ref() {
        Some((d, _)) => fs.partial(d).map_err(InstallError::remote)?.unwrap_or(0),
        None => 0,
    };
    let opened = match source.open(&spec.url, offset) {
        Ok(o) => o,
        Err(SourceError::Status { status: 416, .. }) if offset > 0 => {
            discard(fs, dest.as_ref(), offset, on_event)?;
            return Ok(Step::Again);
        }
        Err(e) => return Err(e.into()),
    };
    let (d, name) = if let Some(found) = dest.as_ref() {
        found.clone()
    } else {
        let name = opened.file_name().ok_or_else(|| InstallError::NoFileName {
            url: creds.display_url(&opened.final_url),
        })?;
        let d = destination(fs, &spec.folder, &name)?;
        if let Some(done) = preflight(fs, &d, spec, &name)? {
            return Ok(Step::Done(done));
        }
        *dest = Some((d.clone(), name.clone()));
        if fs.partial(&d).map_err(InstallError::remote)?.unwrap_or(0) > 0 {
            return Ok(Step::Again);
        }
        (d, name)
    };
    let Some((start, total)) = range_of(&opened, offset) else {
        discard(fs, dest.as_ref(), offset, on_event)?;
        return Ok(Step::Again);
    };
    if start == 0 && offset > 0 {
        discard(fs, dest.as_ref(), offset, on_event)?;
    }
    let url_shown = creds.display_url(&opened.final_url);
    if let Some(size) = total.filter(|t| *t > spec.max_bytes) {
        return Err(InstallError::TooLarge {
            url: url_shown,
            size,
            max: spec.max_bytes,
        });
    }
    let (url, headers) = creds.request_for(&opened.final_url);
    if !spec.tokens_to_host && (!headers.is_empty() || url != opened.final_url) {
        // Tokens stay here: the host may not fetch this one itself.
        return Ok(Step::TokenStaysHere(url_shown));
    }
    Ok(Step::Ready(Ready {
        dest: d,
        name,
        start,
        total,
        url: url.to_string(),
        headers,
        url_shown,
    }))
}

/// Has the host download `ready` and maps how that ended.
fn fetch(
    fs: &mut RemoteFs<SftpHost>,
    spec: &InstallSpec,
    python: &str,
    ready: &Ready,
    attempt: &mut u32,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(&InstallEvent),
) -> Result<Step<HostEnd>, InstallError> {
    on_event(&InstallEvent::Started {
        folder: spec.folder.as_str().to_owned(),
        name: ready.name.clone(),
        url: ready.url_shown.clone(),
        total: ready.total,
        resumed_from: ready.start,
    });
    let request = HostFetch {
        url: ready.url.clone(),
        headers: ready.headers.clone(),
        python: python.to_owned(),
        max_bytes: spec.max_bytes,
        idle_timeout: IDLE,
    };
    let opts = PutOptions {
        resume: true,
        overwrite: spec.force,
        create_parents: true,
        expected_sha256: spec.sha256,
        total: ready.total,
        source_offset: Some(ready.start),
        host_python: None,
    };
    let result = fs.fetch_on_host(&ready.dest, &request, &opts, &mut |p| {
        progress(p, cancel, on_event)
    });
    let failure = match result {
        Ok(report) => {
            return Ok(Step::Done(InstallOutcome {
                status: InstallStatus::Installed,
                folder: spec.folder.as_str().to_owned(),
                name: ready.name.clone(),
                path: report.path,
                size: report.size,
                sha256: hex::encode(report.sha256),
                resumed_from: report.resumed_from,
                verified: spec.sha256.is_some(),
                via: Some(super::DataPath::Host),
                fallback: None,
            }));
        }
        Err(FsError::HostFetch { failure, .. }) => failure,
        Err(FsError::ChecksumMismatch {
            expected, actual, ..
        }) => {
            return Err(InstallError::ChecksumMismatch {
                url: ready.url_shown.clone(),
                expected,
                actual,
            });
        }
        Err(FsError::Cancelled { written, part, .. }) => {
            return Err(InstallError::Interrupted { written, part });
        }
        Err(e) => return Err(InstallError::remote(e)),
    };
    let written = fs
        .partial(&ready.dest)
        .map_err(InstallError::remote)?
        .unwrap_or(0);
    // The host program's messages may quote the URL: the token is taken out.
    let message = redact_all(&failure.message, ready);
    let error = InstallError::HostFetch {
        url: ready.url_shown.clone(),
        kind: failure.kind.clone(),
        message: message.clone(),
    };
    match failure.kind.as_str() {
        "request" | "program" if written == ready.start => {
            Ok(Step::Ready(HostEnd::Unreachable(error)))
        }
        "source" | "request" if *attempt < spec.retries => {
            *attempt += 1;
            on_event(&InstallEvent::Retrying {
                attempt: *attempt,
                written,
                error: message,
            });
            std::thread::sleep(backoff(*attempt));
            Ok(Step::Again)
        }
        "range_ignored" => {
            discard(
                fs,
                Some(&(ready.dest.clone(), ready.name.clone())),
                written,
                on_event,
            )?;
            Ok(Step::Again)
        }
        _ => Err(error),
    }
}

/// `text` without the URL the host was given (it may hold a query token) nor header values.
fn redact_all(text: &str, ready: &Ready) -> String {
    let mut out = text.replace(&ready.url, &ready.url_shown);
    for (_, value) in &ready.headers {
        if !value.is_empty() {
            out = out.replace(value.as_str(), "<redacted>");
        }
    }
    out
}

/// Where the answer starts and the file's size: `None` when it is a range other than the one
/// asked for (unusable).
fn range_of(opened: &Opened, offset: u64) -> Option<(u64, Option<u64>)> {
    match (opened.status, opened.content_range) {
        (206, Some((start, total))) if start == offset => Some((offset, total)),
        (206, _) => None,
        _ => Some((0, opened.content_length)),
    }
}

/// Drops the `.part` of `dest` (the source cannot continue it).
fn discard(
    fs: &RemoteFs<SftpHost>,
    dest: Option<&(RemotePath, String)>,
    offset: u64,
    on_event: &mut dyn FnMut(&InstallEvent),
) -> Result<(), InstallError> {
    if let Some((d, _)) = dest {
        fs.discard_partial(d).map_err(InstallError::remote)?;
    }
    if offset > 0 {
        on_event(&InstallEvent::Restarted { discarded: offset });
    }
    Ok(())
}
