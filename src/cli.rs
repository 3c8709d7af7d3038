//! The command line (spec §4). Exit codes: 0 done, 1 failed (some red), 2 bad usage
//! or configuration, 3 stopped by a safety gate.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::check;
use crate::config::{Config, ConfigSearch, LoadError, Role};
use crate::engine::checklist::{ITEMS, ItemState};
use crate::hosts::Host;
use crate::hosts::sim::{SimTime, SimWorld};
use crate::hosts::ssh::SshHost;

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_BLOCKED: i32 = 3;

/// The exit codes and what each means, for the man pages.
pub const EXIT_CODES: [(i32, &str); 4] = [
    (
        EXIT_OK,
        "Done: the failover or rollback finished; for check, no check is red (warnings allowed).",
    ),
    (
        EXIT_FAILED,
        "Failed: a step failed, or for check some check is red or could not be observed.",
    ),
    (
        EXIT_USAGE,
        "Bad usage or configuration: nothing was touched.",
    ),
    (
        EXIT_BLOCKED,
        "Stopped by a safety gate, the reason printed on a line beginning BLOCKED:.",
    ),
];

#[derive(Debug, Parser)]
#[command(
    name = "validator-failover",
    version,
    about = "Fail a QRL Zond validator over from its primary host to its backup host, without ever signing twice",
    long_about = "Fail a QRL Zond validator (qrysm-validator, beside qrysm-beacon and gzond) over from its primary host to its backup host over SSH, without ever letting the same keys sign twice. Without a subcommand it opens the wizard on the configured hosts: the runbook's checklist, every item observed on the real hosts with its evidence, and nothing that could start a second validator until every gate is green. The same engine runs failover --non-interactive for automation; check is the read-only preflight; every run keeps a hash-chained journal that audit export renders."
)]
pub struct Cli {
    /// The configuration file (TOML). Without it: $VALIDATOR_FAILOVER_CONFIG,
    /// then $XDG_CONFIG_HOME/validator-failover/config.toml (~/.config/validator-failover/config.toml when unset),
    /// then /etc/validator-failover/config.toml.
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Take the hosts from an Ansible inventory with [primary] and [backup] groups.
    #[arg(long, short = 'i', global = true, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The read-only preflight of both hosts: exit 0 all green, 1 some red.
    Check {
        /// Print the result as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Also write the preflight as Prometheus metrics for node_exporter's textfile
        /// collector (a *.prom file in its directory, e.g.
        /// /var/lib/prometheus/node-exporter/validator-failover.prom), atomically, mode
        /// 0644. The exit status stays the preflight's; a file that cannot be written
        /// is exit 1.
        #[arg(long, value_name = "PATH")]
        textfile: Option<PathBuf>,
    },
    /// The wizard on a built-in simulated pair: no hosts, no root.
    Demo {
        /// Print the whole failover instead of opening the wizard (also when
        /// standard output is not a terminal).
        #[arg(long)]
        non_interactive: bool,
    },
    /// The whole failover with every gate, for automation: prints `RUN: <journal
    /// dir>` first, the checklist as it goes, `BLOCKED: <reason>` on a gate.
    Failover {
        /// Required: this command is for automation (the wizard is the bare command).
        #[arg(long)]
        non_interactive: bool,
        /// The backup's name, typed: confirms stopping the primary and starting the backup.
        #[arg(long, value_name = "BACKUP")]
        confirm: String,
        /// Go on when the primary cannot be reached (through the liveness gate).
        #[arg(long)]
        allow_unreachable_primary: bool,
        /// With an unreachable primary: your statement that it is fenced out of band
        /// (naming it, and how: "primary powered off at the provider"), recorded in
        /// the audit; opens the liveness gate without the wait unless the chain shows
        /// the keys signing.
        #[arg(long, value_name = "STATEMENT", requires = "allow_unreachable_primary")]
        fenced_out_of_band: Option<String>,
        /// Why: one of the runbook's reasons, or your own words.
        #[arg(long)]
        reason: Option<String>,
        /// Who runs it (default: $USER).
        #[arg(long)]
        operator: Option<String>,
    },
    /// Roll back to the primary: stop and re-lock the backup if it was unlocked,
    /// bring its slashing-protection history back to the primary, unfence and start
    /// the primary, verify. Prints `RUN: <journal dir>` first.
    Rollback {
        /// Required for now (the wizard has its own rollback screen).
        #[arg(long)]
        non_interactive: bool,
        /// The primary's name, typed: confirms the rollback.
        #[arg(long, value_name = "PRIMARY")]
        confirm: String,
        /// Why: your own words.
        #[arg(long)]
        reason: Option<String>,
        /// Who runs it (default: $USER).
        #[arg(long)]
        operator: Option<String>,
    },
    /// EMERGENCY: fence and stop both validators, verified (runbook: slashing
    /// detected or suspected). For automation, a slashing monitor say; it goes first
    /// when another run holds the pair (that run finds the fence and ends). Prints
    /// `RUN: <journal dir>` first; exit 0 once both are verified stopped and fenced.
    StopAll {
        /// Required: this command is for automation (the wizard's key is Ctrl-X).
        #[arg(long)]
        non_interactive: bool,
        /// Both hosts' names, typed, comma-separated: PRIMARY,BACKUP.
        #[arg(long, value_name = "PRIMARY,BACKUP")]
        confirm: String,
        /// Why: your own words (what the monitor saw).
        #[arg(long)]
        reason: Option<String>,
        /// Who runs it (default: $USER).
        #[arg(long)]
        operator: Option<String>,
    },
    /// The audit of a run.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print the shell completion script for bash, zsh or fish, made from these
    /// very definitions (the Debian package installs them).
    Completions {
        #[arg(value_enum)]
        shell: crate::generate::CompletionShell,
    },
    /// Print the man page (roff) on standard output, or write every page (the main
    /// one and one per subcommand) into a directory.
    Man {
        /// Write validator-failover.1 and validator-failover-<command>.1 into DIR
        /// instead of printing the main page.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Export a run's journal as the incident document (Markdown) or as JSON; a
    /// journal that was changed after it was written is refused (exit 1).
    Export {
        /// The run: its journal directory (as printed on the `RUN:` line), or its
        /// name under the configured runs directory.
        run: PathBuf,
        #[arg(long, value_enum, default_value = "md")]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Md,
    Json,
}

/// A configuration that cannot be used: said, exit 2.
fn usage(e: LoadError) -> i32 {
    eprintln!("error: {e}");
    EXIT_USAGE
}

/// The configuration every command uses: found as [`ConfigSearch`] decides
/// (`--config`, `$VALIDATOR_FAILOVER_CONFIG`, the user's, the system's), the hosts
/// taken from `--inventory` when it is given (on top of the configuration found,
/// or alone with every default when none is).
pub fn load_config(config: Option<&Path>, inventory: Option<&Path>) -> Result<Config, LoadError> {
    load_config_in(&ConfigSearch::from_env(config), inventory)
}

/// [`load_config`] over given places (tests).
pub fn load_config_in(
    search: &ConfigSearch,
    inventory: Option<&Path>,
) -> Result<Config, LoadError> {
    let Some(inv) = inventory else {
        return search.load();
    };
    let text = format!(
        "inventory = {}\n",
        toml::Value::String(inv.display().to_string())
    );
    let hosts = Config::parse(&text, Path::new("--inventory"))?;
    match search.find()? {
        Some(source) => {
            let mut cfg = Config::load_from(source)?;
            cfg.primary = hosts.primary;
            cfg.backup = hosts.backup;
            Ok(cfg)
        }
        None => Ok(hosts),
    }
}

/// The real hosts of a configuration, over SSH.
pub fn ssh_hosts(cfg: &Config) -> std::io::Result<(Arc<dyn Host>, Arc<dyn Host>)> {
    let p = SshHost::new(cfg.primary.clone(), cfg.ssh.clone())?;
    let b = SshHost::new(cfg.backup.clone(), cfg.ssh.clone())?;
    Ok((Arc::new(p), Arc::new(b)))
}

fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The runbook's checklist, as it stands before a failover.
pub fn render_checklist() -> String {
    let mut s = String::from("Checklist (runbook):\n");
    for i in ITEMS {
        s.push_str(&format!(
            "{} {:>2}. {}\n",
            ItemState::Pending.symbol(),
            i.number,
            i.title
        ));
    }
    s
}

async fn run_check(
    cfg: &Config,
    primary: Arc<dyn Host>,
    backup: Arc<dyn Host>,
    json: bool,
    textfile: Option<&Path>,
) -> i32 {
    let p = check::preflight(cfg, primary, backup).await;
    if json {
        say!(
            "{}",
            serde_json::to_string_pretty(&check::render_json(cfg, &p)).expect("JSON renders")
        );
    } else {
        print!("{}", check::render_table(&p, color()));
    }
    if let Some(path) = textfile
        && let Err(e) = crate::textfile::write_atomically(path, &crate::textfile::render(cfg, &p))
    {
        eprintln!("error: {e}");
        return EXIT_FAILED;
    }
    if p.all_green() { EXIT_OK } else { EXIT_FAILED }
}

/// Run the command line; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    match cli.command {
        Some(Command::Demo { non_interactive }) => {
            let mut cfg = Config::with_hosts("primary.demo", "backup.demo");
            cfg.validator.indices = vec![0, 1, 2, 3];
            let world = SimWorld::new(&cfg, SimTime::Real);
            if !non_interactive && std::io::stdout().is_terminal() {
                // Apart from the printed demo's runs: that one resumes an interrupted
                // run, and a fresh simulated pair has nothing to resume.
                cfg.failover.runs_dir =
                    std::env::temp_dir().join("validator-failover-demo/wizard-runs");
                cfg.failover.verify_interval = std::time::Duration::from_secs(2);
                let clock: Arc<dyn crate::driver::Clock> = Arc::new(world.clone());
                return crate::wizard::run(
                    cfg,
                    Arc::new(world.host(Role::Primary)),
                    Arc::new(world.host(Role::Backup)),
                    clock,
                    Some("demo".into()),
                    Some("demo".into()),
                    // The simulated pair starts afresh each time: nothing to resume.
                    false,
                )
                .await;
            }
            say!(
                "validator-failover demo: a simulated primary/backup pair (2 s slots, 4 slots per epoch)\n"
            );
            let code = run_check(
                &cfg,
                Arc::new(world.host(Role::Primary)),
                Arc::new(world.host(Role::Backup)),
                false,
                None,
            )
            .await;
            if code != EXIT_OK {
                return code;
            }
            say!("\n{}", render_checklist());
            say!(
                "Here is the whole failover on the simulated pair, as `failover --non-interactive --confirm {}`\nruns it on real hosts (`validator-failover demo` in a terminal opens the wizard):\n",
                cfg.backup.name
            );
            cfg.failover.runs_dir = std::env::temp_dir().join("validator-failover-demo/runs");
            cfg.failover.verify_interval = std::time::Duration::from_secs(2);
            let clock: Arc<dyn crate::driver::Clock> = Arc::new(world.clone());
            let code = crate::runner::run(
                cfg,
                Arc::new(world.host(Role::Primary)),
                Arc::new(world.host(Role::Backup)),
                clock,
                Some("demo".into()),
                Some("demo".into()),
                false,
            )
            .await;
            say!(
                "\nThe run's journal is in the RUN: directory above; `validator-failover audit export <RUN> --format md` renders it.\n{} attestations on the simulated chain, {} slashable.",
                world.attestations().len(),
                world.slashable().len()
            );
            code
        }
        Some(Command::Completions { shell }) => {
            let mut out = Vec::new();
            match crate::generate::completions(shell, &mut out) {
                Ok(()) => write_stdout(&out),
                Err(e) => {
                    eprintln!("error: cannot make the completions: {e}");
                    EXIT_FAILED
                }
            }
        }
        Some(Command::Man { out_dir: None }) => {
            let mut out = Vec::new();
            match crate::generate::man_page(&mut out) {
                Ok(()) => write_stdout(&out),
                Err(e) => {
                    eprintln!("error: cannot render the man page: {e}");
                    EXIT_FAILED
                }
            }
        }
        Some(Command::Man { out_dir: Some(dir) }) => {
            if !dir.is_dir() {
                eprintln!("error: --out-dir {}: not a directory", dir.display());
                return EXIT_USAGE;
            }
            match crate::generate::man_pages(&dir) {
                Ok(files) => {
                    for f in files {
                        say!("{}", f.display());
                    }
                    EXIT_OK
                }
                Err(e) => {
                    eprintln!(
                        "error: cannot write the man pages into {}: {e}",
                        dir.display()
                    );
                    EXIT_FAILED
                }
            }
        }
        Some(Command::Audit {
            command:
                AuditCommand::Export {
                    run,
                    format,
                    output,
                },
        }) => audit_export(&cli.config, &run, format, output.as_deref()),
        Some(Command::Failover {
            non_interactive,
            confirm,
            allow_unreachable_primary,
            fenced_out_of_band,
            reason,
            operator,
        }) => {
            let cfg = match load_config(cli.config.as_deref(), cli.inventory.as_deref()) {
                Ok(c) => c,
                Err(e) => return usage(e),
            };
            if !non_interactive {
                eprintln!(
                    "error: pass --non-interactive --confirm BACKUP (the interactive wizard is `validator-failover --config FILE`)"
                );
                return EXIT_USAGE;
            }
            if confirm != cfg.backup.name {
                eprintln!(
                    "error: --confirm must be the backup's name, {:?} (got {confirm:?})",
                    cfg.backup.name
                );
                return EXIT_USAGE;
            }
            crate::runner::over_ssh(
                cfg,
                crate::runner::Options {
                    mode: crate::runner::Mode::Failover,
                    reason,
                    operator,
                    allow_unreachable: allow_unreachable_primary,
                    fenced_out_of_band,
                    resume: true,
                },
            )
            .await
        }
        Some(Command::Rollback {
            non_interactive,
            confirm,
            reason,
            operator,
        }) => {
            let cfg = match load_config(cli.config.as_deref(), cli.inventory.as_deref()) {
                Ok(c) => c,
                Err(e) => return usage(e),
            };
            if !non_interactive {
                eprintln!(
                    "error: pass --non-interactive --confirm PRIMARY (or use the wizard's rollback screen)"
                );
                return EXIT_USAGE;
            }
            if confirm != cfg.primary.name {
                eprintln!(
                    "error: --confirm must be the primary's name, {:?} (got {confirm:?})",
                    cfg.primary.name
                );
                return EXIT_USAGE;
            }
            crate::runner::over_ssh(
                cfg,
                crate::runner::Options {
                    mode: crate::runner::Mode::Rollback,
                    reason,
                    operator,
                    allow_unreachable: false,
                    fenced_out_of_band: None,
                    resume: false,
                },
            )
            .await
        }
        Some(Command::StopAll {
            non_interactive,
            confirm,
            reason,
            operator,
        }) => {
            let cfg = match load_config(cli.config.as_deref(), cli.inventory.as_deref()) {
                Ok(c) => c,
                Err(e) => return usage(e),
            };
            if !non_interactive {
                eprintln!(
                    "error: pass --non-interactive --confirm PRIMARY,BACKUP (or use the wizard's Ctrl-X)"
                );
                return EXIT_USAGE;
            }
            // The engine judges the names (its confirmation, journaled).
            crate::runner::over_ssh(
                cfg,
                crate::runner::Options {
                    mode: crate::runner::Mode::StopAll { typed: confirm },
                    reason,
                    operator,
                    allow_unreachable: false,
                    fenced_out_of_band: None,
                    resume: false,
                },
            )
            .await
        }
        Some(Command::Check { json, textfile }) => {
            let cfg = match load_config(cli.config.as_deref(), cli.inventory.as_deref()) {
                Ok(c) => c,
                Err(e) => return usage(e),
            };
            // Before any host is probed: a file the collector would never read, or a
            // directory that is not there.
            if let Some(t) = &textfile
                && let Err(e) = crate::textfile::check_path(t)
            {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
            let (p, b) = match ssh_hosts(&cfg) {
                Ok(h) => h,
                Err(e) => {
                    eprintln!("error: cannot create a private directory for SSH sockets: {e}");
                    return EXIT_FAILED;
                }
            };
            run_check(&cfg, p, b, json, textfile.as_deref()).await
        }
        None => {
            let cfg = match load_config(cli.config.as_deref(), cli.inventory.as_deref()) {
                Ok(c) => c,
                Err(e) => return usage(e),
            };
            let (p, b) = match ssh_hosts(&cfg) {
                Ok(h) => h,
                Err(e) => {
                    eprintln!("error: cannot create a private directory for SSH sockets: {e}");
                    return EXIT_FAILED;
                }
            };
            if !std::io::stdout().is_terminal() {
                eprintln!(
                    "error: the wizard needs a terminal; for automation use `failover --non-interactive --confirm BACKUP`"
                );
                return EXIT_USAGE;
            }
            // Connect (and meet any host-key question) before the terminal goes raw:
            // both at once, each bounded by the connect timeout, so that a dead
            // host delays the wizard by that much at most.
            eprintln!(
                "connecting to the primary ({}) and the backup ({})…",
                p.describe(),
                b.describe()
            );
            let t = crate::probes::timeout(&cfg);
            let (rp, rb) = tokio::join!(p.connect(t), b.connect(t));
            for (role, r) in [(Role::Primary, rp), (Role::Backup, rb)] {
                eprint!("the {role}: ");
                match r {
                    Ok(()) => eprintln!("ok"),
                    Err(e) => eprintln!(
                        "{}: {} (the wizard shows what the engine makes of it)",
                        e.failure.as_str(),
                        e.detail
                    ),
                }
            }
            // An interrupted run of this pair is resumed (spec §3).
            crate::wizard::run(
                cfg,
                p,
                b,
                Arc::new(crate::driver::RealClock),
                None,
                None,
                true,
            )
            .await
        }
    }
}

/// Write generated text to standard output; a closed pipe (`… | head`) is no error.
fn write_stdout(bytes: &[u8]) -> i32 {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => EXIT_OK,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            EXIT_FAILED
        }
    }
}

fn audit_export(
    config: &Option<PathBuf>,
    run: &Path,
    format: ExportFormat,
    output: Option<&Path>,
) -> i32 {
    use crate::audit::{Format, export};
    let dir = if run.exists() {
        run.to_path_buf()
    } else {
        // The runs directory of the configuration found, if any; the default one
        // when there is none (an export needs no hosts).
        let runs = match ConfigSearch::from_env(config.as_deref()).find() {
            Ok(Some(source)) => match Config::load_from(source) {
                Ok(cfg) => cfg.failover.runs_dir,
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_USAGE;
                }
            },
            Ok(None) => crate::config::default_runs_dir(),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        };
        let candidate = runs.join(run);
        if !candidate.exists() {
            eprintln!(
                "error: no run {}: neither a journal directory nor a run under {}",
                run.display(),
                runs.display()
            );
            return EXIT_USAGE;
        }
        candidate
    };
    let entries = match export::read_journal(&dir) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILED;
        }
    };
    let format = match format {
        ExportFormat::Md => Format::Markdown,
        ExportFormat::Json => Format::Json,
    };
    let text = export::render(&entries, format);
    match output {
        None => {
            print!("{text}");
            EXIT_OK
        }
        Some(f) => match std::fs::write(f, text) {
            Ok(()) => {
                say!("{}", f.display());
                EXIT_OK
            }
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", f.display());
                EXIT_FAILED
            }
        },
    }
}
