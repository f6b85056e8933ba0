//! The session pool: reuse, transparent reconnect of a dead session, and the reported failure
//! when reconnecting fails too.

use comfy_local_ssh::{Command, Pool, SshError};
use comfy_local_test_support::{Sshd, SshdConfig};

#[test]
fn reuses_and_reconnects_once() {
    let sshd = Sshd::start(SshdConfig::default());
    let pool = Pool::new(sshd.connect_options(), 2);
    let fp = {
        let s = pool.get().unwrap();
        assert!(s.exec(&Command::new("true")).unwrap().success());
        s.host_key_fingerprint()
    };
    assert_eq!(pool.idle_count(), 1);
    {
        let a = pool.get().unwrap();
        let b = pool.get().unwrap();
        assert!(a.exec(&Command::new("true")).unwrap().success());
        assert!(b.exec(&Command::new("true")).unwrap().success());
    }
    assert_eq!(pool.idle_count(), 2);
    // sshd restarts: idle sessions are dead; get() reconnects transparently.
    sshd.restart();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let s = pool.get().unwrap();
    assert!(s.exec(&Command::new("true")).unwrap().success());
    assert_eq!(s.host_key_fingerprint(), fp);
    drop(s);
    // sshd gone for good: the reconnect fails and is reported.
    sshd.kill();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let err = pool.get().unwrap_err();
    assert!(matches!(err, SshError::Reconnect { .. }), "{err:?}");
}
