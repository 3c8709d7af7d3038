//! The stdin form `power::stdin_form` writes, read by the real fence-agents
//! parser: fence_ipmilan's own options, through `fencing.process_input` as the
//! agent calls it when it is given no argument (Debian `fence-agents`, installed by
//! `.ci/run`).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use validator_failover::power::{PowerAction, stdin_form};

const AGENT: &str = "/usr/sbin/fence_ipmilan";

/// What fencing.py makes of `input` with fence_ipmilan's options: `--name` → value.
fn parsed_by_fencing_py(input: &str) -> BTreeMap<String, serde_json::Value> {
    assert!(
        std::path::Path::new(AGENT).exists()
            && std::path::Path::new("/usr/share/fence/fencing.py").exists(),
        "{AGENT} is missing: apt-get install fence-agents (as .ci/run does)"
    );
    // fence_ipmilan's main() up to process_input, without running an action.
    let script = r#"
import importlib.machinery, json, sys, warnings
warnings.simplefilter("ignore")
sys.path.append("/usr/share/fence")
import fencing
agent = importlib.machinery.SourceFileLoader("fence_ipmilan_mod", sys.argv[1]).load_module()
sys.argv = [sys.argv[1]]
device_opt = ["ipaddr", "login", "no_login", "no_password", "passwd",
    "diag", "lanplus", "auth", "cipher", "privlvl", "sudo",
    "ipmitool_path", "ipmitool_timeout", "method", "target", "hexadecimal_kg"]
agent.define_new_opts()
opt = fencing.process_input(device_opt)
print(json.dumps(opt))
"#;
    // The agent's own interpreter (its shebang), with the Debian modules it imports.
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", script, AGENT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "fencing.py: {stderr}");
    assert!(
        !stderr.contains("Ignoring"),
        "fencing.py ignored part of the form: {stderr}"
    );
    serde_json::from_slice(&out.stdout).expect("the options as JSON")
}

#[test]
fn fencing_py_reads_every_option_and_the_password_as_written() {
    let options = BTreeMap::from([
        ("ip".to_string(), "127.0.0.1".to_string()),
        ("ipport".to_string(), "6230".to_string()),
        ("lanplus".to_string(), "1".to_string()),
        ("username".to_string(), " ad\"min ".to_string()),
        ("ipmitool-timeout".to_string(), "3".to_string()),
    ]);
    for password in [
        "plain",
        "\"quoted\"",
        " spaces around ",
        "a=b=c",
        "#not-a-comment",
        "it's $(x) `y`",
    ] {
        for action in [PowerAction::Status, PowerAction::Off, PowerAction::On] {
            let opt = parsed_by_fencing_py(&stdin_form(&options, Some(password), action));
            let s = |k: &str| opt.get(k).and_then(|v| v.as_str()).map(str::to_string);
            assert_eq!(s("--password").as_deref(), Some(password), "{opt:?}");
            assert_eq!(s("--action").as_deref(), Some(action.as_str()));
            assert_eq!(s("--ip").as_deref(), Some("127.0.0.1"));
            assert_eq!(s("--ipport").as_deref(), Some("6230"));
            assert_eq!(s("--lanplus").as_deref(), Some("1"));
            assert_eq!(s("--username").as_deref(), Some(" ad\"min "));
            assert_eq!(s("--ipmitool-timeout").as_deref(), Some("3"));
        }
    }
    // Without a password, none is set.
    let opt = parsed_by_fencing_py(&stdin_form(&options, None, PowerAction::Status));
    assert!(!opt.contains_key("--password"), "{opt:?}");
}
