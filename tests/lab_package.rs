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

/// What the test adds to the host beside the package (the lab's reset removes none of
/// it): a configuration and the textfile directory.
const CLEAN: &str = "systemctl reset-failed validator-failover-check.service 2>/dev/null; \
    rm -rf /etc/validator-failover /var/lib/prometheus /tmp/validator-failover.deb";

/// Purges the package from the host, and removes what the test added, however the
/// test ends: the lab's reset does not remove packages.
struct Installed<'a>(&'a Lab);

impl Drop for Installed<'_> {
    fn drop(&mut self) {
        let _ = ssh(self.0, &format!("dpkg --purge validator-failover; {CLEAN}"));
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
    ssh_ok(
        lab,
        &format!("dpkg --purge validator-failover >/dev/null; {CLEAN}"),
    );
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
    for source in [
        "example-config.toml",
        "example-inventory.ini",
        "example-inventory-config.toml",
        "prometheus/validator-failover-alerts.yml",
    ] {
        let local = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("assets")
                .join(source),
        )
        .unwrap();
        let example = Path::new(source).file_name().unwrap().to_str().unwrap();
        let installed = ssh_ok(
            lab,
            &format!("cat /usr/share/doc/validator-failover/examples/{example}"),
        );
        assert_eq!(installed, local, "{example}");
    }
    let listed = ssh_ok(lab, "dpkg -L validator-failover");
    assert!(listed.lines().any(|l| l == "/usr/bin/validator-failover"));

    // The units, as systemd reads them: valid, and not enabled by the package (the
    // timer needs a configuration first).
    for unit in [
        "validator-failover-check.service",
        "validator-failover-check.timer",
    ] {
        let path = format!("/usr/lib/systemd/system/{unit}");
        assert!(listed.lines().any(|l| l == path), "{unit} not installed");
        let local = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("assets/systemd")
                .join(unit),
        )
        .unwrap();
        assert_eq!(ssh_ok(lab, &format!("cat {path}")), local, "{unit}");
    }
    ssh_ok(lab, "systemctl daemon-reload");
    let verify = ssh(
        lab,
        "systemd-analyze verify --man=no validator-failover-check.service validator-failover-check.timer",
    );
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify: {}\n{}",
        verify.status,
        String::from_utf8_lossy(&verify.stderr)
    );
    let enabled = ssh(lab, "systemctl is-enabled validator-failover-check.timer");
    assert_eq!(String::from_utf8_lossy(&enabled.stdout).trim(), "disabled");

    // The service run by systemd, under its own sandbox (ProtectSystem=strict, the
    // textfile directory the only one written): a pair that cannot be reached, so
    // red, exit 1, and the textfile written all the same, saying so.
    ssh_ok(
        lab,
        "mkdir -p /etc/validator-failover /var/lib/prometheus/node-exporter && \
         printf '[primary]\\nssh = \"127.0.0.1:1\"\\n[backup]\\nssh = \"127.0.0.1:2\"\\n[ssh]\\nconnect_timeout_secs = 5\\n' \
           >/etc/validator-failover/config.toml",
    );
    let started = ssh(lab, "systemctl start validator-failover-check.service");
    assert!(
        !started.status.success(),
        "a red preflight fails the unit, as check's exit status 1"
    );
    let shown = ssh_ok(
        lab,
        "systemctl show -p ExecMainStatus --value validator-failover-check.service",
    );
    assert_eq!(shown.trim(), "1", "check's exit status");
    let prom = "/var/lib/prometheus/node-exporter/validator-failover.prom";
    assert_eq!(ssh_ok(lab, &format!("stat -c %a {prom}")).trim(), "644");
    let text = ssh_ok(lab, &format!("cat {prom}"));
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("the textfile parses");
    let ok = |host: &str, check: &str| {
        scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == "validator_failover_check_ok"
                    && s.labels.get("host") == Some(host)
                    && s.labels.get("check") == Some(check)
            })
            .map(|s| s.value.clone())
    };
    for host in ["primary", "backup"] {
        assert_eq!(
            ok(host, "ssh"),
            Some(prometheus_parse::Value::Gauge(0.0)),
            "{host}:\n{text}"
        );
    }

    ssh_ok(
        lab,
        &format!("dpkg --purge validator-failover && {{ {CLEAN}; }}"),
    );
    std::mem::forget(guard);
    let gone = ssh(
        lab,
        "command -v validator-failover || test -e /usr/share/man/man1/validator-failover.1.gz \
         || test -e /usr/lib/systemd/system/validator-failover-check.timer",
    );
    assert!(
        !gone.status.success(),
        "something is left after the purge: {}",
        String::from_utf8_lossy(&gone.stdout)
    );
}
