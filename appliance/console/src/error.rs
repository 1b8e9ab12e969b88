//! Why `filterbox console` could not run.

/// A failure that ends the console (everything else is shown on screen).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// `system.json` could not be read.
    #[error(transparent)]
    Config(#[from] model::config::ConfigError),
    /// stdin/stdout could not be set up as the terminal.
    #[error("cannot use stdin/stdout as the terminal: {0}")]
    Stdio(std::io::Error),
}
