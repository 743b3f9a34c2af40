//! The console binary's commands: serve the console (the default), or hash a password for the
//! operators file.

use clap::{Parser, Subcommand};

/// The operators' console: paid orders not fulfilled and why, and the actions that fix them.
#[derive(Debug, Parser)]
#[command(name = "console", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the console (the default).
    Serve,
    /// Read a password from standard input (one line) and print its Argon2id hash, for a line
    /// `name role hash` of the operators file. Reads no settings.
    HashPassword,
}
