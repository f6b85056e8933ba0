//! The one trait every instance source implements.

use crate::error::ProviderError;
use crate::instance::{Instance, ProviderKind};

/// A source of instances: the local host(s) from the config, or a cloud account.
///
/// Implementations are blocking and may do network I/O; they are `Send + Sync` so the backend can
/// share one behind an `Arc` across request threads.
pub trait InstanceProvider: Send + Sync {
    /// Which provider this is.
    fn kind(&self) -> ProviderKind;

    /// All instances this provider knows, in a stable order.
    fn list(&self) -> Result<Vec<Instance>, ProviderError>;

    /// One instance by its id; [`ProviderError::NotFound`] if there is none.
    fn get(&self, id: &str) -> Result<Instance, ProviderError>;

    /// Asks for the instance to run. Returns once the provider accepted the request; the instance
    /// may still be starting (poll [`InstanceProvider::get`]).
    fn start(&self, id: &str) -> Result<(), ProviderError>;

    /// Asks for the instance to stop (same contract as [`InstanceProvider::start`]).
    fn stop(&self, id: &str) -> Result<(), ProviderError>;
}
