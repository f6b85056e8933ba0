mod corpus;
mod local;
mod scenarios;
#[cfg(feature = "ssh")]
mod sshd;
