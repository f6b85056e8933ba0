mod corpus;
#[cfg(feature = "ssh")]
mod flush;
mod local;
mod scenarios;
#[cfg(feature = "ssh")]
mod sshd;
