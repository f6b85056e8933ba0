//! The host-side scenarios against a real OpenSSH sshd through SFTP (crates/test-support).
//! The fake ComfyUI install is built in the sshd's scratch directory; the sshd's user owns it.

use comfy_local_remote_fs::host::SftpHost;
use comfy_local_ssh::Session;
use comfy_local_test_support::Sshd;

use crate::scenarios::{self, Fixture};

fn sftp() -> SftpHost {
    let session = Session::connect(&Sshd::shared().connect_options()).expect("connect to sshd");
    SftpHost::open(session).expect("start SFTP")
}

#[test]
fn refuses_escapes() {
    scenarios::refuses_escapes(&Fixture::new(), sftp());
}

#[test]
fn symlinked_root_works() {
    scenarios::symlinked_root_works(&Fixture::new(), sftp());
}

#[test]
fn put_get_resume() {
    scenarios::put_get_resume(&Fixture::new(), sftp());
}

#[test]
fn model_files_and_listing() {
    scenarios::model_files_and_listing(&Fixture::new(), sftp());
}

#[test]
fn bad_roots() {
    scenarios::bad_roots(&Fixture::new(), sftp);
}

#[test]
fn probe_write() {
    scenarios::probe_write(&Fixture::new(), sftp());
}
