//! Our reading of Ansible inventories against the real Ansible's: for each
//! inventory under `tests/inventories/` (INI and YAML, with and without an
//! extension, groups of groups, variables at every level and in `group_vars/` and
//! `host_vars/`, quoted values, bastions in `ansible_ssh_common_args`), the real
//! `ansible-inventory -i FILE --list` is run and compared with ours: every host's
//! variables, every group's hosts, and how the pair's two hosts are reached
//! (address, user, port, key, the ssh options split as Python's `shlex.split`
//! splits them, the way Ansible's ssh plugin does, and `become`).
//!
//! `ansible-inventory` is found through `VF_ANSIBLE_INVENTORY`, else the venv
//! `.ci/run` makes (`/opt/vf-ansible/bin/ansible-inventory`), else the PATH. On CI
//! (`CI=true`) a missing one fails the test; elsewhere the test says so and skips.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;
use validator_failover::config::{Config, HostSource, Privilege, Role};
use validator_failover::inventory::{Inventory, Value};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The real ansible-inventory, or None (skip) off CI.
fn ansible_inventory() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("VF_ANSIBLE_INVENTORY").map(PathBuf::from),
        Some(PathBuf::from("/opt/vf-ansible/bin/ansible-inventory")),
    ];
    for c in candidates.into_iter().flatten() {
        if c.is_file() {
            return Some(c);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let c = dir.join("ansible-inventory");
            if c.is_file() {
                return Some(c);
            }
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "ansible-inventory is not installed: .ci/run installs ansible-core from PyPI into /opt/vf-ansible (or set VF_ANSIBLE_INVENTORY)"
        );
    }
    eprintln!(
        "SKIPPED: ansible-inventory not found (python3 -m venv /opt/vf-ansible && /opt/vf-ansible/bin/pip install ansible-core, or set VF_ANSIBLE_INVENTORY)"
    );
    None
}

/// The Python that runs ansible-inventory (its shebang), for `shlex.split`.
fn python_of(ansible: &Path) -> PathBuf {
    let text = std::fs::read_to_string(ansible).expect("ansible-inventory is a script");
    let first = text.lines().next().unwrap_or("");
    let interp = first
        .strip_prefix("#!")
        .expect("ansible-inventory starts with a shebang")
        .split_whitespace()
        .collect::<Vec<_>>();
    match interp.as_slice() {
        [env, prog, ..] if env.ends_with("/env") => PathBuf::from(prog),
        [p, ..] => PathBuf::from(p),
        [] => PathBuf::from("python3"),
    }
}

fn python_shlex(python: &Path, s: &str) -> Vec<String> {
    let out = Command::new(python)
        .args([
            "-c",
            "import json, shlex, sys; print(json.dumps([w.strip() for w in shlex.split(sys.argv[1]) if w.strip()]))",
            s,
        ])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON list")
}

/// `ansible-inventory -i FILE --list`, from the crate's root (the inventories name
/// their key relative to it), with no configuration of the machine's.
fn ansible_list(ansible: &Path, file: &Path) -> Json {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("ansible.cfg");
    std::fs::write(&cfg, "[defaults]\n").unwrap();
    let out = Command::new(ansible)
        .current_dir(root())
        .args(["-i"])
        .arg(file)
        .arg("--list")
        .env("ANSIBLE_CONFIG", &cfg)
        .env("ANSIBLE_HOME", home.path())
        .env("ANSIBLE_LOCAL_TEMP", home.path())
        .env("ANSIBLE_INVENTORY_UNPARSED_FAILED", "true")
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .expect("ansible-inventory runs");
    assert!(
        out.status.success(),
        "ansible-inventory -i {} --list failed:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ansible-inventory prints JSON")
}

fn ours_as_json(v: &Value) -> Option<Json> {
    Some(match v {
        Value::Str(s) => Json::String(s.clone()),
        Value::Int(n) => Json::from(*n),
        Value::Float(f) => Json::from(*f),
        Value::Bool(b) => Json::Bool(*b),
        Value::Null => Json::Null,
        // Lists and mappings are not read here (never a connection variable).
        Value::Other(_) | Value::Vault => return None,
    })
}

/// A group's hosts in Ansible's listing, with its children's.
fn ansible_members(list: &Json, group: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let g = &list[group];
    for h in g["hosts"].as_array().into_iter().flatten() {
        out.insert(h.as_str().unwrap().to_string());
    }
    for c in g["children"].as_array().into_iter().flatten() {
        out.extend(ansible_members(list, c.as_str().unwrap()));
    }
    out
}

/// What Ansible's ssh plugin makes of a host's variables.
#[derive(Debug, PartialEq)]
struct Expected {
    address: String,
    user: Option<String>,
    port: Option<u16>,
    key: Option<PathBuf>,
    args: Vec<String>,
    privilege: Privilege,
}

/// Ansible's `boolean()` of a JSON value, as its become option takes it.
fn ansible_bool(v: &Json) -> bool {
    match v {
        Json::Bool(b) => *b,
        Json::Number(n) => n.as_f64() == Some(1.0),
        Json::String(s) => match s.trim().to_lowercase().as_str() {
            "y" | "yes" | "on" | "1" | "true" | "t" => true,
            "n" | "no" | "off" | "0" | "false" | "f" => false,
            other => panic!("not a boolean Ansible reads: {other:?}"),
        },
        other => panic!("not a boolean Ansible reads: {other}"),
    }
}

fn expected(python: &Path, name: &str, vars: &Json) -> Expected {
    let s = |k: &str| vars.get(k).and_then(Json::as_str).map(str::to_string);
    // The `ansible_ssh_` spelling wins where both are set (MAGIC_VARIABLE_MAPPING).
    let port = vars
        .get("ansible_ssh_port")
        .or_else(|| vars.get("ansible_port"))
        .map(|p| match p {
            Json::Number(n) => n.as_u64().unwrap() as u16,
            Json::String(s) => s.parse().unwrap(),
            other => panic!("port {other}"),
        });
    let mut args = Vec::new();
    for k in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        if let Some(a) = s(k) {
            args.extend(python_shlex(python, &a));
        }
    }
    let user = s("ansible_ssh_user").or_else(|| s("ansible_user"));
    // become with sudo, to ansible_become_user (default root); a login that is
    // already that user needs no sudo.
    let become_ = vars.get("ansible_become").is_some_and(ansible_bool);
    let become_user = s("ansible_become_user").unwrap_or_else(|| "root".into());
    let privilege = if become_ && user.as_deref() != Some(become_user.as_str()) {
        Privilege::Sudo { user: become_user }
    } else {
        Privilege::Login
    };
    Expected {
        address: s("ansible_ssh_host")
            .or_else(|| s("ansible_host"))
            .unwrap_or_else(|| name.to_string()),
        user,
        privilege,
        port,
        key: s("ansible_ssh_private_key_file")
            .or_else(|| s("ansible_private_key_file"))
            .map(PathBuf::from),
        args,
    }
}

fn compare(ansible: &Path, rel: &str) {
    let file = root().join(rel);
    let list = ansible_list(ansible, &file);
    let python = python_of(ansible);
    // Relative key paths are read from the current directory, as Ansible reads them.
    std::env::set_current_dir(root()).unwrap();
    let inv = Inventory::load(&file).unwrap_or_else(|e| panic!("{rel}: {e}"));

    // Every group's hosts.
    let groups: Vec<&String> = list
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "_meta")
        .collect();
    for g in &groups {
        let theirs = ansible_members(&list, g);
        let ours: BTreeSet<String> = inv
            .group_hosts(g)
            .unwrap_or_else(|| panic!("{rel}: no group {g} here"))
            .into_iter()
            .collect();
        assert_eq!(ours, theirs, "{rel}: the hosts of group {g}");
    }

    // Every host's variables.
    let hostvars = list["_meta"]["hostvars"].as_object().unwrap();
    for (host, theirs) in hostvars {
        let ours = inv
            .host_vars(host)
            .unwrap_or_else(|| panic!("{rel}: no host {host} here"));
        let theirs = theirs.as_object().unwrap();
        let our_keys: BTreeSet<&String> = ours.keys().collect();
        let their_keys: BTreeSet<&String> = theirs.keys().collect();
        assert_eq!(our_keys, their_keys, "{rel}: the variables of {host}");
        for (k, v) in &ours {
            if let Some(ours) = ours_as_json(&v.value) {
                assert_eq!(
                    Some(&ours),
                    theirs.get(k),
                    "{rel}: {host}'s {k} (ours from {}:{:?})",
                    v.file.display(),
                    v.line
                );
            }
        }
    }

    // The pair, as reached.
    let cfg = Config::parse(
        &format!("inventory = {:?}\n", file.display().to_string()),
        &root().join("from-test.toml"),
    )
    .unwrap_or_else(|e| panic!("{rel}: {e}"));
    for role in Role::BOTH {
        let members = ansible_members(&list, role.as_str());
        assert_eq!(members.len(), 1, "{rel}: one {role} in Ansible's reading");
        let name = members.first().unwrap();
        let want = expected(&python, name, &hostvars[name]);
        let c = inv.connection(role).unwrap();
        let got = Expected {
            address: c.address.clone(),
            user: c.user.clone(),
            port: c.port,
            key: c.identity_file.clone(),
            args: c.ssh_args.clone(),
            privilege: cfg.host(role).privilege.clone(),
        };
        assert_eq!(got, want, "{rel}: how the {role} is reached");
        let spec = cfg.host(role);
        assert_eq!(
            (
                &spec.name,
                &spec.destination,
                &spec.user,
                spec.port,
                &spec.identity_file,
                &spec.ssh_args
            ),
            (
                name,
                &want.address,
                &want.user,
                want.port,
                &want.key,
                &want.args
            ),
            "{rel}: the {role} as configured"
        );
        assert_eq!(
            spec.given_in,
            HostSource::Inventory {
                file: file.clone(),
                unread: Vec::new()
            }
        );
    }
}

#[test]
fn our_reading_of_inventories_is_ansibles() {
    let Some(ansible) = ansible_inventory() else {
        return;
    };
    let cases = [
        "tests/inventories/ini/hosts.ini",
        "tests/inventories/yaml/inventory.yml",
        "tests/inventories/noext-yaml/hosts",
        "tests/inventories/noext-ini/inventory",
        "assets/example-inventory.ini",
        "assets/example-inventory.yml",
    ];
    for rel in cases {
        compare(&ansible, rel);
    }
}
