//! The Debian package, built by the one documented command (`bash
//! assets/build-deb.sh`), installed with `dpkg -i` into one of the lab's real Debian
//! hosts (an isolated root, reached over its sshd), run there, and purged again.
//!
//! Needs what the lab needs, and cargo-deb (`cargo install cargo-deb --locked`, as
//! `.ci/run` does). Builds the release binary when it is not built yet.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::lab::Lab;
use validator_failover::generate;

const HOST: &str = "backup";

/// A command on the lab host over ssh; the output whatever its status.
fn ssh(lab: &Lab, script: &str) -> Output {
    Command::new("ssh")
        .arg("-F")
        .arg(lab.ssh_config())
        .arg(HOST)
        .arg(script)
        .stdin(Stdio::null())
        .output()
        .expect("ssh runs")
}

/// The same, which must succeed; its standard output.
fn ssh_ok(lab: &Lab, script: &str) -> String {
    let out = ssh(lab, script);
    assert!(
        out.status.success(),
        "on {HOST}: {script}: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Purges the package from the host however the test ends: the lab's reset does not
/// remove packages.
struct Installed<'a>(&'a Lab);

impl Drop for Installed<'_> {
    fn drop(&mut self) {
        let _ = ssh(self.0, "dpkg --purge validator-failover");
    }
}

fn build_package(out: &Path) -> PathBuf {
    let deb = out.join("validator-failover.deb");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let built = Command::new("bash")
        .arg(root.join("assets/build-deb.sh"))
        .arg("--output")
        .arg(&deb)
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    assert!(
        built.status.success(),
        "assets/build-deb.sh: {}\n{}\n{}",
        built.status,
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
    assert!(deb.is_file(), "no package at {}", deb.display());
    deb
}

#[test]
fn the_package_installs_runs_and_purges_on_a_real_debian_host() {
    let pair = Lab::get().scenario();
    let lab = pair.lab;
    let deb = build_package(pair.tmp.path());

    // A package left over by an earlier, killed run would hide a failing install.
    ssh_ok(lab, "dpkg --purge validator-failover >/dev/null");
    let guard = Installed(lab);
    let copied = Command::new("ssh")
        .arg("-F")
        .arg(lab.ssh_config())
        .arg(HOST)
        .arg("cat > /tmp/validator-failover.deb")
        .stdin(std::fs::File::open(&deb).unwrap())
        .output()
        .unwrap();
    assert!(copied.status.success(), "{copied:?}");
    ssh_ok(lab, "dpkg -i /tmp/validator-failover.deb");

    let version = ssh_ok(lab, "validator-failover --version");
    assert_eq!(
        version.trim(),
        format!("validator-failover {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        ssh_ok(lab, "command -v validator-failover").trim(),
        "/usr/bin/validator-failover"
    );

    // Every man page the binary makes, gzipped where man finds it, equal to what the
    // installed binary prints.
    for page in generate::man_page_names() {
        ssh_ok(lab, &format!("test -s /usr/share/man/man1/{page}.gz"));
    }
    ssh_ok(
        lab,
        "validator-failover man | cmp - <(zcat /usr/share/man/man1/validator-failover.1.gz)",
    );
    // The completions where bash-completion, zsh and fish look for them, from the
    // installed binary.
    for (shell, path) in [
        (
            "bash",
            "/usr/share/bash-completion/completions/validator-failover",
        ),
        (
            "zsh",
            "/usr/share/zsh/vendor-completions/_validator-failover",
        ),
        (
            "fish",
            "/usr/share/fish/vendor_completions.d/validator-failover.fish",
        ),
    ] {
        ssh_ok(
            lab,
            &format!("validator-failover completions {shell} | cmp - {path}"),
        );
    }
    for example in [
        "example-config.toml",
        "example-inventory.ini",
        "example-inventory-config.toml",
    ] {
        let local = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("assets")
                .join(example),
        )
        .unwrap();
        let installed = ssh_ok(
            lab,
            &format!("cat /usr/share/doc/validator-failover/examples/{example}"),
        );
        assert_eq!(installed, local, "{example}");
    }
    // dpkg knows every file, and the binary owns no file outside them.
    let listed = ssh_ok(lab, "dpkg -L validator-failover");
    assert!(listed.lines().any(|l| l == "/usr/bin/validator-failover"));

    ssh_ok(lab, "dpkg --purge validator-failover");
    std::mem::forget(guard);
    let gone = ssh(
        lab,
        "command -v validator-failover || test -e /usr/share/man/man1/validator-failover.1.gz",
    );
    assert!(
        !gone.status.success(),
        "something is left after the purge: {}",
        String::from_utf8_lossy(&gone.stdout)
    );
    ssh_ok(lab, "rm -f /tmp/validator-failover.deb");
}
