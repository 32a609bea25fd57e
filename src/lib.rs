//! promptgate: regression testing and CI gating for LLM prompts.
//!
//! The flow of one run (see `README.md` and the design notes):
//! suite files are loaded and validated ([`suite`]), prompt files are loaded and
//! hashed ([`prompt`]), the [`runner`] plans one case per suite × prompt ×
//! provider × test, renders the prompt, asks the [`provider`] (or the
//! [`recording`] store) for a completion, evaluates the [`assertion`]s and emits
//! [`runner::Event`]s that independent reporters ([`report`]) turn into a console
//! report, JUnit XML, JSON and GitHub Actions annotations.

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

// The README's Rust examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
