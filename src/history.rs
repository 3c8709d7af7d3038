//! Where the validator client keeps its slashing-protection history, found as the
//! client itself finds it (spec §1 item 3, domain.md "where the real client keeps
//! it"). Pure: the facts come in (the unit's `ExecStart`, its user's home, what is in
//! the wallet directory), the location goes out. The probes gather the facts.
//!
//! qrysm (`validator/node/node.go`, `initializeFromCLI`):
//!
//! ```text
//! dataDir := --wallet-dir                       (default ~/.zondvalidators/qrysm-wallet)
//! if a wallet was opened { dataDir = wallet.AccountsDir() }   // <wallet-dir>/<kind>: direct, derived
//! if --datadir != DefaultDataDir() { dataDir = --datadir }    // default ~/.eth2, compared as strings
//! history = filepath.Join(dataDir, "validator.db")
//! ```
//!
//! The runbook's `slashing-protection/` directory is not part of that rule: it is the
//! history only where the unit's datadir points into it.

use serde::{Deserialize, Serialize};

/// qrysm's `kv.ProtectionDbFileName`.
pub const PROTECTION_DB_FILE: &str = "validator.db";
/// qrysm's `cmd/validator/flags.WalletDefaultDirName` under `DefaultValidatorDir()`.
pub const DEFAULT_WALLET_SUBDIR: &str = ".zondvalidators/qrysm-wallet";
/// qrysm's `cmd.DefaultDataDir()` under the home directory.
pub const DEFAULT_DATADIR_SUBDIR: &str = ".eth2";
/// The keymanager kinds whose accounts directory can hold the DB (`keymanager.Kind`).
pub const WALLET_KINDS: [&str; 2] = ["direct", "derived"];

/// How the location was decided, in the operator's words (for evidence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "by")]
pub enum Rule {
    /// `--datadir` differs from the client's default.
    DataDirFlag { datadir: String },
    /// No `--datadir` (or the default one): the wallet's accounts directory.
    WalletAccounts { wallet_dir: String, kind: String },
    /// The configuration pins it (`validator.history`); the unit could not be read.
    Configured { key: String },
}

/// The history file of one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLocation {
    /// The client's datadir: the directory that holds `validator.db`.
    pub datadir: String,
    /// `<datadir>/validator.db`.
    pub file: String,
    /// The wallet directory the unit passes (keystores: never moved, archived or swapped).
    pub wallet_dir: Option<String>,
    pub rule: Rule,
}

impl HistoryLocation {
    fn in_dir(datadir: &str, wallet_dir: Option<String>, rule: Rule) -> HistoryLocation {
        let datadir = clean(datadir);
        HistoryLocation {
            file: join(&datadir, PROTECTION_DB_FILE),
            datadir,
            wallet_dir,
            rule,
        }
    }

    /// How it was found, for evidence: "`--datadir=/var/lib/qrysm/validator` in the unit's ExecStart".
    pub fn how(&self) -> String {
        match &self.rule {
            Rule::DataDirFlag { datadir } => {
                format!("--datadir={datadir} in the unit's ExecStart")
            }
            Rule::WalletAccounts { wallet_dir, kind } => format!(
                "no --datadir in the unit's ExecStart: the wallet's accounts directory {wallet_dir}/{kind}"
            ),
            Rule::Configured { key } => format!("pinned by {key} in the configuration"),
        }
    }
}

/// What the probes learn about a host's validator unit.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UnitLaunch {
    /// The command line systemd runs (`ExecStart`'s `argv[]`), program first.
    pub argv: Vec<String>,
    /// `HOME` as the service sees it: `Environment=HOME=…`, else the `User=`'s home.
    pub home: Option<String>,
    /// `User=` and `Group=` of the unit (empty: root).
    pub user: String,
    pub group: String,
    /// Which keymanager kinds have an accounts directory in the wallet directory.
    pub wallet_kinds_present: Vec<String>,
}

/// Why the location cannot be decided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocateError {
    #[error("the unit's ExecStart cannot be read: {0}")]
    ExecStart(String),
    #[error(
        "the unit passes no --datadir and its wallet directory {wallet_dir} holds {found}: the client's history cannot be told; pin it with validator.history"
    )]
    WalletKind { wallet_dir: String, found: String },
    #[error(
        "the unit passes no --datadir and the service's home directory is unknown: pin the history with validator.history"
    )]
    NoHome,
    #[error("the unit passes {flag} twice ({first} and {second})")]
    Twice {
        flag: String,
        first: String,
        second: String,
    },
    #[error("the unit passes {flag}={value}: not an absolute path")]
    Relative { flag: String, value: String },
}

/// The value of a flag as urfave/cli reads it: `--name=v`, `--name v`, `-name=v`,
/// `-name v`. None when absent; an error when given twice with different values.
pub fn flag_value(argv: &[String], name: &str) -> Result<Option<String>, LocateError> {
    let mut found: Option<String> = None;
    let mut i = 1;
    while i < argv.len() {
        let a = &argv[i];
        if a == "--" {
            break;
        }
        let bare = a.strip_prefix("--").or_else(|| a.strip_prefix('-'));
        let mut value = None;
        if let Some(b) = bare {
            if let Some(v) = b.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                value = Some(v.to_string());
            } else if b == name {
                value = argv.get(i + 1).cloned();
                i += 1;
            }
        }
        if let Some(v) = value {
            match &found {
                Some(f) if f != &v => {
                    return Err(LocateError::Twice {
                        flag: format!("--{name}"),
                        first: f.clone(),
                        second: v,
                    });
                }
                _ => found = Some(v),
            }
        }
        i += 1;
    }
    Ok(found)
}

/// Apply qrysm's rule to the unit's command line.
pub fn locate(launch: &UnitLaunch) -> Result<HistoryLocation, LocateError> {
    if launch.argv.is_empty() {
        return Err(LocateError::ExecStart("no ExecStart".into()));
    }
    let home = launch.home.as_deref().map(clean);
    let expand = |flag: &str, v: String| -> Result<String, LocateError> {
        // urfave/cli paths go through file.ExpandPath: a leading ~ is the home.
        let v = match (v.strip_prefix("~/"), &home) {
            (Some(rest), Some(h)) => join(h, rest),
            _ => v,
        };
        if !v.starts_with('/') {
            return Err(LocateError::Relative {
                flag: format!("--{flag}"),
                value: v,
            });
        }
        Ok(clean(&v))
    };
    let wallet_dir = flag_value(&launch.argv, "wallet-dir")?
        .map(|v| expand("wallet-dir", v))
        .transpose()?;
    let datadir = flag_value(&launch.argv, "datadir")?
        .map(|v| expand("datadir", v))
        .transpose()?;
    let default_datadir = home.as_deref().map(|h| join(h, DEFAULT_DATADIR_SUBDIR));
    if let Some(d) = &datadir
        && Some(d) != default_datadir.as_ref()
    {
        return Ok(HistoryLocation::in_dir(
            d,
            wallet_dir,
            Rule::DataDirFlag { datadir: d.clone() },
        ));
    }
    let wallet = match wallet_dir.clone() {
        Some(w) => w,
        None => join(
            home.as_deref().ok_or(LocateError::NoHome)?,
            DEFAULT_WALLET_SUBDIR,
        ),
    };
    let kinds: Vec<&String> = launch
        .wallet_kinds_present
        .iter()
        .filter(|k| WALLET_KINDS.contains(&k.as_str()))
        .collect();
    match kinds.as_slice() {
        [k] => Ok(HistoryLocation::in_dir(
            &join(&wallet, k),
            Some(wallet.clone()),
            Rule::WalletAccounts {
                wallet_dir: wallet,
                kind: (*k).clone(),
            },
        )),
        [] => Err(LocateError::WalletKind {
            wallet_dir: wallet,
            found: "no direct/ or derived/ accounts directory".into(),
        }),
        many => Err(LocateError::WalletKind {
            wallet_dir: wallet,
            found: format!(
                "{} accounts directories ({})",
                many.len(),
                many.iter()
                    .map(|k| format!("{k}/"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// A pin from the configuration: a file, or a directory holding `validator.db`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryPin {
    /// The configuration key that set it (for messages).
    pub key: String,
    pub path: String,
}

impl HistoryPin {
    /// The file the pin names, given whether its path is a directory on the host.
    pub fn file(&self, is_dir: bool) -> String {
        if is_dir || self.path.ends_with('/') {
            join(&clean(&self.path), PROTECTION_DB_FILE)
        } else {
            clean(&self.path)
        }
    }
}

/// The location to use for a host: the client's, checked against a pin; the pin alone
/// when the unit cannot be read. `pin_is_dir` says whether the pinned path is a
/// directory on the host.
pub fn decide(
    client: Result<HistoryLocation, LocateError>,
    pin: Option<&HistoryPin>,
    pin_is_dir: bool,
) -> Result<HistoryLocation, String> {
    match (client, pin) {
        (Ok(loc), None) => Ok(loc),
        (Ok(loc), Some(p)) => {
            let pinned = p.file(pin_is_dir);
            if pinned == loc.file {
                Ok(loc)
            } else {
                Err(format!(
                    "{} = {:?} names {pinned}, but the client keeps its history in {} ({}): they disagree",
                    p.key,
                    p.path,
                    loc.file,
                    loc.how()
                ))
            }
        }
        (Err(_), Some(p)) => {
            let file = p.file(pin_is_dir);
            let datadir = file
                .rsplit_once('/')
                .map(|(d, _)| if d.is_empty() { "/" } else { d })
                .unwrap_or("/")
                .to_string();
            Ok(HistoryLocation {
                datadir,
                file,
                wallet_dir: None,
                rule: Rule::Configured { key: p.key.clone() },
            })
        }
        (Err(e), None) => Err(e.to_string()),
    }
}

/// `systemctl show -p ExecStart` prints `{ path=/bin/x ; argv[]=/bin/x --a=1 ; … }`
/// (one such group per command). The argv of the last command, split as a shell
/// would (systemd quotes a word that needs it).
pub fn parse_exec_start(value: &str) -> Result<Vec<String>, LocateError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(LocateError::ExecStart("ExecStart is empty".into()));
    }
    let last = v
        .rsplit_once("argv[]=")
        .map(|(_, r)| r)
        .ok_or_else(|| LocateError::ExecStart(format!("no argv[] in {v:?}")))?;
    let end = last.find(" ; ").unwrap_or(last.len());
    let words = shlex::split(&last[..end]).ok_or_else(|| {
        LocateError::ExecStart(format!("unbalanced quotes in {:?}", &last[..end]))
    })?;
    if words.is_empty() {
        return Err(LocateError::ExecStart(format!("empty argv[] in {v:?}")));
    }
    Ok(words)
}

/// `HOME` from the unit's `Environment=` (space separated `K=V`, possibly quoted).
pub fn home_from_environment(environment: &str) -> Option<String> {
    shlex::split(environment)?
        .into_iter()
        .find_map(|kv| kv.strip_prefix("HOME=").map(str::to_string))
        .filter(|h| !h.is_empty())
}

fn join(dir: &str, name: &str) -> String {
    format!(
        "{}/{}",
        dir.trim_end_matches('/'),
        name.trim_start_matches('/')
    )
}

/// `/a//b/./c/` → `/a/b/c` (no `..` resolution: a path with `..` stays as given).
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            c => parts.push(c),
        }
    }
    let s = format!("/{}", parts.join("/"));
    if p.starts_with('/') {
        s
    } else {
        s[1..].to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(cmd: &str) -> UnitLaunch {
        UnitLaunch {
            argv: shlex::split(cmd).unwrap(),
            home: Some("/var/lib/qrysm".into()),
            user: "qrysm".into(),
            group: "qrysm".into(),
            wallet_kinds_present: vec!["direct".into()],
        }
    }

    #[test]
    fn the_reference_unit_keeps_it_in_the_datadir() {
        let l = locate(&launch(
            "/usr/local/bin/qrysm-validator --datadir=/var/lib/qrysm/validator --wallet-dir=/var/lib/qrysm/validator/wallet --accept-terms-of-use",
        ))
        .unwrap();
        assert_eq!(l.file, "/var/lib/qrysm/validator/validator.db");
        assert_eq!(l.datadir, "/var/lib/qrysm/validator");
        assert_eq!(
            l.wallet_dir.as_deref(),
            Some("/var/lib/qrysm/validator/wallet")
        );
        assert!(matches!(l.rule, Rule::DataDirFlag { .. }));
    }

    #[test]
    fn every_flag_spelling_urfave_accepts() {
        for cmd in [
            "q --datadir /d",
            "q -datadir /d",
            "q -datadir=/d",
            "q --datadir=/d/",
            "q --datadir=//d/.",
        ] {
            assert_eq!(
                locate(&launch(cmd)).unwrap().file,
                "/d/validator.db",
                "{cmd}"
            );
        }
        // A flag of another name that starts the same is not it.
        let l = locate(&launch("q --datadir-extra=/x --wallet-dir=/w")).unwrap();
        assert_eq!(l.file, "/w/direct/validator.db");
    }

    #[test]
    fn without_datadir_the_wallet_accounts_directory() {
        let l = locate(&launch("q --wallet-dir=/w")).unwrap();
        assert_eq!(l.file, "/w/direct/validator.db");
        let mut d = launch("q");
        d.wallet_kinds_present = vec!["derived".into(), "junk".into()];
        assert_eq!(
            locate(&d).unwrap().file,
            "/var/lib/qrysm/.zondvalidators/qrysm-wallet/derived/validator.db"
        );
    }

    #[test]
    fn the_default_datadir_given_explicitly_does_not_count() {
        // qrysm compares --datadir with DefaultDataDir() as strings.
        let l = locate(&launch("q --datadir=/var/lib/qrysm/.eth2 --wallet-dir=/w")).unwrap();
        assert_eq!(l.file, "/w/direct/validator.db");
        let l = locate(&launch("q --datadir=~/.eth2 --wallet-dir=/w")).unwrap();
        assert_eq!(l.file, "/w/direct/validator.db");
        let l = locate(&launch("q --datadir=~/vdata")).unwrap();
        assert_eq!(l.file, "/var/lib/qrysm/vdata/validator.db");
    }

    #[test]
    fn what_cannot_be_told_is_an_error_naming_why() {
        let mut d = launch("q --wallet-dir=/w");
        d.wallet_kinds_present = vec!["direct".into(), "derived".into()];
        let e = locate(&d).unwrap_err().to_string();
        assert!(
            e.contains("/w") && e.contains("direct/") && e.contains("derived/"),
            "{e}"
        );
        d.wallet_kinds_present.clear();
        assert!(locate(&d).unwrap_err().to_string().contains("no direct/"));
        let mut h = launch("q");
        h.home = None;
        assert_eq!(locate(&h).unwrap_err(), LocateError::NoHome);
        assert!(matches!(
            locate(&launch("q --datadir=/a --datadir=/b")),
            Err(LocateError::Twice { .. })
        ));
        assert!(locate(&launch("q --datadir=/a --datadir=/a")).is_ok());
        assert!(matches!(
            locate(&launch("q --datadir=rel")),
            Err(LocateError::Relative { .. })
        ));
        assert!(locate(&UnitLaunch::default()).is_err());
    }

    #[test]
    fn a_pin_agrees_or_the_item_names_both() {
        let client = locate(&launch("q --datadir=/var/lib/qrysm/validator"));
        let pin = |p: &str| HistoryPin {
            key: "validator.history".into(),
            path: p.into(),
        };
        assert!(decide(client.clone(), Some(&pin("/var/lib/qrysm/validator")), true).is_ok());
        assert!(
            decide(
                client.clone(),
                Some(&pin("/var/lib/qrysm/validator/validator.db")),
                false
            )
            .is_ok()
        );
        let e = decide(
            client.clone(),
            Some(&pin("/var/lib/qrysm/validator/slashing-protection")),
            true,
        )
        .unwrap_err();
        assert!(
            e.contains("/var/lib/qrysm/validator/slashing-protection/validator.db")
                && e.contains("/var/lib/qrysm/validator/validator.db"),
            "{e}"
        );
        // The unit unreadable: the pin alone.
        let l = decide(
            Err(LocateError::ExecStart("x".into())),
            Some(&pin("/srv/v/validator.db")),
            false,
        )
        .unwrap();
        assert_eq!(
            (l.datadir.as_str(), l.file.as_str()),
            ("/srv/v", "/srv/v/validator.db")
        );
        assert!(decide(Err(LocateError::NoHome), None, false).is_err());
    }

    #[test]
    fn exec_start_as_systemctl_prints_it() {
        let v = "{ path=/usr/local/bin/qrysm-validator ; argv[]=/usr/local/bin/qrysm-validator --datadir=/var/lib/qrysm/validator --monitoring-port=8081 ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }";
        assert_eq!(
            parse_exec_start(v).unwrap(),
            vec![
                "/usr/local/bin/qrysm-validator",
                "--datadir=/var/lib/qrysm/validator",
                "--monitoring-port=8081"
            ]
        );
        let quoted = "{ path=/q ; argv[]=/q \"--datadir=/a b\" ; ignore_errors=no }";
        assert_eq!(parse_exec_start(quoted).unwrap()[1], "--datadir=/a b");
        assert!(parse_exec_start("").is_err());
        assert!(parse_exec_start("{ path=/q ; }").is_err());
        assert!(parse_exec_start("{ path=/q ; argv[]=/q \"x ; }").is_err());
        assert_eq!(
            home_from_environment("A=1 \"HOME=/srv/q\" B=2").as_deref(),
            Some("/srv/q")
        );
        assert_eq!(home_from_environment("A=1"), None);
    }
}
