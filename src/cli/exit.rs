//! Named process exit codes, the contract CI gates on. Documented in the
//! README and in `promptgate --help`.

/// Every selected case passed.
pub const SUCCESS: i32 = 0;
/// At least one assertion failed (a case reached the verdict "fail").
pub const TEST_FAILED: i32 = 1;
/// Invalid input or usage: a suite, prompt, flag or config file is wrong.
/// Nothing was run.
pub const INVALID_INPUT: i32 = 2;
/// Provider or infrastructure errors kept some cases from a verdict, and no
/// assertion failed.
pub const INFRA_ERROR: i32 = 3;

/// A second Ctrl-C aborted the run at once (128 + SIGINT, as shells report
/// a process killed by Ctrl-C). Nothing more is written.
pub const INTERRUPTED: i32 = 130;

/// The exit code table as printed in `--help`.
pub const HELP_TABLE: &str = "\
Exit codes:
  0  every selected case passed
  1  at least one assertion failed
  2  invalid input or usage (bad suite, prompt, flag or config, missing API key); nothing was run
  3  some cases reached no verdict (provider, template or assertion errors), and no assertion failed";

/// The exit code of a run's verdict: pass 0, fail 1, error 3.
pub fn of_verdict(verdict: crate::result::RunVerdict) -> i32 {
    use crate::result::RunVerdict;
    match verdict {
        RunVerdict::Pass => SUCCESS,
        RunVerdict::Fail => TEST_FAILED,
        RunVerdict::Error => INFRA_ERROR,
    }
}

/// The exit code of a registry error: 1 a refused move, 2 bad input or a
/// corrupt / newer database, 3 a locked or unavailable database.
pub fn of_registry_error(e: &crate::registry::RegistryError) -> i32 {
    use crate::registry::ErrorClass;
    match e.class() {
        ErrorClass::Refused => TEST_FAILED,
        ErrorClass::Unavailable => INFRA_ERROR,
        ErrorClass::InvalidInput => INVALID_INPUT,
    }
}

/// The exit code of the gate's overall outcome: activated (or nothing
/// changed) 0, blocked 1, error 3.
pub fn of_gate(outcome: crate::gate::GateOutcome) -> i32 {
    use crate::gate::GateOutcome;
    match outcome {
        GateOutcome::Activated => SUCCESS,
        GateOutcome::Blocked => TEST_FAILED,
        GateOutcome::Error => INFRA_ERROR,
    }
}

/// The exit code of a session that stopped: bad input 2, a registry error its own code.
pub fn of_session_error(e: &crate::session::SessionError) -> i32 {
    use crate::session::SessionError;
    match e {
        SessionError::Input(_) => INVALID_INPUT,
        SessionError::Registry(r) => of_registry_error(r),
        SessionError::Aborted(_) => INTERRUPTED,
    }
}
