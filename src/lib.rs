//! The `basins` command line: parse flags, pick the stage registry, call the engine, print.
//! Both binaries (`basins` with the real stages, `basins-testkit` with the engine's synthetic
//! kinds) are [`main_with`] with a different registry.
//!
//! - [`cli`]: the flags, one subcommand per verb, and the table that runs the verb
//! - [`command_prelude`]: the flags several verbs share, and `--json` printing
//! - [`commands`]: one module per verb (its `Args` and its `exec`)
//! - [`exit`]: exit codes, and how an error becomes one
//! - [`error`]: what the CLI itself refuses

pub mod cli;
pub mod command_prelude;
pub mod commands;
pub mod error;
pub mod exit;

use std::io::Write as _;
use std::process::ExitCode;

use basins_engine::Registry;
use clap::Parser;

/// Model stages allocate and free tensors of tens of megabytes every step; glibc's malloc
/// returns those to the kernel each time (mmap/munmap, then page faults that zero them again:
/// 17% of a CPU training step was the kernel clearing pages). mimalloc, told never to purge,
/// keeps them (see docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's option enum (v2 and v3 alike).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn keep_freed_memory() {
    // SAFETY: sets a process-wide allocator option; valid at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// This build: the version and the git commit (from `build.rs`), shown on report pages.
pub fn build() -> basins_engine::stage::Build {
    basins_engine::stage::Build {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        commit: env!("BASINS_GIT_COMMIT").to_owned(),
    }
}

/// Run the CLI with the given stage kinds.
pub fn main_with(registry: Registry) -> ExitCode {
    let registry = registry.with_build(build());
    // Behave like a Unix tool when piped into `head`: die quietly on a closed stdout.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    keep_freed_memory();
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            let code = if e.use_stderr() {
                exit::BAD_INPUT
            } else {
                exit::OK
            };
            return ExitCode::from(code);
        }
    };
    init_logging(cli.verbose);
    if cli.offline {
        // Read by every Hub client of this process and of the nodes it starts (subprocess and
        // Slurm executors inherit the environment).
        // SAFETY: no other thread exists yet (flags are parsed before any work starts).
        std::env::set_var(basins_stages::hub::OFFLINE_VAR, "1");
    }
    let cx = commands::Context {
        registry,
        cache: cli.cache,
    };
    match cli::exec(cli.command, &cx) {
        Ok(done) => ExitCode::from(done.code()),
        Err(e) => {
            // Not `eprintln!`, which panics when stderr cannot be written (an exec-node's stderr
            // is a file in the cache, and the cache may be the full disk being reported).
            let _ = writeln!(std::io::stderr(), "error: {}", error_chain(&e));
            ExitCode::from(exit::code_of(&e))
        }
    }
}

/// An error and its causes joined by ": ", each said once: many errors already include their
/// cause's text in their own message (an I/O error inside "cannot read manifest ...: ..."),
/// and anyhow's `{:#}` would print it a second time.
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
