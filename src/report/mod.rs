//! Reporters: independent consumers of runner [`Event`]s. Adding a report
//! format touches no runner code.

pub mod collect;
pub mod console;
pub mod events;
pub mod github;
pub mod json;
pub mod junit;
pub mod merge;

pub use events::{Event, RunInfo};

/// A consumer of run events.
pub trait Reporter: Send {
    /// Handles one event. Errors (a report file that cannot be written) are
    /// reported by the caller and turn the run's exit code into 3.
    fn on_event(&mut self, event: &Event) -> std::io::Result<()>;
}
