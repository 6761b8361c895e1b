//! Logging through tracing: `--log FILTER` or RUST_LOG, `-v`/`-q`, `--log-format`.

use std::io::IsTerminal;

use clap::ValueEnum;

/// What most commands log: warnings (Kademlia's warning that it has no peer to bootstrap
/// from yet is left out: a local network's nodes meet each other directly).
pub(crate) const DEFAULT_FILTER: &str = "warn,libp2p_kad=error";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event.
    Json,
}

/// The logging flags, resolved once a command knows its default.
#[derive(Debug, Clone)]
pub(crate) struct Logging {
    pub(crate) filter: Option<String>,
    pub(crate) verbose: u8,
    pub(crate) quiet: bool,
    pub(crate) format: LogFormat,
}

/// The filter for the pictor crates at `level`, other crates at warnings: a bare level
/// (`info`) is expanded, anything else is taken as a whole filter.
pub(crate) fn pictor_at(level: &str) -> String {
    let level = level.trim();
    let bare = ["error", "warn", "info", "debug", "trace", "off"]
        .iter()
        .any(|l| l.eq_ignore_ascii_case(level));
    if bare {
        format!("{DEFAULT_FILTER},pictor={level}")
    } else {
        level.to_owned()
    }
}

impl Logging {
    /// The filter in force: RUST_LOG, else `--log`, else `-q`, else `-v`, else `default`.
    fn filter(&self, default: &str) -> String {
        if let Some(env) = std::env::var("RUST_LOG")
            .ok()
            .filter(|f| !f.trim().is_empty())
        {
            return env;
        }
        if let Some(filter) = &self.filter {
            return filter.clone();
        }
        if self.quiet {
            return "error".to_owned();
        }
        match self.verbose {
            0 => default.to_owned(),
            1 => pictor_at("info"),
            2 => pictor_at("debug"),
            _ => pictor_at("trace"),
        }
    }

    /// Starts logging to stderr with `default` as the filter when no flag names one.
    pub(crate) fn init(&self, default: &str) {
        let filter = tracing_subscriber::EnvFilter::new(self.filter(default));
        let ansi = std::io::stderr().is_terminal();
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        let _ = match self.format {
            LogFormat::Text => builder.with_ansi(ansi).try_init(),
            LogFormat::Json => builder.json().try_init(),
        };
    }
}
