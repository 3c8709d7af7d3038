//! What the binary says about itself, from the one clap definition in [`crate::cli`]:
//! shell completions (`clap_complete`) and man pages (`clap_mangen`). The Debian
//! package (`assets/build-deb.sh`) ships exactly what these print.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

use crate::cli::{Cli, EXIT_CODES};

/// The shells the completions are made for (and the package installs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

impl CompletionShell {
    fn generator(self) -> clap_complete::Shell {
        match self {
            CompletionShell::Bash => clap_complete::Shell::Bash,
            CompletionShell::Zsh => clap_complete::Shell::Zsh,
            CompletionShell::Fish => clap_complete::Shell::Fish,
        }
    }
}

/// The program's name, as installed and as the completions register it.
pub const BIN_NAME: &str = "validator-failover";

/// The command line as clap knows it, built (global options propagated to every
/// subcommand, bin names set), without clap's own `help` subcommand: what the
/// completions and the man pages are made from.
pub fn command() -> clap::Command {
    let mut cmd = Cli::command()
        .bin_name(BIN_NAME)
        .disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// The completion script for `shell`.
pub fn completions(shell: CompletionShell, out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = command();
    let mut script = Vec::new();
    clap_complete::generate(shell.generator(), &mut cmd, BIN_NAME, &mut script);
    if shell == CompletionShell::Bash {
        script = respell_bash_states(&String::from_utf8_lossy(&script)).into_bytes();
    }
    out.write_all(&script)
}

/// clap_complete 4.6's bash script spells the state of a hyphenated program's
/// subcommand two ways (clap-rs/clap#6421, not fixed in 4.6.12): the loop that reads
/// the words sets `validator__failover__subcmd__check`, the case arms that complete
/// expect `validator__subcmd__failover__subcmd__check`, so nothing after a subcommand
/// ever completed. The arms are respelt as the loop spells them; once clap_complete
/// spells them alike this changes nothing (tests/completions_man.rs completes every
/// option of every subcommand through the real bash).
fn respell_bash_states(script: &str) -> String {
    const SEP: &str = "__subcmd__";
    let arms = format!("{}{SEP}", BIN_NAME.replace('-', SEP));
    let state = format!("{}{SEP}", BIN_NAME.replace('-', "__"));
    script.replace(&arms, &state)
}

/// What the Debian package installs beside the binary, for the main page's FILES.
const FILES: [(&str, &str); 3] = [
    (
        "/usr/share/doc/validator-failover/examples/",
        "The example configuration (every key with its default), an Ansible inventory, and Prometheus alert rules for the metrics of check --textfile.",
    ),
    (
        "/usr/lib/systemd/system/validator-failover-check.timer",
        "Runs validator-failover-check.service every hour: the read-only preflight of /etc/validator-failover/config.toml, written for node_exporter's textfile collector to /var/lib/prometheus/node-exporter/validator-failover.prom. Not enabled by the package: systemctl enable --now validator-failover-check.timer once the configuration is in place.",
    ),
    (
        "/var/lib/prometheus/node-exporter/",
        "The directory Debian's prometheus-node-exporter reads *.prom files from.",
    ),
];

/// One man page, in roff: clap_mangen's sections, then the exit status and the
/// pages to see.
fn render_page(cmd: &clap::Command, is_main: bool, out: &mut dyn Write) -> io::Result<()> {
    let man = Man::new(cmd.clone()).source(format!("{BIN_NAME} {}", env!("CARGO_PKG_VERSION")));
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(out)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(out)?;
    }
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in EXIT_CODES {
        roff.control("TP", []);
        roff.text([bold(code.to_string())]);
        roff.text([roman(meaning)]);
    }
    if is_main {
        roff.control("SH", ["FILES"]);
        for (path, what) in FILES {
            roff.control("TP", []);
            roff.text([roman(path)]);
            roff.text([roman(what)]);
        }
    }
    roff.control("SH", ["SEE ALSO"]);
    let mut see: Vec<String> = Vec::new();
    if !is_main {
        see.push(format!("{BIN_NAME}(1)"));
    }
    see.extend(["ssh(1)", "ssh_config(5)", "systemd.timer(5)"].map(String::from));
    roff.text([roman(see.join(", "))]);
    roff.to_writer(out)?;
    if cmd.get_version().or(cmd.get_long_version()).is_some() {
        man.render_version_section(out)?;
    }
    Ok(())
}

/// The main page, `validator-failover(1)`: what `validator-failover man` prints.
pub fn man_page(out: &mut dyn Write) -> io::Result<()> {
    render_page(&command(), true, out)
}

/// Every page: the main one and one per subcommand, as clap_mangen names them
/// (`validator-failover-check.1`, `validator-failover-audit-export.1`), each written
/// into `dir`. Returns the files written, the main page first.
pub fn man_pages(dir: &Path) -> io::Result<Vec<PathBuf>> {
    fn walk(
        cmd: &clap::Command,
        is_main: bool,
        dir: &Path,
        written: &mut Vec<PathBuf>,
    ) -> io::Result<()> {
        let name = format!("{}.1", cmd.get_display_name().unwrap_or(cmd.get_name()));
        let path = dir.join(name);
        let mut file = io::BufWriter::new(std::fs::File::create(&path)?);
        render_page(cmd, is_main, &mut file)?;
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        written.push(path);
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, false, dir, written)?;
        }
        Ok(())
    }
    let mut written = Vec::new();
    walk(&command(), true, dir, &mut written)?;
    Ok(written)
}

/// The names of every page [`man_pages`] writes, from the command tree.
pub fn man_page_names() -> Vec<String> {
    fn walk(cmd: &clap::Command, names: &mut Vec<String>) {
        names.push(format!(
            "{}.1",
            cmd.get_display_name().unwrap_or(cmd.get_name())
        ));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, names);
        }
    }
    let mut names = Vec::new();
    walk(&command(), &mut names);
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_has_a_page_named_as_the_main_page_refers_to_it() {
        let mut main = Vec::new();
        man_page(&mut main).unwrap();
        let main = String::from_utf8(main).unwrap();
        let names = man_page_names();
        assert_eq!(names[0], "validator-failover.1");
        for sub in command().get_subcommands() {
            let page = format!("validator-failover-{}", sub.get_name());
            assert!(names.contains(&format!("{page}.1")), "{page} has no page");
            // roff escapes the hyphens.
            let named = format!("{page}(1)").replace('-', "\\-");
            assert!(
                main.contains(&named),
                "the main page does not name {page}(1)"
            );
        }
        assert!(names.contains(&"validator-failover-audit-export.1".to_string()));
    }

    #[test]
    fn pages_say_the_exit_codes_from_the_cli_table() {
        let mut main = Vec::new();
        man_page(&mut main).unwrap();
        let main = String::from_utf8(main).unwrap();
        assert!(main.contains(".SH \"EXIT STATUS\""), "{main}");
        for (code, _) in EXIT_CODES {
            assert!(
                main.contains(&format!("\\fB{code}\\fR")),
                "exit {code} missing"
            );
        }
    }
}
