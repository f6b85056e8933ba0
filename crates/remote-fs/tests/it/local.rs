//! The host-side scenarios on this machine through `LocalHost` (`std::fs`).

use comfy_local_remote_fs::host::LocalHost;

use crate::scenarios::{self, Fixture};

#[test]
fn refuses_escapes() {
    scenarios::refuses_escapes(&Fixture::new(), LocalHost);
}

#[test]
fn symlinked_root_works() {
    scenarios::symlinked_root_works(&Fixture::new(), LocalHost);
}

#[test]
fn put_get_resume() {
    scenarios::put_get_resume(&Fixture::new(), LocalHost);
}

#[test]
fn model_files_and_listing() {
    scenarios::model_files_and_listing(&Fixture::new(), LocalHost);
}

#[test]
fn bad_roots() {
    scenarios::bad_roots(&Fixture::new(), || LocalHost);
}

#[test]
fn probe_write() {
    scenarios::probe_write(&Fixture::new(), LocalHost);
}
