//! The configuration is found where people keep it, in order: `--config`, then
//! `$VALIDATOR_FAILOVER_CONFIG`, then `$XDG_CONFIG_HOME/validator-failover/config.toml`
//! (`~/.config/…` when XDG_CONFIG_HOME is unset or empty), then
//! `/etc/validator-failover/config.toml` (replaced here by the test-only
//! `VALIDATOR_FAILOVER_TEST_SYSTEM_CONFIG`: nothing is written into the real /etc).
//!
//! Run through the real binary's `check`: each place holds a configuration whose
//! primary has another name, its hosts unreachable at once (a ProxyCommand that
//! fails), so the preflight's Configuration row says which file was used.

use std::path::{Path, PathBuf};

struct Places {
    dir: tempfile::TempDir,
}

impl Places {
    fn new() -> Places {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("ssh_config"),
            "Host *\n  ProxyCommand false\n  BatchMode yes\n",
        )
        .unwrap();
        Places { dir }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A configuration at `rel` whose primary is named `name`.
    fn put(&self, rel: &str, name: &str) -> PathBuf {
        let p = self.p(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(
            &p,
            format!(
                "[primary]\nssh = \"{name}\"\n[backup]\nssh = \"backup-of-{name}\"\n[ssh]\nconfig_file = {:?}\nconnect_timeout_secs = 2\n[failover]\nruns_dir = {:?}\n",
                self.p("ssh_config").display().to_string(),
                self.p("runs").display().to_string(),
            ),
        )
        .unwrap();
        p
    }

    fn remove(&self, rel: &str) {
        std::fs::remove_file(self.p(rel)).unwrap();
    }

    /// `check` with these places (and `args`), run from the temporary directory:
    /// (exit code, standard output and error).
    fn check(&self, args: &[&str], env: &[(&str, &Path)], xdg: Option<&Path>) -> (i32, String) {
        let mut c = assert_cmd::Command::cargo_bin("validator-failover").unwrap();
        c.current_dir(self.dir.path())
            .arg("check")
            .args(args)
            .env_remove("VALIDATOR_FAILOVER_CONFIG")
            .env("HOME", self.p("home"))
            .env(
                "VALIDATOR_FAILOVER_TEST_SYSTEM_CONFIG",
                self.p("etc/validator-failover/config.toml"),
            )
            .timeout(std::time::Duration::from_secs(60));
        match xdg {
            Some(x) => c.env("XDG_CONFIG_HOME", x),
            None => c.env_remove("XDG_CONFIG_HOME"),
        };
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

/// The preflight's Configuration row.
fn config_row(text: &str) -> &str {
    text.lines()
        .find(|l| l.contains("Configuration"))
        .unwrap_or_else(|| panic!("no Configuration row in:\n{text}"))
}

#[test]
fn check_finds_the_configuration_in_each_place_in_order() {
    let pl = Places::new();
    let xdg = pl.p("xdg");
    pl.put("etc/validator-failover/config.toml", "from-etc");
    pl.put("home/.config/validator-failover/config.toml", "from-home");
    pl.put("xdg/validator-failover/config.toml", "from-xdg");
    let env_file = pl.put("env.toml", "from-env");
    let flag_file = pl.put("flag.toml", "from-flag");
    let env = [("VALIDATOR_FAILOVER_CONFIG", env_file.as_path())];

    // All four places hold one (and --config names one): --config wins.
    let (code, text) = pl.check(&["--config", "flag.toml"], &env, Some(&xdg));
    assert_eq!(
        code, 1,
        "the hosts are unreachable: red, not bad usage: {text}"
    );
    let row = config_row(&text);
    assert!(
        row.contains("flag.toml (given with --config): primary from-flag"),
        "{row}"
    );

    // Then the variable.
    let (code, text) = pl.check(&[], &env, Some(&xdg));
    assert_eq!(code, 1, "{text}");
    let row = config_row(&text);
    assert!(
        row.contains(&format!(
            "{} (named by $VALIDATOR_FAILOVER_CONFIG): primary from-env",
            env_file.display()
        )),
        "{row}"
    );

    // Then $XDG_CONFIG_HOME.
    let (code, text) = pl.check(&[], &[], Some(&xdg));
    assert_eq!(code, 1, "{text}");
    let row = config_row(&text);
    assert!(
        row.contains(&format!(
            "{} (found in $XDG_CONFIG_HOME): primary from-xdg",
            pl.p("xdg/validator-failover/config.toml").display()
        )),
        "{row}"
    );

    // XDG_CONFIG_HOME unset, or set but empty: ~/.config.
    for xdg_value in [None, Some(Path::new(""))] {
        let (code, text) = pl.check(&[], &[], xdg_value);
        assert_eq!(code, 1, "{text}");
        let row = config_row(&text);
        assert!(
            row.contains(&format!(
                "{} (found in ~/.config): primary from-home",
                pl.p("home/.config/validator-failover/config.toml")
                    .display()
            )),
            "XDG_CONFIG_HOME={xdg_value:?}: {row}"
        );
    }

    // With XDG_CONFIG_HOME set, ~/.config is not looked at: /etc is next.
    pl.remove("xdg/validator-failover/config.toml");
    let (code, text) = pl.check(&[], &[], Some(&xdg));
    assert_eq!(code, 1, "{text}");
    let row = config_row(&text);
    assert!(
        row.contains(&format!(
            "{} (found in /etc): primary from-etc",
            pl.p("etc/validator-failover/config.toml").display()
        )),
        "{row}"
    );

    // The JSON form names the file and the place too.
    let (_, text) = pl.check(&["--json"], &[], Some(&xdg));
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON on standard output");
    assert_eq!(
        v["config"].as_str(),
        Some(pl.p("etc/validator-failover/config.toml").to_str().unwrap())
    );
    assert_eq!(v["config_origin"], "system");

    // Nowhere: the error lists every place it looked, exit 2.
    pl.remove("etc/validator-failover/config.toml");
    let (code, text) = pl.check(&[], &[], Some(&xdg));
    assert_eq!(code, 2, "{text}");
    for want in [
        "no configuration found".to_string(),
        "--config FILE: not given".to_string(),
        "$VALIDATOR_FAILOVER_CONFIG: not set".to_string(),
        format!("{}", pl.p("xdg/validator-failover/config.toml").display()),
        format!("{}", pl.p("etc/validator-failover/config.toml").display()),
    ] {
        assert!(text.contains(&want), "{want:?} in:\n{text}");
    }
    let _ = flag_file;
}

#[test]
fn a_named_configuration_that_is_missing_is_an_error_naming_it() {
    let pl = Places::new();
    pl.put("etc/validator-failover/config.toml", "from-etc");
    let (code, text) = pl.check(&["--config", "missing.toml"], &[], None);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("missing.toml: the configuration given with --config: no such file"),
        "{text}"
    );
    let gone = pl.p("gone.toml");
    let (code, text) = pl.check(&[], &[("VALIDATOR_FAILOVER_CONFIG", &gone)], None);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains(&format!(
            "{}: the configuration named by $VALIDATOR_FAILOVER_CONFIG: no such file",
            gone.display()
        )),
        "{text}"
    );
}

#[test]
fn an_inventory_alone_needs_no_configuration_and_goes_on_top_of_one_found() {
    let pl = Places::new();
    std::fs::write(
        pl.p("hosts.ini"),
        "[primary]\ninv-primary\n[backup]\ninv-backup\n",
    )
    .unwrap();
    // No configuration anywhere: the inventory's hosts with every default.
    let (code, text) = pl.check(&["--inventory", "hosts.ini"], &[], None);
    assert_eq!(code, 1, "{text}");
    assert!(
        config_row(&text).contains("no configuration file (every default): primary inv-primary"),
        "{text}"
    );
    // A configuration found: its settings, the inventory's hosts.
    pl.put("home/.config/validator-failover/config.toml", "from-home");
    let (code, text) = pl.check(&["--inventory", "hosts.ini"], &[], None);
    assert_eq!(code, 1, "{text}");
    let row = config_row(&text);
    assert!(
        row.contains("(found in ~/.config): primary inv-primary"),
        "{row}"
    );
}
