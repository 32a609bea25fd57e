//! promptgate: regression testing and CI gating for LLM prompts.
//!
//! The flow of one run: suite files are loaded and validated ([`suite`]),
//! prompt files are loaded and hashed ([`prompt`]), the [`runner`] plans one
//! case per suite × prompt × provider × test case × repeat, renders the
//! prompt, asks the [`provider`] (through its layers: recordings, response
//! cache, budget, call log, retries) for a completion, evaluates the
//! [`assertion`]s and emits [`report::Event`]s that independent reporters
//! ([`report`]) turn into a console report, JUnit XML, JSON and GitHub
//! Actions annotations. [`analysis`] judges suite-level thresholds and the
//! comparison with a baseline; the [`registry`] keeps prompt versions and
//! runs; [`session`] orchestrates a run; [`cli`] maps outcomes to exit codes.
//!
//! Imports point one way, bottom to top (`tests/architecture.rs` keeps it so):
//! `diagnostic`, `util`, `stats` → [`settings`] → [`provider`] →
//! [`recording`] → [`cache`] → [`template`] → [`prompt`] → [`result`] →
//! [`assertion`] → [`analysis`] → [`suite`] → [`report`] → [`runner`] →
//! [`registry`] → [`session`] → [`cli`].

#![warn(missing_docs)]

pub mod analysis;
pub mod assertion;
pub mod cache;
pub mod cli;
pub mod diagnostic;
#[cfg(feature = "fake-provider")]
pub mod fake_provider;
pub mod gate;
pub mod prompt;
pub mod provider;
pub mod recording;
pub mod registry;
pub mod report;
pub mod result;
pub mod runner;
pub mod session;
pub mod settings;
pub mod stats;
pub mod suite;
pub mod template;
pub mod util;

// The Rust examples of the book's library chapter are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/src/library.md")]
pub struct LibraryDoctests;
