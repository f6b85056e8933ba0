//! Instances behind one `InstanceProvider` trait: the local host from the config, and VastAI.
//!
//! Not implemented yet: the instances/CLI issue fills this crate.
