//! What a finished run means beyond its cases: suite-level thresholds and
//! the paired comparison of a candidate with a baseline. Pure functions of
//! case results; nothing here runs, prints or stores anything.

pub mod compare;
pub mod thresholds;
