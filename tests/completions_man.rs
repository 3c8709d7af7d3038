//! `validator-failover completions` and `validator-failover man` come from the binary,
//! made from the one clap definition: every subcommand and option clap knows (read
//! from `generate::command()`, never a hand list) is what the real shells complete,
//! and the pages render with groff without a warning.
//!
//! Needs bash, fish, zsh and groff (`apt-get install fish zsh groff-base man-db`, as
//! `.ci/run` does); a missing one fails the test, naming it.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use validator_failover::generate;

fn bin() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("validator-failover").unwrap()
}

/// What the binary prints for these arguments (exit 0 required).
fn output_of(args: &[&str]) -> Vec<u8> {
    let out = bin().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "validator-failover {}: {}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.is_empty(), "{} printed nothing", args.join(" "));
    out.stdout
}

fn tool(name: &str, package: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{name} is not installed: apt-get install {package} (as .ci/run does)"
    );
    String::from_utf8(found.stdout).unwrap().trim().to_string()
}

/// The subcommands clap knows.
fn subcommands() -> BTreeSet<String> {
    generate::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect()
}

/// The long options of a subcommand (its own and the global ones), as `--name`.
fn long_options(sub: &str) -> BTreeSet<String> {
    options_at(&[sub])
}

/// The long options of the subcommand at `path` (`["audit", "export"]`).
fn options_at(path: &[&str]) -> BTreeSet<String> {
    let mut cmd = generate::command();
    for p in path {
        cmd = cmd.find_subcommand(p).expect("subcommand").clone();
    }
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long())
        .map(|l| format!("--{l}"))
        .collect()
}

/// Every subcommand path clap knows, nested ones too (`audit export`).
fn subcommand_paths() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_string());
            out.push(path.clone());
            walk(sub, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(&generate::command(), &[], &mut out);
    out
}

fn write_script(dir: &Path, name: &str, args: &[&str]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, output_of(args)).unwrap();
    path
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What bash's completion function, as the script registers it, offers for `words`
/// (the last being the word under the cursor).
fn bash_complete(script: &Path, words: &[&str]) -> BTreeSet<String> {
    const DRIVER: &str = r#"
source "$1"; shift
spec=$(complete -p validator-failover) || exit 3
fn=${spec##*-F }; fn=${fn%% *}
COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
"$fn" validator-failover "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let out = run(Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(DRIVER)
        .arg("driver")
        .arg(script)
        .args(words));
    out.split_whitespace().map(String::from).collect()
}

#[test]
fn bash_completes_every_subcommand_and_option_clap_knows() {
    tool("bash", "bash");
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(dir.path(), "vf.bash", &["completions", "bash"]);
    let offered = bash_complete(&script, &["validator-failover", ""]);
    let subs = subcommands();
    assert!(subs.contains("check") && subs.contains("man"), "{subs:?}");
    for s in &subs {
        assert!(offered.contains(s), "bash does not offer {s}: {offered:?}");
    }
    let paths = subcommand_paths();
    assert!(paths.iter().any(|p| p == &["audit", "export"]), "{paths:?}");
    for path in &paths {
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        let options = options_at(&path);
        assert!(options.contains("--help"), "{path:?}: {options:?}");
        let mut words = vec!["validator-failover"];
        words.extend(&path);
        words.push("--");
        let offered = bash_complete(&script, &words);
        for o in &options {
            assert!(
                offered.contains(o),
                "bash does not offer {o} after {path:?}: {offered:?}"
            );
        }
    }
    // The shells of `completions` itself, from its value enum.
    let shells = bash_complete(&script, &["validator-failover", "completions", ""]);
    for s in ["bash", "zsh", "fish"] {
        assert!(shells.contains(s), "{shells:?}");
    }
}

#[test]
fn fish_loads_the_script_and_completes_every_subcommand_and_option() {
    let fish = tool("fish", "fish");
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(dir.path(), "vf.fish", &["completions", "fish"]);
    run(Command::new(&fish).arg("-n").arg(&script));
    let complete = |line: &str| -> BTreeSet<String> {
        let out = run(Command::new(&fish)
            .arg("--no-config")
            .arg("-c")
            .arg("source $argv[1]; complete -C $argv[2]")
            .arg(&script)
            .arg(line));
        // One candidate a line: the word, then a tab and its description.
        out.lines()
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect()
    };
    let offered = complete("validator-failover ");
    assert_eq!(
        offered,
        subcommands(),
        "fish offers exactly the subcommands clap knows"
    );
    for path in subcommand_paths() {
        let offered = complete(&format!("validator-failover {} --", path.join(" ")));
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        for o in options_at(&path) {
            assert!(
                offered.contains(&o),
                "fish does not offer {o} after {path:?}: {offered:?}"
            );
        }
    }
}

#[test]
fn zsh_loads_the_script_into_compinit_and_lists_every_subcommand() {
    let zsh = tool("zsh", "zsh");
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(dir.path(), "_validator-failover", &["completions", "zsh"]);
    run(Command::new(&zsh).arg("-n").arg(&script));
    // Loaded as zsh loads a completion function from $fpath: registered for the
    // command; its list of commands read through a stand-in for `_describe`, which
    // prints what it would offer ("name:description").
    let out = run(Command::new(&zsh)
        .arg("-f")
        .arg("-c")
        .arg(
            r#"fpath=("$1" $fpath); autoload -Uz compinit; compinit -u -D
print -r -- "registered: ${_comps[validator-failover]}"
autoload -Uz _validator-failover
_describe() { print -rl -- "${(@P)4}" }
_arguments() { return 0 }
source "$1/_validator-failover" >/dev/null 2>&1
_validator-failover_commands"#,
        )
        .arg("driver")
        .arg(dir.path()));
    assert!(
        out.lines().next() == Some("registered: _validator-failover"),
        "{out}"
    );
    let listed: BTreeSet<String> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split(':').next())
        .map(String::from)
        .collect();
    assert_eq!(
        listed,
        subcommands(),
        "zsh lists exactly the subcommands clap knows"
    );
}

/// groff's warnings (all of them, `-ww`) on a page: must be none.
fn groff_warnings(page: &[u8]) -> String {
    let groff = tool("groff", "groff-base");
    let mut child = Command::new(groff)
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(page).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "groff: {}", out.status);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The page as `man` shows it (formatted, plain text).
fn rendered(page: &Path) -> String {
    tool("man", "man-db");
    run(Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANWIDTH", "200")
        .env("MAN_KEEP_FORMATTING", "")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat"))
}

#[test]
fn the_man_page_is_valid_roff_and_names_every_subcommand() {
    let page = output_of(&["man"]);
    let text = String::from_utf8(page.clone()).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with(".TH validator-failover 1 ")),
        "no .TH line:\n{text}"
    );
    let warnings = groff_warnings(&page);
    assert!(warnings.is_empty(), "groff warns:\n{warnings}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("validator-failover.1");
    std::fs::write(&file, &page).unwrap();
    let shown = rendered(&file);
    for s in subcommands() {
        assert!(
            shown.contains(&format!("validator-failover-{s}(1)")),
            "the page does not name {s}:\n{shown}"
        );
    }
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS"] {
        assert!(
            shown.lines().any(|l| l == section),
            "no {section} section:\n{shown}"
        );
    }
}

#[test]
fn every_page_is_written_and_renders_without_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["man", "--out-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut written: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    written.sort();
    let mut expected = generate::man_page_names();
    expected.sort();
    assert_eq!(written, expected);
    for s in subcommands() {
        assert!(
            written.contains(&format!("validator-failover-{s}.1")),
            "{s} has no page"
        );
    }
    for name in &written {
        let path = dir.path().join(name);
        let warnings = groff_warnings(&std::fs::read(&path).unwrap());
        assert!(warnings.is_empty(), "{name}: groff warns:\n{warnings}");
        let page = name.trim_end_matches(".1");
        let shown = rendered(&path);
        let named = shown
            .lines()
            .skip_while(|l| *l != "NAME")
            .nth(1)
            .and_then(|l| l.split_whitespace().next());
        assert_eq!(named, Some(page), "{name}: NAME:\n{shown}");
    }
    // A subcommand's page has its own options.
    let check = rendered(&dir.path().join("validator-failover-check.1"));
    for o in long_options("check") {
        assert!(check.contains(&o), "the check page lacks {o}:\n{check}");
    }
}

#[test]
fn man_out_dir_that_is_not_a_directory_is_refused() {
    let out = bin()
        .args(["man", "--out-dir", "/nonexistent/validator-failover-man"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--out-dir /nonexistent/validator-failover-man: not a directory"),
        "{err}"
    );
}
