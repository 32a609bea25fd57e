//! The `promptgate` binary: all work happens in the library.
fn main() -> std::process::ExitCode {
    promptgate::cli::main()
}
