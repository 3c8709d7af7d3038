//! The configuration: a TOML file (spec §5), optionally with the hosts taken from an
//! Ansible inventory. Every key but the two hosts defaults to the runbook's value.
//!
//! Errors name the file, the line and the key, so that an engineer woken at night can
//! fix the file without reading the source.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// Which role a host plays in the failover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Primary,
    Backup,
}

impl Role {
    pub const BOTH: [Role; 2] = [Role::Primary, Role::Backup];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Backup => "backup",
        }
    }

    pub fn other(self) -> Role {
        match self {
            Role::Primary => Role::Backup,
            Role::Backup => Role::Primary,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a host is reached over SSH.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostSpec {
    pub role: Role,
    /// What the engineer calls the host (the inventory name or the ssh destination).
    pub name: String,
    /// The ssh destination: an alias from ssh_config, a host, or `user@host`.
    pub destination: String,
    pub user: Option<String>,
    pub port: Option<u16>,
    /// The only key offered (`-i` with `IdentitiesOnly=yes`): the inventory's
    /// `ansible_ssh_private_key_file`, else `[ssh] identity_file`.
    pub identity_file: Option<PathBuf>,
    /// More ssh options, word by word, passed after this program's own (which
    /// win: host keys are always verified): the inventory's
    /// `ansible_ssh_common_args` and `ansible_ssh_extra_args`.
    pub ssh_args: Vec<String>,
    /// How commands that need privileges run there.
    pub privilege: Privilege,
    /// Where the host was given.
    pub given_in: HostSource,
}

/// How the commands run on a host, all of which need privileges (systemctl,
/// the history, the journal): Ansible's `become`, with sudo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "as")]
pub enum Privilege {
    /// As the SSH login user: root, or `become` is off.
    Login,
    /// Through `sudo -n -H -u USER --`, non-interactively: never a password.
    Sudo { user: String },
}

impl Privilege {
    /// The one place that decides: with `become`, commands go through sudo unless
    /// the login user is known to be the user to become (root logging in as root).
    pub fn decide(become_: bool, become_user: &str, login: Option<&str>) -> Privilege {
        if !become_ || login == Some(become_user) {
            Privilege::Login
        } else {
            Privilege::Sudo {
                user: become_user.to_string(),
            }
        }
    }
}

/// Where a host of the pair was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostSource {
    /// A `[primary]` or `[backup]` table of the configuration (or built in).
    Config,
    /// An Ansible inventory's `primary` or `backup` group.
    Inventory {
        file: PathBuf,
        /// Variable files that apply to the host and were left unread
        /// (encrypted with ansible-vault).
        unread: Vec<PathBuf>,
    },
}

impl HostSpec {
    /// How commands run there, for a description of the host (None: as root).
    pub fn privilege_note(&self) -> Option<String> {
        match (&self.privilege, self.user.as_deref()) {
            (Privilege::Sudo { user }, _) => Some(format!("commands through sudo -n to {user}")),
            (Privilege::Login, Some(u)) if u != "root" => Some(format!(
                "commands run as {u}, without sudo: [ssh] become is off"
            )),
            (Privilege::Login, _) => None,
        }
    }

    /// The destination as the engineer would type it, with user and port.
    pub fn display_destination(&self) -> String {
        let mut s = String::new();
        if let Some(u) = &self.user {
            s.push_str(u);
            s.push('@');
        }
        s.push_str(&self.destination);
        if let Some(p) = self.port {
            s.push_str(&format!(":{p}"));
        }
        s
    }
}

/// Which beacon API prefix a host serves (domain.md: qrysm is `/zond/v1`, newer `/qrl/v1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BeaconFlavour {
    Zond,
    Qrl,
    Eth,
}

impl BeaconFlavour {
    pub const ALL: [BeaconFlavour; 3] =
        [BeaconFlavour::Zond, BeaconFlavour::Qrl, BeaconFlavour::Eth];
    pub fn prefix(self) -> &'static str {
        match self {
            BeaconFlavour::Zond => "/zond/v1",
            BeaconFlavour::Qrl => "/qrl/v1",
            BeaconFlavour::Eth => "/eth/v1",
        }
    }
}

/// Which JSON-RPC method reports the execution client's sync state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionFlavour {
    Zond,
    Qrl,
    Eth,
}

impl ExecutionFlavour {
    pub const ALL: [ExecutionFlavour; 3] = [
        ExecutionFlavour::Zond,
        ExecutionFlavour::Qrl,
        ExecutionFlavour::Eth,
    ];
    pub fn syncing_method(self) -> &'static str {
        match self {
            ExecutionFlavour::Zond => "zond_syncing",
            ExecutionFlavour::Qrl => "qrl_syncing",
            ExecutionFlavour::Eth => "eth_syncing",
        }
    }
}

/// How the slashing-protection history travels (spec §1 item 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferMethod {
    /// The runbook's tar.gz of the slashing-protection directory.
    Archive,
    /// The client's EIP-3076 export on the primary and import on the backup.
    Eip3076,
}

/// A TCP endpoint on a host's own loopback, as the host sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SshSettings {
    pub config_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub server_alive_interval: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct ValidatorSettings {
    pub service: String,
    pub process_name: String,
    pub data_dir: String,
    pub slashing_protection: String,
    pub lock_file: String,
    pub owner: String,
    pub indices: Vec<u64>,
    pub binary: String,
    /// `validator.history`: pins the history (a file, or a directory holding
    /// `validator.db`). Unset: where the client keeps it, read from the unit.
    pub history: Option<crate::history::HistoryPin>,
}

impl ValidatorSettings {
    /// The absolute path of the slashing-protection directory.
    pub fn slashing_protection_dir(&self) -> String {
        join_remote(&self.data_dir, &self.slashing_protection)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BeaconSettings {
    pub endpoint: Endpoint,
    pub api: Option<BeaconFlavour>,
    pub max_sync_distance: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExecutionSettings {
    pub endpoint: Endpoint,
    pub api: Option<ExecutionFlavour>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailoverSettings {
    pub method: TransferMethod,
    pub liveness_epochs: u64,
    pub runs_dir: PathBuf,
    pub operator: Option<String>,
    pub max_clock_skew: Duration,
    /// How long `systemctl stop` may take before the escalation to SIGKILL.
    pub stop_timeout: Duration,
    /// Time between the two stop checks of item 1.
    pub verify_interval: Duration,
    /// How long the Start gate may stay shut before the failover gives up.
    pub gate_timeout: Duration,
}

/// `[notify]`: who is told what happens to a run, and how long one send may take.
/// Secrets (webhook URLs, the Telegram bot token) are named here by where they are
/// (a file or an environment variable), never held: they are read when a run starts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NotifySettings {
    pub targets: Vec<NotifyTarget>,
    /// The most one send may take (connect, request, answer; or the command's run).
    pub timeout: Duration,
    /// The notices held per target while its sends lag; when full, the oldest is
    /// dropped (and counted).
    pub queue: usize,
}

/// One target of `[notify]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotifyTarget {
    /// How it is named in the journal and in messages (`name`, or `webhook 1`, …).
    pub name: String,
    /// Where it is in the configuration (`notify.webhook[1]`): named in messages.
    pub key: String,
    pub kind: NotifyKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyKind {
    /// An HTTP POST of the notice as JSON, in the generic form or Slack's.
    Webhook {
        format: WebhookFormat,
        url: SecretSource,
    },
    /// The Bot API's `sendMessage` (`<api_url>/bot<token>/sendMessage`).
    Telegram {
        api_url: String,
        token: SecretSource,
        chat_id: String,
    },
    /// A program run with these arguments (never through a shell): the notice as
    /// JSON on its standard input, a few `VF_*` environment variables.
    Command { argv: Vec<String> },
}

/// The body a webhook is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// The notice as data (`{"notice": …, "run": …, "text": …}`).
    Json,
    /// A Slack incoming webhook's `{"text": …}`.
    Slack,
}

/// Where a secret is read when a run starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretSource {
    /// A file (its content, surrounding whitespace left out).
    File(PathBuf),
    /// An environment variable of the process.
    Env(String),
}

/// `[primary.fence]` / `[backup.fence]`: a power-fence device for the host, driven
/// through a ClusterLabs fence-agents agent on the operator's machine
/// (`src/power.rs`). The password is named here by where it is, never held: it is
/// read when the agent runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FenceSettings {
    /// Where it is in the configuration (`primary.fence`): named in messages.
    pub key: String,
    /// The agent's bare name (`fence_ipmilan`), looked up on the operator's PATH
    /// when it runs.
    pub agent: FenceAgentName,
    /// The agent's own options (`ip`, `ipport`, `lanplus`, `username`, ...), by
    /// its own names, as given. Never a password (`password_file`/`password_env`)
    /// nor the action (chosen per call).
    pub options: std::collections::BTreeMap<String, String>,
    /// Where the password is read when the agent runs (None: the agent gets none).
    pub password: Option<SecretSource>,
    /// The most one run of the agent may take; then it is killed
    /// (`call_timeout_secs`, default [`FENCE_CALL_TIMEOUT_SECS`]).
    pub call_timeout: Duration,
    /// After `off` (or `on`), how long `status` is asked until it reports the
    /// state (`off_wait_secs`, default [`FENCE_OFF_WAIT_SECS`]).
    pub off_wait: Duration,
    /// Between two of those `status` calls ([`FENCE_STATUS_INTERVAL`]).
    pub status_interval: Duration,
}

/// `call_timeout_secs`' default: fence_ipmilan's own `off` waits up to its
/// `power_timeout` (20 s) and `power_wait` (2 s) around `ipmitool` calls of
/// 2 s × retries.
pub const FENCE_CALL_TIMEOUT_SECS: u64 = 60;
/// `off_wait_secs`' default.
pub const FENCE_OFF_WAIT_SECS: u64 = 60;
/// The interval between two `status` calls while waiting for a power state.
pub const FENCE_STATUS_INTERVAL: Duration = Duration::from_secs(1);

/// A fence agent's name as fence-agents names them: `fence_` and lower-case
/// letters, digits and `_` (a bare name, looked up on PATH: never a path).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FenceAgentName(String);

impl FenceAgentName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for FenceAgentName {
    type Error = String;
    fn try_from(s: String) -> Result<FenceAgentName, String> {
        let ok = s.strip_prefix("fence_").is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
        if ok {
            Ok(FenceAgentName(s))
        } else {
            Err(format!(
                "{s:?} is not a fence-agents agent's name: a bare name matching fence_[a-z0-9_]+ (e.g. fence_ipmilan), found on PATH; not a path"
            ))
        }
    }
}

impl From<FenceAgentName> for String {
    fn from(a: FenceAgentName) -> String {
        a.0
    }
}

impl fmt::Display for FenceAgentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The option names the configuration may not give a fence agent: the action is
/// chosen per call, the password has its own keys (and never sits in the file).
pub const FENCE_RESERVED_OPTIONS: [&str; 4] = ["action", "password", "passwd", "password_script"];

/// The validated configuration: everything the failover needs to know.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// The file it was read from and how it was found (None for the built-in demo,
    /// and for hosts from `--inventory` alone).
    pub source: Option<ConfigSource>,
    pub primary: HostSpec,
    pub backup: HostSpec,
    pub ssh: SshSettings,
    pub validator: ValidatorSettings,
    pub beacon: BeaconSettings,
    pub execution: ExecutionSettings,
    pub metrics: Endpoint,
    /// Glob of the backup archives, as the runbook names them.
    pub backups: String,
    pub failover: FailoverSettings,
    pub notify: NotifySettings,
    /// `[primary.fence]`: the primary's power-fence device, if any.
    pub primary_fence: Option<FenceSettings>,
    /// `[backup.fence]`: the backup's power-fence device, if any.
    pub backup_fence: Option<FenceSettings>,
}

impl Config {
    pub fn host(&self, role: Role) -> &HostSpec {
        match role {
            Role::Primary => &self.primary,
            Role::Backup => &self.backup,
        }
    }

    /// The host's power-fence device (`[primary.fence]`, `[backup.fence]`), if one
    /// is configured.
    pub fn fence(&self, role: Role) -> Option<&FenceSettings> {
        match role {
            Role::Primary => self.primary_fence.as_ref(),
            Role::Backup => self.backup_fence.as_ref(),
        }
    }

    /// A configuration with every default and the given hosts (the demo uses it).
    pub fn with_hosts(primary: &str, backup: &str) -> Config {
        let text = format!(
            "[primary]\nssh = {}\n[backup]\nssh = {}\n",
            toml_string(primary),
            toml_string(backup)
        );
        Config::parse(&text, Path::new("<built-in>")).expect("built-in configuration parses")
    }

    /// Read and validate a configuration file given by name (as `--config` does).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_from(ConfigSource {
            path: path.to_path_buf(),
            origin: ConfigOrigin::Flag,
        })
    }

    /// Read and validate the configuration file [`ConfigSearch::find`] found.
    pub fn load_from(source: ConfigSource) -> Result<Config, ConfigError> {
        let path = source.path.as_path();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: None,
            message: format!(
                "cannot read the configuration ({}): {e}",
                source.origin.describe()
            ),
        })?;
        let mut cfg = Config::parse(&text, path)?;
        cfg.source = Some(source);
        Ok(cfg)
    }

    /// Parse and validate configuration text; `path` is only used in messages and to
    /// resolve relative paths (the inventory, the ssh config).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            ConfigError {
                file: path.to_path_buf(),
                line,
                key: None,
                message: e.message().trim().to_string(),
            }
        })?;
        let v = Validator { text, path };
        raw.validate(&v)
    }
}

// ---------------------------------------------------------------------------
// Where the configuration is found: `--config`, then `$VALIDATOR_FAILOVER_CONFIG`,
// then the user's `$XDG_CONFIG_HOME/validator-failover/config.toml` (`~/.config` when
// XDG_CONFIG_HOME is unset or empty), then the system's
// `/etc/validator-failover/config.toml`. One function decides, for every command.

/// The environment variable that names the configuration file.
pub const CONFIG_ENV: &str = "VALIDATOR_FAILOVER_CONFIG";
/// The system-wide configuration.
pub const SYSTEM_CONFIG: &str = "/etc/validator-failover/config.toml";
/// For the test suite only: replaces [`SYSTEM_CONFIG`], so that tests never depend
/// on (or write into) the real `/etc`.
pub const TEST_SYSTEM_CONFIG_ENV: &str = "VALIDATOR_FAILOVER_TEST_SYSTEM_CONFIG";
/// The file's name under a configuration directory.
const USER_CONFIG: &str = "validator-failover/config.toml";

/// Which of the places the configuration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConfigOrigin {
    /// `--config FILE` (or a path given by a program).
    Flag,
    /// `$VALIDATOR_FAILOVER_CONFIG`.
    Env,
    /// `$XDG_CONFIG_HOME/validator-failover/config.toml`.
    XdgConfigHome,
    /// `~/.config/validator-failover/config.toml`: XDG_CONFIG_HOME is unset or empty.
    HomeConfig,
    /// `/etc/validator-failover/config.toml`.
    System,
}

impl ConfigOrigin {
    /// How the place is named to a person ("from $XDG_CONFIG_HOME").
    pub fn describe(self) -> &'static str {
        match self {
            ConfigOrigin::Flag => "given with --config",
            ConfigOrigin::Env => "named by $VALIDATOR_FAILOVER_CONFIG",
            ConfigOrigin::XdgConfigHome => "found in $XDG_CONFIG_HOME",
            ConfigOrigin::HomeConfig => "found in ~/.config",
            ConfigOrigin::System => "found in /etc",
        }
    }
}

/// A configuration file and how it was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigSource {
    pub path: PathBuf,
    pub origin: ConfigOrigin,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.path.display(), self.origin.describe())
    }
}

/// The places to look for the configuration, as this process sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSearch {
    /// `--config`.
    pub flag: Option<PathBuf>,
    /// `$VALIDATOR_FAILOVER_CONFIG` (empty counts as unset).
    pub env: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME` (empty counts as unset).
    pub xdg_config_home: Option<PathBuf>,
    /// `$HOME` (empty counts as unset).
    pub home: Option<PathBuf>,
    /// `/etc/validator-failover/config.toml`, unless a test replaced it.
    pub system: PathBuf,
}

/// One place looked at, and what was there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Looked {
    pub origin: ConfigOrigin,
    /// The file, or None when the place is not defined (flag not given, variable unset).
    pub path: Option<PathBuf>,
}

/// No configuration in any of the places: says every place it looked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound {
    pub looked: Vec<Looked>,
}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "no configuration found; looked, in this order, at:")?;
        for l in &self.looked {
            let what = match (l.origin, &l.path) {
                (ConfigOrigin::Flag, _) => "--config FILE: not given".to_string(),
                (ConfigOrigin::Env, _) => format!("${CONFIG_ENV}: not set"),
                (ConfigOrigin::XdgConfigHome, Some(p)) => {
                    format!(
                        "{} ($XDG_CONFIG_HOME/{USER_CONFIG}): no such file",
                        p.display()
                    )
                }
                (ConfigOrigin::XdgConfigHome, None) => {
                    "$XDG_CONFIG_HOME: not set (so ~/.config)".to_string()
                }
                (ConfigOrigin::HomeConfig, Some(p)) => {
                    format!("{} (~/.config/{USER_CONFIG}): no such file", p.display())
                }
                (ConfigOrigin::HomeConfig, None) => {
                    format!("~/.config/{USER_CONFIG}: $HOME is not set")
                }
                (ConfigOrigin::System, p) => format!(
                    "{}: no such file",
                    p.as_deref().unwrap_or(Path::new(SYSTEM_CONFIG)).display()
                ),
            };
            writeln!(f, "  {what}")?;
        }
        write!(
            f,
            "write one there (assets/example-config.toml lists every key), or pass --config FILE or --inventory FILE; `validator-failover demo` needs none"
        )
    }
}

impl std::error::Error for NotFound {}

/// Why no configuration could be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// None of the places holds one.
    NotFound(NotFound),
    /// One was found (or named) and cannot be used.
    Invalid(ConfigError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotFound(n) => n.fmt(f),
            LoadError::Invalid(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<ConfigError> for LoadError {
    fn from(e: ConfigError) -> LoadError {
        LoadError::Invalid(e)
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl ConfigSearch {
    /// The places as this process's environment defines them, with `--config`.
    pub fn from_env(flag: Option<&Path>) -> ConfigSearch {
        ConfigSearch {
            flag: flag.map(Path::to_path_buf),
            env: env_path(CONFIG_ENV),
            xdg_config_home: env_path("XDG_CONFIG_HOME"),
            home: env_path("HOME"),
            system: env_path(TEST_SYSTEM_CONFIG_ENV).unwrap_or_else(|| SYSTEM_CONFIG.into()),
        }
    }

    /// Every place, in order, with its file (None: the place is not defined).
    pub fn places(&self) -> Vec<Looked> {
        let user = match &self.xdg_config_home {
            Some(x) => Looked {
                origin: ConfigOrigin::XdgConfigHome,
                path: Some(x.join(USER_CONFIG)),
            },
            None => Looked {
                origin: ConfigOrigin::HomeConfig,
                path: self
                    .home
                    .as_ref()
                    .map(|h| h.join(".config").join(USER_CONFIG)),
            },
        };
        vec![
            Looked {
                origin: ConfigOrigin::Flag,
                path: self.flag.clone(),
            },
            Looked {
                origin: ConfigOrigin::Env,
                path: self.env.clone(),
            },
            user,
            Looked {
                origin: ConfigOrigin::System,
                path: Some(self.system.clone()),
            },
        ]
    }

    /// The configuration file to use: the first place that names one (`--config`,
    /// the variable) or holds one (the user's, the system's). A file named by
    /// `--config` or the variable that is not there is an error naming it, never a
    /// reason to look further. Ok(None): no place holds one.
    pub fn find(&self) -> Result<Option<ConfigSource>, ConfigError> {
        for place in self.places() {
            let Some(path) = place.path else { continue };
            let named = matches!(place.origin, ConfigOrigin::Flag | ConfigOrigin::Env);
            match std::fs::metadata(&path) {
                Ok(_) => {
                    return Ok(Some(ConfigSource {
                        path,
                        origin: place.origin,
                    }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !named => continue,
                Err(e) => {
                    return Err(ConfigError {
                        file: path,
                        line: None,
                        key: None,
                        message: format!(
                            "the configuration {}: {}",
                            place.origin.describe(),
                            if e.kind() == std::io::ErrorKind::NotFound {
                                "no such file".to_string()
                            } else {
                                e.to_string()
                            }
                        ),
                    });
                }
            }
        }
        Ok(None)
    }

    /// Where nothing was found: every place, said.
    pub fn not_found(&self) -> NotFound {
        NotFound {
            looked: self.places(),
        }
    }

    /// Find and load the configuration; none anywhere is [`LoadError::NotFound`].
    pub fn load(&self) -> Result<Config, LoadError> {
        match self.find()? {
            Some(source) => Ok(Config::load_from(source)?),
            None => Err(LoadError::NotFound(self.not_found())),
        }
    }
}

/// A configuration problem, naming the file, the line and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Join a remote directory and a relative name with exactly one slash.
pub fn join_remote(dir: &str, name: &str) -> String {
    if name.starts_with('/') {
        return name.to_string();
    }
    format!("{}/{}", dir.trim_end_matches('/'), name)
}

// ---------------------------------------------------------------------------
// The raw file, as written. Spanned values let validation name the line.

type S<T> = Spanned<T>;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    primary: Option<S<RawHost>>,
    backup: Option<S<RawHost>>,
    inventory: Option<S<String>>,
    #[serde(default)]
    ssh: RawSsh,
    #[serde(default)]
    validator: RawValidator,
    #[serde(default)]
    beacon: RawBeacon,
    #[serde(default)]
    execution: RawExecution,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    backups: RawBackups,
    #[serde(default)]
    failover: RawFailover,
    #[serde(default)]
    notify: RawNotify,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHost {
    ssh: Option<S<String>>,
    name: Option<S<String>>,
    fence: Option<S<RawFence>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFence {
    agent: Option<S<String>>,
    #[serde(default)]
    options: Option<S<std::collections::BTreeMap<S<String>, S<toml::Value>>>>,
    /// Refused: named only to say why.
    password: Option<S<toml::Value>>,
    password_file: Option<S<String>>,
    password_env: Option<S<String>>,
    call_timeout_secs: Option<S<u64>>,
    off_wait_secs: Option<S<u64>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSsh {
    config_file: Option<S<String>>,
    identity_file: Option<S<String>>,
    #[serde(rename = "become")]
    become_: Option<S<bool>>,
    become_user: Option<S<String>>,
    connect_timeout_secs: Option<S<u64>>,
    command_timeout_secs: Option<S<u64>>,
    server_alive_interval_secs: Option<S<u64>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawValidator {
    service: Option<S<String>>,
    process_name: Option<S<String>>,
    data_dir: Option<S<String>>,
    slashing_protection: Option<S<String>>,
    history: Option<S<String>>,
    lock_file: Option<S<String>>,
    owner: Option<S<String>>,
    indices: Option<S<Vec<u64>>>,
    binary: Option<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBeacon {
    address: Option<S<String>>,
    api: Option<BeaconFlavour>,
    max_sync_distance: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawExecution {
    address: Option<S<String>>,
    api: Option<ExecutionFlavour>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    address: Option<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBackups {
    pattern: Option<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFailover {
    method: Option<TransferMethod>,
    liveness_epochs: Option<S<u64>>,
    runs_dir: Option<S<String>>,
    operator: Option<S<String>>,
    max_clock_skew_ms: Option<u64>,
    stop_timeout_secs: Option<S<u64>>,
    verify_interval_secs: Option<S<u64>>,
    gate_timeout_secs: Option<S<u64>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    timeout_secs: Option<S<u64>>,
    queue: Option<S<u64>>,
    #[serde(default)]
    webhook: Vec<S<RawWebhook>>,
    #[serde(default)]
    telegram: Vec<S<RawTelegram>>,
    #[serde(default)]
    command: Vec<S<RawCommand>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    name: Option<S<String>>,
    format: Option<S<String>>,
    /// Refused: named only to say why.
    url: Option<S<toml::Value>>,
    url_file: Option<S<String>>,
    url_env: Option<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTelegram {
    name: Option<S<String>>,
    api_url: Option<S<String>>,
    /// Refused: named only to say why.
    token: Option<S<toml::Value>>,
    token_file: Option<S<String>>,
    token_env: Option<S<String>>,
    chat_id: Option<S<toml::Value>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCommand {
    name: Option<S<String>>,
    argv: Option<S<Vec<String>>>,
}

struct Validator<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Validator<'_> {
    fn err<T>(&self, at: Option<&S<T>>, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.path.to_path_buf(),
            line: at.map(|s| line_of(self.text, s.span().start)),
            key: Some(key.to_string()),
            message: message.into(),
        }
    }

    fn relative(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            return p.to_path_buf();
        }
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }

    /// A string that is a plain name: no control characters, not empty.
    fn name(&self, v: &Option<S<String>>, key: &str, default: &str) -> Result<String, ConfigError> {
        let Some(s) = v else {
            return Ok(default.to_string());
        };
        let value = s.get_ref();
        if value.trim().is_empty() {
            return Err(self.err(Some(s), key, "must not be empty"));
        }
        if value.chars().any(|c| c.is_control()) {
            return Err(self.err(Some(s), key, "must not contain control characters"));
        }
        Ok(value.clone())
    }

    /// A remote absolute path.
    fn abs_path(
        &self,
        v: &Option<S<String>>,
        key: &str,
        default: &str,
    ) -> Result<String, ConfigError> {
        let value = self.name(v, key, default)?;
        if !value.starts_with('/') {
            return Err(self.err(
                v.as_ref(),
                key,
                format!("must be an absolute path, got {value:?}"),
            ));
        }
        if value.split('/').any(|c| c == "..") {
            return Err(self.err(v.as_ref(), key, "must not contain `..`"));
        }
        Ok(value)
    }

    fn endpoint(
        &self,
        v: &Option<S<String>>,
        key: &str,
        default: &str,
    ) -> Result<Endpoint, ConfigError> {
        let value = self.name(v, key, default)?;
        let (host, port) = value.rsplit_once(':').ok_or_else(|| {
            self.err(
                v.as_ref(),
                key,
                format!("expected host:port, got {value:?}"),
            )
        })?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| self.err(v.as_ref(), key, format!("{port:?} is not a TCP port")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.parse::<std::net::IpAddr>().is_err() && host != "localhost" {
            return Err(self.err(
                v.as_ref(),
                key,
                format!("{host:?} must be an IP address or localhost on the host itself"),
            ));
        }
        Ok(Endpoint {
            host: host.to_string(),
            port,
        })
    }

    fn secs(
        &self,
        v: &Option<S<u64>>,
        key: &str,
        default: u64,
        max: u64,
    ) -> Result<Duration, ConfigError> {
        match v {
            None => Ok(Duration::from_secs(default)),
            Some(s) if *s.get_ref() == 0 || *s.get_ref() > max => {
                Err(self.err(Some(s), key, format!("must be between 1 and {max} seconds")))
            }
            Some(s) => Ok(Duration::from_secs(*s.get_ref())),
        }
    }
}

impl RawConfig {
    fn validate(self, v: &Validator<'_>) -> Result<Config, ConfigError> {
        let ssh = SshSettings {
            config_file: match &self.ssh.config_file {
                Some(p) => {
                    let path = v.relative(&v.name(&self.ssh.config_file, "ssh.config_file", "")?);
                    if !path.is_file() {
                        return Err(v.err(
                            Some(p),
                            "ssh.config_file",
                            format!("{} does not exist or is not a file", path.display()),
                        ));
                    }
                    Some(path)
                }
                None => None,
            },
            connect_timeout: v.secs(
                &self.ssh.connect_timeout_secs,
                "ssh.connect_timeout_secs",
                10,
                300,
            )?,
            command_timeout: v.secs(
                &self.ssh.command_timeout_secs,
                "ssh.command_timeout_secs",
                30,
                3600,
            )?,
            server_alive_interval: v.secs(
                &self.ssh.server_alive_interval_secs,
                "ssh.server_alive_interval_secs",
                5,
                300,
            )?,
        };

        // Ansible's become: off unless asked (here or, per host, by the inventory).
        let become_ = self.ssh.become_.as_ref().is_some_and(|b| *b.get_ref());
        let become_user = v.name(&self.ssh.become_user, "ssh.become_user", "root")?;
        if !is_user_name(&become_user) {
            return Err(v.err(
                self.ssh.become_user.as_ref(),
                "ssh.become_user",
                format!("{become_user:?} is not a user name"),
            ));
        }
        // The only key offered, unless the inventory names one for a host.
        let identity_file = match &self.ssh.identity_file {
            Some(p) => {
                let path = v.relative(&v.name(&self.ssh.identity_file, "ssh.identity_file", "")?);
                if !path.is_file() {
                    return Err(v.err(
                        Some(p),
                        "ssh.identity_file",
                        format!("{} does not exist or is not a file", path.display()),
                    ));
                }
                Some(path)
            }
            None => None,
        };
        let inventory = match &self.inventory {
            Some(p) => {
                let path = v.relative(p.get_ref());
                if !path.exists() {
                    return Err(v.err(
                        Some(p),
                        "inventory",
                        format!("{} does not exist", path.display()),
                    ));
                }
                Some(Inventory::load(&path)?)
            }
            None => None,
        };

        let host = |role: Role, raw: &Option<S<RawHost>>| -> Result<HostSpec, ConfigError> {
            let key = role.as_str();
            // A `[primary]` that holds only `fence` leaves the host to the inventory.
            let from_inventory = raw.as_ref().is_some_and(|h| {
                let h = h.get_ref();
                h.ssh.is_none() && h.name.is_none() && inventory.is_some()
            });
            if let Some(h) = raw.as_ref().filter(|_| !from_inventory) {
                let h = h.get_ref();
                let Some(ssh) = &h.ssh else {
                    return Err(v.err(
                        raw.as_ref(),
                        key,
                        format!(
                            "[{key}] needs `ssh = \"destination\"` (or `inventory = \"FILE\"` with a [{key}] group)"
                        ),
                    ));
                };
                let dest = v.name(&h.ssh, &format!("{key}.ssh"), "")?;
                let spec = parse_destination(role, &dest)
                    .map_err(|m| v.err(Some(ssh), &format!("{key}.ssh"), m))?;
                let name = match &h.name {
                    Some(_) => v.name(&h.name, &format!("{key}.name"), "")?,
                    None => spec.name.clone(),
                };
                return Ok(HostSpec {
                    name,
                    identity_file: identity_file.clone(),
                    privilege: Privilege::decide(become_, &become_user, spec.user.as_deref()),
                    ..spec
                });
            }
            if let Some(inv) = &inventory {
                let c = inv.connection(role)?;
                let privilege = Privilege::decide(
                    c.become_.unwrap_or(become_),
                    c.become_user.as_deref().unwrap_or(&become_user),
                    c.user.as_deref(),
                );
                return Ok(HostSpec {
                    privilege,
                    role,
                    name: c.name,
                    destination: c.address,
                    user: c.user,
                    port: c.port,
                    identity_file: c.identity_file.or_else(|| identity_file.clone()),
                    ssh_args: c.ssh_args,
                    given_in: HostSource::Inventory {
                        file: inv.path.clone(),
                        unread: c.skipped,
                    },
                });
            }
            Err(ConfigError {
                file: v.path.to_path_buf(),
                line: None,
                key: Some(key.to_string()),
                message: format!(
                    "no {key} host: add a [{key}] table with `ssh = \"destination\"`, or `inventory = \"FILE\"` with a [{key}] group"
                ),
            })
        };
        let primary = host(Role::Primary, &self.primary)?;
        let backup = host(Role::Backup, &self.backup)?;
        // The same destination, user, port and ssh options: the same machine. (Two
        // hosts behind different jump hosts may share an address.)
        if primary.destination == backup.destination
            && primary.port == backup.port
            && primary.user == backup.user
            && primary.ssh_args == backup.ssh_args
        {
            let message = format!(
                "the backup is the same host as the primary ({})",
                primary.display_destination()
            );
            return Err(match &backup.given_in {
                HostSource::Inventory { file, .. } => ConfigError {
                    file: file.clone(),
                    line: None,
                    key: None,
                    message: format!("hosts {} and {}: {message}", primary.name, backup.name),
                },
                HostSource::Config => v.err(self.backup.as_ref(), "backup.ssh", message),
            });
        }

        let rv = &self.validator;
        let service = v.name(&rv.service, "validator.service", "qrysm-validator")?;
        let process_name = v.name(&rv.process_name, "validator.process_name", &service)?;
        if process_name.len() > 15 {
            return Err(v.err(
                rv.process_name.as_ref().or(rv.service.as_ref()),
                "validator.process_name",
                format!(
                    "{process_name:?} is longer than the 15 characters the kernel keeps as a process name; set validator.process_name to its first 15 characters"
                ),
            ));
        }
        let slashing_protection = v.name(
            &rv.slashing_protection,
            "validator.slashing_protection",
            "slashing-protection",
        )?;
        if slashing_protection.contains('/')
            || slashing_protection == ".."
            || slashing_protection == "."
        {
            return Err(v.err(
                rv.slashing_protection.as_ref(),
                "validator.slashing_protection",
                "must be a directory name inside validator.data_dir, without `/`",
            ));
        }
        let owner = v.name(&rv.owner, "validator.owner", "qrysm:qrysm")?;
        if owner.split(':').count() != 2 || owner.split(':').any(str::is_empty) {
            return Err(v.err(
                rv.owner.as_ref(),
                "validator.owner",
                format!("expected user:group, got {owner:?}"),
            ));
        }
        let indices = rv
            .indices
            .as_ref()
            .map(|s| s.get_ref().clone())
            .unwrap_or_default();
        let mut sorted = indices.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != indices.len() {
            return Err(v.err(
                rv.indices.as_ref(),
                "validator.indices",
                "lists an index twice",
            ));
        }
        let validator = ValidatorSettings {
            process_name,
            data_dir: v.abs_path(
                &rv.data_dir,
                "validator.data_dir",
                "/var/lib/qrysm/validator",
            )?,
            slashing_protection,
            lock_file: v.abs_path(
                &rv.lock_file,
                "validator.lock_file",
                "/etc/quantapool/VALIDATOR_LOCKED",
            )?,
            owner,
            indices,
            binary: v.name(&rv.binary, "validator.binary", &service)?,
            history: match &rv.history {
                None => None,
                Some(_) => Some(crate::history::HistoryPin {
                    key: "validator.history".into(),
                    path: v.abs_path(&rv.history, "validator.history", "")?,
                }),
            },
            service,
        };

        let max_sync_distance = self.beacon.max_sync_distance.unwrap_or(2);
        let beacon = BeaconSettings {
            endpoint: v.endpoint(&self.beacon.address, "beacon.address", "127.0.0.1:3500")?,
            api: self.beacon.api,
            max_sync_distance,
        };
        let execution = ExecutionSettings {
            endpoint: v.endpoint(
                &self.execution.address,
                "execution.address",
                "127.0.0.1:8545",
            )?,
            api: self.execution.api,
        };
        let metrics = v.endpoint(&self.metrics.address, "metrics.address", "127.0.0.1:8081")?;
        let backups = v.abs_path(
            &self.backups.pattern,
            "backups.pattern",
            "/opt/quantapool/backups/slashing-protection-*.tar.gz",
        )?;
        if backups
            .rsplit_once('/')
            .is_some_and(|(dir, _)| dir.contains(['*', '?', '[']))
        {
            return Err(v.err(
                self.backups.pattern.as_ref(),
                "backups.pattern",
                "only the file name may hold wildcards, not the directory",
            ));
        }

        let rf = &self.failover;
        let liveness_epochs = match &rf.liveness_epochs {
            None => 2,
            Some(s) if *s.get_ref() == 0 || *s.get_ref() > 64 => {
                return Err(v.err(
                    Some(s),
                    "failover.liveness_epochs",
                    "must be between 1 and 64 epochs",
                ));
            }
            Some(s) => *s.get_ref(),
        };
        let failover = FailoverSettings {
            method: rf.method.unwrap_or(TransferMethod::Archive),
            liveness_epochs,
            runs_dir: match &rf.runs_dir {
                Some(_) => v.relative(&v.name(&rf.runs_dir, "failover.runs_dir", "")?),
                None => default_runs_dir(),
            },
            operator: match &rf.operator {
                Some(_) => Some(v.name(&rf.operator, "failover.operator", "")?),
                None => None,
            },
            max_clock_skew: Duration::from_millis(rf.max_clock_skew_ms.unwrap_or(500)),
            stop_timeout: v.secs(
                &rf.stop_timeout_secs,
                "failover.stop_timeout_secs",
                30,
                3600,
            )?,
            verify_interval: v.secs(
                &rf.verify_interval_secs,
                "failover.verify_interval_secs",
                3,
                600,
            )?,
            gate_timeout: v.secs(
                &rf.gate_timeout_secs,
                "failover.gate_timeout_secs",
                3600,
                7 * 86400,
            )?,
        };

        let notify = self.notify.validate(v)?;
        let fence = |role: Role, raw: &Option<S<RawHost>>| match raw
            .as_ref()
            .and_then(|h| h.get_ref().fence.as_ref())
        {
            Some(f) => f.get_ref().validate(v, f, role).map(Some),
            None => Ok(None),
        };
        let primary_fence = fence(Role::Primary, &self.primary)?;
        let backup_fence = fence(Role::Backup, &self.backup)?;

        Ok(Config {
            source: None,
            primary,
            backup,
            ssh,
            validator,
            beacon,
            execution,
            metrics,
            backups,
            failover,
            notify,
            primary_fence,
            backup_fence,
        })
    }
}

impl RawFence {
    fn validate(
        &self,
        v: &Validator<'_>,
        table: &S<RawFence>,
        role: Role,
    ) -> Result<FenceSettings, ConfigError> {
        let key = format!("{role}.fence");
        let Some(agent) = &self.agent else {
            return Err(v.err(
                Some(table),
                &format!("{key}.agent"),
                "a fence device needs its fence-agents agent: `agent = \"fence_ipmilan\"` (any agent on the operator's PATH)",
            ));
        };
        let agent_name = FenceAgentName::try_from(agent.get_ref().clone())
            .map_err(|m| v.err(Some(agent), &format!("{key}.agent"), m))?;
        if let Some(p) = &self.password {
            return Err(v.err(
                Some(p),
                &format!("{key}.password"),
                "refused: a configuration file is copied, shared and committed; put the BMC's password in a file only the operator can read (`password_file`) or in the environment (`password_env`)",
            ));
        }
        let mut options = std::collections::BTreeMap::new();
        if let Some(table) = &self.options {
            for (name, value) in table.get_ref() {
                let k = format!("{key}.options.{}", name.get_ref());
                let n = name.get_ref();
                let well_formed = n
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && n.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
                    });
                if !well_formed {
                    return Err(v.err(
                        Some(name),
                        &k,
                        format!(
                            "{n:?} is not an option name of a fence agent (lower-case letters, digits, `_` and `-`, as `ip`, `ipport`, `lanplus`, `username`)"
                        ),
                    ));
                }
                let canonical = n.replace('-', "_");
                if FENCE_RESERVED_OPTIONS.contains(&canonical.as_str()) {
                    let why = if canonical == "action" {
                        "the action (off, status, on) is chosen by validator-failover for each call"
                            .to_string()
                    } else {
                        format!(
                            "the password is never written here: `{key}.password_file` (a file only the operator can read) or `{key}.password_env`"
                        )
                    };
                    return Err(v.err(Some(name), &k, format!("refused: {why}")));
                }
                let text = match value.get_ref() {
                    toml::Value::String(s) => s.clone(),
                    other => {
                        return Err(v.err(
                            Some(value),
                            &k,
                            format!(
                                "must be a string, as the agent reads it (`{n} = \"1\"`), got {}",
                                other.type_str()
                            ),
                        ));
                    }
                };
                if text.chars().any(char::is_control) {
                    return Err(v.err(
                        Some(value),
                        &k,
                        "must not contain control characters (the agent reads one option per line)",
                    ));
                }
                options.insert(n.clone(), text);
            }
        }
        let password = match (&self.password_file, &self.password_env) {
            (None, None) => None,
            _ => Some(v.secret(
                table,
                &key,
                "password",
                &self.password_file,
                &self.password_env,
            )?),
        };
        Ok(FenceSettings {
            agent: agent_name,
            options,
            password,
            call_timeout: v.secs(
                &self.call_timeout_secs,
                &format!("{key}.call_timeout_secs"),
                FENCE_CALL_TIMEOUT_SECS,
                600,
            )?,
            off_wait: v.secs(
                &self.off_wait_secs,
                &format!("{key}.off_wait_secs"),
                FENCE_OFF_WAIT_SECS,
                600,
            )?,
            status_interval: FENCE_STATUS_INTERVAL,
            key,
        })
    }
}

impl RawNotify {
    fn validate(&self, v: &Validator<'_>) -> Result<NotifySettings, ConfigError> {
        let timeout = v.secs(&self.timeout_secs, "notify.timeout_secs", 5, 60)?;
        let queue = match &self.queue {
            None => 64,
            Some(q) if *q.get_ref() == 0 || *q.get_ref() > 10_000 => {
                return Err(v.err(
                    Some(q),
                    "notify.queue",
                    "must be between 1 and 10000 notices",
                ));
            }
            Some(q) => *q.get_ref() as usize,
        };
        let mut targets: Vec<(NotifyTarget, &dyn SpanOf)> = Vec::new();
        for (i, w) in self.webhook.iter().enumerate() {
            let key = format!("notify.webhook[{}]", i + 1);
            let raw = w.get_ref();
            if let Some(u) = &raw.url {
                return Err(v.err(Some(u), &format!("{key}.url"), INLINE_SECRET));
            }
            let format = match &raw.format {
                None => WebhookFormat::Json,
                Some(f) => match f.get_ref().as_str() {
                    "json" => WebhookFormat::Json,
                    "slack" => WebhookFormat::Slack,
                    other => {
                        return Err(v.err(
                            Some(f),
                            &format!("{key}.format"),
                            format!("{other:?} is not a webhook format: json or slack"),
                        ));
                    }
                },
            };
            let url = v.secret(w, &key, "url", &raw.url_file, &raw.url_env)?;
            let default = match format {
                WebhookFormat::Json => "webhook",
                WebhookFormat::Slack => "slack",
            };
            let name = v.name(
                &raw.name,
                &format!("{key}.name"),
                &format!("{default} {}", i + 1),
            )?;
            targets.push((
                NotifyTarget {
                    name,
                    key,
                    kind: NotifyKind::Webhook { format, url },
                },
                at(&raw.name, w),
            ));
        }
        for (i, t) in self.telegram.iter().enumerate() {
            let key = format!("notify.telegram[{}]", i + 1);
            let raw = t.get_ref();
            if let Some(tok) = &raw.token {
                return Err(v.err(Some(tok), &format!("{key}.token"), INLINE_SECRET));
            }
            let token = v.secret(t, &key, "token", &raw.token_file, &raw.token_env)?;
            let chat_id = match &raw.chat_id {
                None => {
                    return Err(v.err(
                        Some(t),
                        &format!("{key}.chat_id"),
                        "a Telegram target needs the chat to write to: `chat_id = -1001234567890` (or \"@channel\")",
                    ));
                }
                Some(c) => match c.get_ref() {
                    toml::Value::Integer(n) => n.to_string(),
                    toml::Value::String(s)
                        if !s.trim().is_empty() && !s.chars().any(char::is_control) =>
                    {
                        s.trim().to_string()
                    }
                    other => {
                        return Err(v.err(
                            Some(c),
                            &format!("{key}.chat_id"),
                            format!(
                                "must be the chat's number or its @name, got {}",
                                other.type_str()
                            ),
                        ));
                    }
                },
            };
            let api_url = match &raw.api_url {
                None => crate::notify::TELEGRAM_API.to_string(),
                Some(a) => {
                    let text = a.get_ref().trim().trim_end_matches('/');
                    let ok = reqwest::Url::parse(text).is_ok_and(|u| {
                        matches!(u.scheme(), "http" | "https")
                            && u.host_str().is_some()
                            && u.query().is_none()
                            && u.username().is_empty()
                            && u.password().is_none()
                    });
                    if !ok {
                        return Err(v.err(
                            Some(a),
                            &format!("{key}.api_url"),
                            format!(
                                "{text:?} is not the http(s) base of a Bot API (scheme and host, no query, no credentials)"
                            ),
                        ));
                    }
                    text.to_string()
                }
            };
            let name = v.name(
                &raw.name,
                &format!("{key}.name"),
                &format!("telegram {}", i + 1),
            )?;
            targets.push((
                NotifyTarget {
                    name,
                    key,
                    kind: NotifyKind::Telegram {
                        api_url,
                        token,
                        chat_id,
                    },
                },
                at(&raw.name, t),
            ));
        }
        for (i, c) in self.command.iter().enumerate() {
            let key = format!("notify.command[{}]", i + 1);
            let raw = c.get_ref();
            let Some(argv) = &raw.argv else {
                return Err(v.err(
                    Some(c),
                    &format!("{key}.argv"),
                    "a command target needs `argv = [\"/path/to/program\", \"arg\", …]` (run as given, never through a shell)",
                ));
            };
            let mut args = argv.get_ref().clone();
            match args.first() {
                None => {
                    return Err(v.err(Some(argv), &format!("{key}.argv"), "must name a program"));
                }
                Some(p) if p.trim().is_empty() => {
                    return Err(v.err(
                        Some(argv),
                        &format!("{key}.argv"),
                        "its first word, the program, must not be empty",
                    ));
                }
                Some(_) => {}
            }
            if args.iter().any(|a| a.contains('\0')) {
                return Err(v.err(
                    Some(argv),
                    &format!("{key}.argv"),
                    "an argument holds a NUL character",
                ));
            }
            // A path with a directory is taken from the configuration's directory, as
            // every other path here; a bare name is looked up in PATH.
            if args[0].contains('/') {
                args[0] = v.relative(&args[0]).display().to_string();
            }
            let name = v.name(
                &raw.name,
                &format!("{key}.name"),
                &format!("command {}", i + 1),
            )?;
            targets.push((
                NotifyTarget {
                    name,
                    key,
                    kind: NotifyKind::Command { argv: args },
                },
                at(&raw.name, c),
            ));
        }
        // Two targets of one name: the later in the file is named.
        let mut by_place: Vec<&(NotifyTarget, &dyn SpanOf)> = targets.iter().collect();
        by_place.sort_by_key(|(_, at)| at.start());
        for (i, (t, at)) in by_place.iter().enumerate() {
            if let Some((first, _)) = by_place[..i].iter().find(|(o, _)| o.name == t.name) {
                return Err(ConfigError {
                    file: v.path.to_path_buf(),
                    line: Some(line_of(v.text, at.start())),
                    key: Some(format!("{}.name", t.key)),
                    message: format!(
                        "{:?} is already the name of {}: each target needs its own (the journal names them)",
                        t.name, first.key
                    ),
                });
            }
        }
        Ok(NotifySettings {
            targets: targets.into_iter().map(|(t, _)| t).collect(),
            timeout,
            queue,
        })
    }
}

/// Why an inline secret is refused.
const INLINE_SECRET: &str = "refused: this is a secret (a webhook URL carries its token; a bot token is one) and a configuration file is copied, shared and committed; put it in a file only the operator can read (`url_file`/`token_file`) or in the environment (`url_env`/`token_env`)";

/// Where a target is named: its `name`, else its table.
fn at<'a, T>(name: &'a Option<S<String>>, table: &'a S<T>) -> &'a dyn SpanOf {
    match name {
        Some(n) => n,
        None => table,
    }
}

/// The start of a spanned value, whatever its type.
trait SpanOf {
    fn start(&self) -> usize;
}

impl<T> SpanOf for S<T> {
    fn start(&self) -> usize {
        self.span().start
    }
}

impl Validator<'_> {
    /// A secret's source: exactly one of `<what>_file` and `<what>_env`.
    fn secret<T>(
        &self,
        table: &S<T>,
        key: &str,
        what: &str,
        file: &Option<S<String>>,
        env: &Option<S<String>>,
    ) -> Result<SecretSource, ConfigError> {
        match (file, env) {
            (Some(_), Some(e)) => Err(self.err(
                Some(e),
                &format!("{key}.{what}_env"),
                format!("give either {what}_file or {what}_env, not both"),
            )),
            (None, None) => Err(self.err(
                Some(table),
                &format!("{key}.{what}_file"),
                format!(
                    "needs where its {what} is: `{what}_file = \"/path\"` (a file only the operator can read) or `{what}_env = \"VARIABLE\"`"
                ),
            )),
            (Some(_), None) => {
                let k = format!("{key}.{what}_file");
                Ok(SecretSource::File(self.relative(&self.name(file, &k, "")?)))
            }
            (None, Some(e)) => {
                let k = format!("{key}.{what}_env");
                let name = self.name(env, &k, "")?;
                let mut chars = name.chars();
                let ok = chars
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !ok {
                    return Err(self.err(
                        Some(e),
                        &k,
                        format!("{name:?} is not an environment variable's name (letters, digits, _)"),
                    ));
                }
                Ok(SecretSource::Env(name))
            }
        }
    }
}

/// Where run journals go when the config does not say.
pub fn default_runs_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("validator-failover/runs");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(h).join(".local/state/validator-failover/runs");
    }
    PathBuf::from("validator-failover-runs")
}

/// A character a user name may hold.
fn user_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}

/// A user name as ssh may be given it: no shell characters, no leading `-`.
pub(crate) fn is_user_name(u: &str) -> bool {
    !u.is_empty() && !u.starts_with('-') && u.chars().all(user_char)
}

/// `alias`, `host`, `user@host`, `user@host:port`, `[v6]:port` or `ssh://user@host:port`.
pub(crate) fn parse_destination(role: Role, dest: &str) -> Result<HostSpec, String> {
    let rest = dest.strip_prefix("ssh://").unwrap_or(dest);
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h),
        None => (None, rest),
    };
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let (h, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("{dest:?}: unclosed `[` in an IPv6 address"))?;
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return Err(format!("{dest:?}: unexpected text after `]`")),
        }
    } else if hostport.matches(':').count() == 1 {
        let (h, p) = hostport.split_once(':').expect("one colon");
        (h, Some(p))
    } else {
        (hostport, None)
    };
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{dest:?}: {p:?} is not a TCP port"))?,
        ),
        None => None,
    };
    if host.is_empty() {
        return Err(format!("{dest:?}: no host"));
    }
    if host.starts_with('-')
        || user
            .as_deref()
            .is_some_and(|u| u.is_empty() || u.starts_with('-'))
    {
        return Err(format!(
            "{dest:?}: a host or user may not start with `-` or be empty"
        ));
    }
    // Host and user names reach ssh, and through `%h`/`%r` maybe a ProxyCommand's
    // shell: only the characters real names use are accepted.
    let host_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '%');
    if let Some(bad) = host.chars().find(|c| !host_ok(*c)) {
        return Err(format!("{dest:?}: {bad:?} cannot be part of a host name"));
    }
    if let Some(bad) = user
        .as_deref()
        .and_then(|u| u.chars().find(|c| !user_char(*c)))
    {
        return Err(format!("{dest:?}: {bad:?} cannot be part of a user name"));
    }
    Ok(HostSpec {
        role,
        name: host.to_string(),
        destination: host.to_string(),
        user,
        port,
        identity_file: None,
        ssh_args: Vec::new(),
        privilege: Privilege::Login,
        given_in: HostSource::Config,
    })
}

pub use crate::inventory::Inventory;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_examples_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        let c = Config::load(&dir.join("example-config.toml")).unwrap();
        assert_eq!(c.primary.destination, "10.0.0.10");
        assert_eq!(c.validator.indices, vec![0, 1, 2, 3]);
        let c = Config::load(&dir.join("example-inventory-config.toml")).unwrap();
        assert_eq!(
            (c.primary.name.as_str(), c.primary.destination.as_str()),
            ("validator-a", "10.0.0.10")
        );
        assert_eq!(
            (c.backup.name.as_str(), c.backup.user.as_deref()),
            ("validator-b", Some("root"))
        );
        assert_eq!(c.backup.port, Some(22));
        let c = Config::parse(
            "inventory = \"example-inventory.yml\"\n",
            &dir.join("from-test.toml"),
        )
        .unwrap();
        assert_eq!(
            (
                c.primary.name.as_str(),
                c.primary.destination.as_str(),
                c.primary.user.as_deref()
            ),
            ("validator-a", "10.0.0.10", Some("ops"))
        );
        assert_eq!(c.backup.port, Some(2222));
        assert_eq!(
            c.backup.ssh_args,
            ["-o", "ProxyJump=ops@bastion.example.org"]
        );
    }

    #[test]
    fn the_shipped_notify_example_is_valid_once_uncommented() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/example-config.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let block: Vec<&str> = text
            .lines()
            .skip_while(|l| *l != "# [notify]")
            .map(|l| l.strip_prefix("# ").or(l.strip_prefix('#')).unwrap_or(l))
            .collect();
        assert!(block.len() > 10, "the example has a [notify] block");
        let base = "[primary]\nssh = \"a\"\n[backup]\nssh = \"b\"\n";
        let c = Config::parse(&format!("{base}{}\n", block.join("\n")), &path)
            .unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = c.notify.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["ops", "team chat", "on-call", "pager"]);
    }

    #[test]
    fn the_shipped_fence_example_is_valid_once_uncommented() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/example-config.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let block: Vec<&str> = text
            .lines()
            .skip_while(|l| *l != "# [primary.fence]")
            .take_while(|l| l.starts_with('#'))
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .collect();
        assert!(block.len() > 3, "the example has a [primary.fence] block");
        let base = "[primary]\nssh = \"a\"\n[backup]\nssh = \"b\"\n";
        let c = Config::parse(&format!("{base}{}\n", block.join("\n")), &path)
            .unwrap_or_else(|e| panic!("{e}"));
        let f = c.fence(Role::Primary).expect("the example's fence");
        assert_eq!(f.agent.as_str(), "fence_ipmilan");
        assert_eq!(f.options["ip"], "10.0.9.10");
        assert_eq!(f.call_timeout, Duration::from_secs(FENCE_CALL_TIMEOUT_SECS));
        assert_eq!(f.off_wait, Duration::from_secs(FENCE_OFF_WAIT_SECS));
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/vf/test.toml"))
    }

    #[test]
    fn only_hosts_required_and_defaults_are_the_runbooks() {
        let c = parse("[primary]\nssh = \"root@10.0.0.1\"\n[backup]\nssh = \"backup\"\n").unwrap();
        assert_eq!(c.primary.destination, "10.0.0.1");
        assert_eq!(c.primary.user.as_deref(), Some("root"));
        assert_eq!(c.backup.destination, "backup");
        assert_eq!(c.validator.service, "qrysm-validator");
        assert_eq!(c.validator.process_name, "qrysm-validator");
        assert_eq!(c.validator.data_dir, "/var/lib/qrysm/validator");
        assert_eq!(
            c.validator.slashing_protection_dir(),
            "/var/lib/qrysm/validator/slashing-protection"
        );
        assert_eq!(c.validator.lock_file, "/etc/quantapool/VALIDATOR_LOCKED");
        assert_eq!(c.validator.owner, "qrysm:qrysm");
        assert_eq!(
            c.backups,
            "/opt/quantapool/backups/slashing-protection-*.tar.gz"
        );
        assert_eq!(c.beacon.endpoint.to_string(), "127.0.0.1:3500");
        assert_eq!(c.execution.endpoint.to_string(), "127.0.0.1:8545");
        assert_eq!(c.metrics.to_string(), "127.0.0.1:8081");
        assert_eq!(c.failover.liveness_epochs, 2);
        assert_eq!(c.failover.method, TransferMethod::Archive);
        assert!(c.validator.indices.is_empty());
    }

    #[test]
    fn destination_forms() {
        let d = parse_destination(Role::Primary, "ops@host.example:2222").unwrap();
        assert_eq!(
            (d.user.as_deref(), d.destination.as_str(), d.port),
            (Some("ops"), "host.example", Some(2222))
        );
        let d = parse_destination(Role::Primary, "ssh://root@[fe80::1]:22").unwrap();
        assert_eq!((d.destination.as_str(), d.port), ("fe80::1", Some(22)));
        let d = parse_destination(Role::Primary, "fe80::1").unwrap();
        assert_eq!((d.destination.as_str(), d.port), ("fe80::1", None));
        assert!(parse_destination(Role::Primary, "-oProxyCommand=sh").is_err());
        assert!(parse_destination(Role::Primary, "host:0").is_err());
        assert!(parse_destination(Role::Primary, "a b").is_err());
        for hostile in ["$(reboot)", "x;touch /tmp/pwned", "`id`", "a|b", "h'q"] {
            let e = parse_destination(Role::Primary, hostile).unwrap_err();
            assert!(
                e.contains("cannot be part of a host name"),
                "{hostile}: {e}"
            );
        }
        assert!(parse_destination(Role::Primary, "$(id)@host").is_err());
    }

    #[test]
    fn missing_host_is_named() {
        let e = parse("[primary]\nssh = \"a\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("backup"));
        assert!(
            e.to_string().starts_with("/etc/vf/test.toml: key `backup`"),
            "{e}"
        );
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e =
            parse("[primary]\nssh = \"a\"\n[backup]\nssh = \"b\"\n[validator]\nservcie = \"x\"\n")
                .unwrap_err();
        assert_eq!(e.line, Some(6));
        assert!(e.message.contains("servcie"), "{e}");
    }

    #[test]
    fn identity_file_is_checked_and_named() {
        let base = "[primary]\nssh = \"a\"\n[backup]\nssh = \"b\"\n[ssh]\n";
        let e = parse(&format!(
            "{base}identity_file = \"/nonexistent/id_ed25519\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("ssh.identity_file"), "{e}");
        assert_eq!(e.line, Some(6), "{e}");
        assert!(
            e.message.contains("/nonexistent/id_ed25519 does not exist"),
            "{e}"
        );
        let key = tempfile::NamedTempFile::new().unwrap();
        let c = parse(&format!(
            "{base}identity_file = {:?}\n",
            key.path().display().to_string()
        ))
        .unwrap();
        assert_eq!(c.primary.identity_file.as_deref(), Some(key.path()));
        assert_eq!(c.backup.identity_file.as_deref(), Some(key.path()));
        assert_eq!(parse(base).unwrap().primary.identity_file, None);
    }

    #[test]
    fn notify_targets_are_read_with_their_defaults() {
        let base = "[primary]\nssh = \"a\"\n[backup]\nssh = \"b\"\n";
        let c = parse(base).unwrap();
        assert!(c.notify.targets.is_empty());
        assert_eq!(
            (c.notify.timeout, c.notify.queue),
            (Duration::from_secs(5), 64)
        );
        let c = parse(&format!(
            "{base}[notify]\ntimeout_secs = 3\nqueue = 8\n\
             [[notify.webhook]]\nurl_env = \"OPS_HOOK\"\n\
             [[notify.webhook]]\nname = \"team chat\"\nformat = \"slack\"\nurl_file = \"slack.url\"\n\
             [[notify.telegram]]\ntoken_file = \"/etc/vf/bot.token\"\nchat_id = -1001234\n\
             [[notify.telegram]]\ntoken_env = \"BOT\"\nchat_id = \"@oncall\"\napi_url = \"http://127.0.0.1:8081/\"\n\
             [[notify.command]]\nargv = [\"page-oncall\", \"--team\", \"$(not a shell)\"]\n\
             [[notify.command]]\nargv = [\"bin/notify\"]\n"
        ))
        .unwrap();
        let n = &c.notify;
        assert_eq!((n.timeout, n.queue), (Duration::from_secs(3), 8));
        let names: Vec<&str> = n.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "webhook 1",
                "team chat",
                "telegram 1",
                "telegram 2",
                "command 1",
                "command 2"
            ]
        );
        assert_eq!(
            n.targets[0].kind,
            NotifyKind::Webhook {
                format: WebhookFormat::Json,
                url: SecretSource::Env("OPS_HOOK".into())
            }
        );
        assert_eq!(
            n.targets[1].kind,
            NotifyKind::Webhook {
                format: WebhookFormat::Slack,
                url: SecretSource::File("/etc/vf/slack.url".into())
            },
            "relative to the configuration's directory"
        );
        assert_eq!(
            n.targets[2].kind,
            NotifyKind::Telegram {
                api_url: crate::notify::TELEGRAM_API.into(),
                token: SecretSource::File("/etc/vf/bot.token".into()),
                chat_id: "-1001234".into()
            }
        );
        assert_eq!(
            n.targets[3].kind,
            NotifyKind::Telegram {
                api_url: "http://127.0.0.1:8081".into(),
                token: SecretSource::Env("BOT".into()),
                chat_id: "@oncall".into()
            }
        );
        assert_eq!(
            n.targets[4].kind,
            NotifyKind::Command {
                argv: vec![
                    "page-oncall".into(),
                    "--team".into(),
                    "$(not a shell)".into()
                ]
            },
            "a bare name is looked up in PATH, arguments kept literal"
        );
        assert_eq!(
            n.targets[5].kind,
            NotifyKind::Command {
                argv: vec!["/etc/vf/bin/notify".into()]
            }
        );
        assert_eq!(n.targets[5].key, "notify.command[2]");
    }

    #[test]
    fn bad_notify_entries_name_the_file_line_and_key() {
        let base = "[primary]\nssh = \"a\"\n[backup]\nssh = \"b\"\n";
        // (the entries after the hosts, the line, the key, words of the message)
        let cases: [(&str, usize, &str, &str); 14] = [
            (
                "[[notify.webhook]]\nurl = \"https://hooks.example.com/services/T/B/X\"\n",
                6,
                "notify.webhook[1].url",
                "refused: this is a secret",
            ),
            (
                "[[notify.telegram]]\ntoken = \"123:abc\"\nchat_id = 1\n",
                6,
                "notify.telegram[1].token",
                "url_file`/`token_file",
            ),
            (
                "[[notify.webhook]]\nformat = \"json\"\n",
                5,
                "notify.webhook[1].url_file",
                "needs where its url is",
            ),
            (
                "[[notify.webhook]]\nurl_file = \"/a\"\nurl_env = \"B\"\n",
                7,
                "notify.webhook[1].url_env",
                "either url_file or url_env, not both",
            ),
            (
                "[[notify.webhook]]\nurl_env = \"B\"\n[[notify.webhook]]\nurl_env = \"OPS HOOK\"\n",
                8,
                "notify.webhook[2].url_env",
                "is not an environment variable's name",
            ),
            (
                "[[notify.webhook]]\nurl_env = \"B\"\nformat = \"teams\"\n",
                7,
                "notify.webhook[1].format",
                "json or slack",
            ),
            (
                "[[notify.webhook]]\nurl_file = \"\"\n",
                6,
                "notify.webhook[1].url_file",
                "must not be empty",
            ),
            (
                "[[notify.telegram]]\ntoken_env = \"T\"\n",
                5,
                "notify.telegram[1].chat_id",
                "needs the chat",
            ),
            (
                "[[notify.telegram]]\ntoken_env = \"T\"\nchat_id = [1]\n",
                7,
                "notify.telegram[1].chat_id",
                "the chat's number or its @name, got array",
            ),
            (
                "[[notify.telegram]]\ntoken_env = \"T\"\nchat_id = 1\napi_url = \"ftp://bots\"\n",
                8,
                "notify.telegram[1].api_url",
                "is not the http(s) base of a Bot API",
            ),
            (
                "[[notify.command]]\nname = \"x\"\n",
                5,
                "notify.command[1].argv",
                "needs `argv = [",
            ),
            (
                "[[notify.command]]\nargv = []\n",
                6,
                "notify.command[1].argv",
                "must name a program",
            ),
            (
                "[notify]\ntimeout_secs = 0\n",
                6,
                "notify.timeout_secs",
                "between 1 and 60 seconds",
            ),
            (
                "[[notify.command]]\nname = \"pager\"\nargv = [\"a\"]\n[[notify.webhook]]\nname = \"pager\"\nurl_env = \"B\"\n",
                9,
                "notify.webhook[1].name",
                "\"pager\" is already the name of notify.command[1]",
            ),
        ];
        for (entries, line, key, words) in cases {
            let e = parse(&format!("{base}{entries}")).unwrap_err();
            assert_eq!(
                (e.line, e.key.as_deref()),
                (Some(line), Some(key)),
                "{entries}: {e}"
            );
            assert!(e.message.contains(words), "{entries}: {e}");
            assert!(e.to_string().starts_with("/etc/vf/test.toml:"), "{e}");
        }
        // An unknown key is named by the parser, with its line.
        let e = parse(&format!("{base}[[notify.webhook]]\nurl_fle = \"/a\"\n")).unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
        assert!(e.message.contains("url_fle"), "{e}");
        // A refused secret is never repeated in the message.
        let e = parse(&format!(
            "{base}[[notify.webhook]]\nurl = \"https://hooks.example.com/services/T/B/SECRET\"\n"
        ))
        .unwrap_err();
        assert!(!e.to_string().contains("SECRET"), "{e}");
    }

    #[test]
    fn become_decides_sudo_once_for_every_host() {
        let base = "[primary]\nssh = \"ops@a\"\n[backup]\nssh = \"root@b\"\n";
        let c = parse(base).unwrap();
        assert_eq!(
            c.primary.privilege,
            Privilege::Login,
            "become is off by default"
        );
        let c = parse(&format!("{base}[ssh]\nbecome = true\n")).unwrap();
        assert_eq!(
            c.primary.privilege,
            Privilege::Sudo {
                user: "root".into()
            }
        );
        assert_eq!(
            c.backup.privilege,
            Privilege::Login,
            "root needs no sudo to be root"
        );
        let c = parse("[primary]\nssh = \"a\"\n[backup]\nssh = \"b\"\n[ssh]\nbecome = true\nbecome_user = \"qrysm\"\n").unwrap();
        // The login user is not known here (ssh_config may say): sudo.
        assert_eq!(
            c.primary.privilege,
            Privilege::Sudo {
                user: "qrysm".into()
            }
        );
        let e = parse(&format!("{base}[ssh]\nbecome_user = \"$(id)\"\n")).unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(6), Some("ssh.become_user")),
            "{e}"
        );
        let e = parse(&format!("{base}[ssh]\nbecome = \"yes\"\n")).unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
    }

    #[test]
    fn the_inventorys_become_is_per_host_over_the_configurations() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("inv.ini"),
            "[primary]\na ansible_user=ops\n[backup]\nb ansible_user=ops ansible_become=no\n[all:vars]\nansible_become=yes\nansible_become_user=root\n",
        )
        .unwrap();
        let c = Config::parse("inventory = \"inv.ini\"\n", &d.path().join("c.toml")).unwrap();
        assert_eq!(
            c.primary.privilege,
            Privilege::Sudo {
                user: "root".into()
            }
        );
        assert_eq!(c.backup.privilege, Privilege::Login);
        let c = Config::parse(
            "inventory = \"inv.ini\"\n[ssh]\nbecome = true\n",
            &d.path().join("c.toml"),
        )
        .unwrap();
        assert_eq!(
            c.backup.privilege,
            Privilege::Login,
            "the host's own word wins"
        );
        std::fs::write(
            d.path().join("bad.ini"),
            "[primary]\na ansible_become=maybe\n[backup]\nb ansible_become=true ansible_become_method=su\n",
        )
        .unwrap();
        let e = Config::parse("inventory = \"bad.ini\"\n", &d.path().join("c.toml")).unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("ansible_become")),
            "{e}"
        );
        std::fs::write(
            d.path().join("su.ini"),
            "[primary]\na\n[backup]\nb ansible_become=true ansible_become_method=su\n",
        )
        .unwrap();
        let e = Config::parse("inventory = \"su.ini\"\n", &d.path().join("c.toml")).unwrap_err();
        assert!(e.message.contains("sudo only"), "{e}");
    }

    #[test]
    fn a_fence_device_is_read_as_the_issue_writes_it() {
        let c = parse(
            "[primary]\nssh = \"a\"\n[backup]\nssh = \"b\"\n\n[primary.fence]\nagent = \"fence_ipmilan\"\noptions = { ip = \"10.0.9.10\", lanplus = \"1\", username = \"admin\" }\npassword_file = \"/etc/validator-failover/primary-bmc.pass\"\n",
        )
        .unwrap();
        let f = c.fence(Role::Primary).expect("the primary's fence");
        assert_eq!(f.key, "primary.fence");
        assert_eq!(f.agent.as_str(), "fence_ipmilan");
        assert_eq!(
            f.options
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
            [("ip", "10.0.9.10"), ("lanplus", "1"), ("username", "admin")]
        );
        assert_eq!(
            f.password,
            Some(SecretSource::File(
                "/etc/validator-failover/primary-bmc.pass".into()
            ))
        );
        assert_eq!(f.call_timeout, Duration::from_secs(FENCE_CALL_TIMEOUT_SECS));
        assert_eq!(f.off_wait, Duration::from_secs(FENCE_OFF_WAIT_SECS));
        assert_eq!(f.status_interval, FENCE_STATUS_INTERVAL);
        assert!(c.fence(Role::Backup).is_none(), "none unless configured");

        // The backup's, as a table of its own, with the environment and timeouts; a
        // relative password file is taken from the configuration's directory.
        let c = parse(
            "[primary]\nssh = \"a\"\n[primary.fence]\nagent = \"fence_redfish\"\npassword_file = \"bmc.pass\"\n[backup]\nssh = \"b\"\n[backup.fence]\nagent = \"fence_ipmilan\"\npassword_env = \"VF_BACKUP_BMC\"\ncall_timeout_secs = 15\noff_wait_secs = 30\n[backup.fence.options]\nip = \"10.0.9.11\"\nipport = \"6230\"\n",
        )
        .unwrap();
        let p = c.fence(Role::Primary).unwrap();
        assert_eq!(
            p.password,
            Some(SecretSource::File("/etc/vf/bmc.pass".into()))
        );
        assert!(p.options.is_empty());
        let b = c.fence(Role::Backup).unwrap();
        assert_eq!(b.password, Some(SecretSource::Env("VF_BACKUP_BMC".into())));
        assert_eq!(
            (b.call_timeout, b.off_wait),
            (Duration::from_secs(15), Duration::from_secs(30))
        );
        assert_eq!(b.options["ipport"], "6230");

        // No password at all: an agent that authenticates otherwise gets none.
        let c = parse(
            "[primary]\nssh = \"a\"\n[primary.fence]\nagent = \"fence_aws\"\n[backup]\nssh = \"b\"\n",
        )
        .unwrap();
        assert_eq!(c.fence(Role::Primary).unwrap().password, None);
    }

    #[test]
    fn a_fence_beside_an_inventorys_hosts() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("inv.ini"), "[primary]\na\n[backup]\nb\n").unwrap();
        let c = Config::parse(
            "inventory = \"inv.ini\"\n[primary.fence]\nagent = \"fence_ipmilan\"\noptions = { ip = \"10.0.9.10\" }\npassword_env = \"BMC\"\n",
            &d.path().join("c.toml"),
        )
        .unwrap();
        assert_eq!(c.primary.destination, "a", "the host from the inventory");
        assert_eq!(c.fence(Role::Primary).unwrap().options["ip"], "10.0.9.10");
        // Without an inventory, [primary] still needs its ssh destination.
        let e = parse("[primary.fence]\nagent = \"fence_ipmilan\"\n[backup]\nssh = \"b\"\n")
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("primary"), "{e}");
        assert!(e.message.contains("needs `ssh"), "{e}");
    }

    #[test]
    fn bad_fence_entries_name_the_file_line_and_key() {
        let base = "[primary]\nssh = \"a\"\n[backup]\nssh = \"b\"\n[primary.fence]\n";
        let case = |body: &str| parse(&format!("{base}{body}")).unwrap_err();
        let cases: &[(&str, usize, &str, &str)] = &[
            (
                "password_env = \"X\"\n",
                5,
                "primary.fence.agent",
                "needs its fence-agents agent",
            ),
            (
                "agent = \"/usr/sbin/fence_ipmilan\"\n",
                6,
                "primary.fence.agent",
                "fence_[a-z0-9_]+",
            ),
            (
                "agent = \"ipmitool\"\n",
                6,
                "primary.fence.agent",
                "not a fence-agents agent's name",
            ),
            (
                "agent = \"fence_IPMI\"\n",
                6,
                "primary.fence.agent",
                "bare name",
            ),
            (
                "agent = \"fence_\"\n",
                6,
                "primary.fence.agent",
                "bare name",
            ),
            (
                "agent = \"fence_x; reboot\"\n",
                6,
                "primary.fence.agent",
                "bare name",
            ),
            (
                "agent = \"fence_ipmilan\"\npassword = \"hunter2\"\n",
                7,
                "primary.fence.password",
                "password_file",
            ),
            (
                "agent = \"fence_ipmilan\"\npassword_file = \"/p\"\npassword_env = \"P\"\n",
                8,
                "primary.fence.password_env",
                "not both",
            ),
            (
                "agent = \"fence_ipmilan\"\npassword_env = \"1BAD\"\n",
                7,
                "primary.fence.password_env",
                "environment variable",
            ),
            (
                "agent = \"fence_ipmilan\"\n[primary.fence.options]\npassword = \"hunter2\"\n",
                8,
                "primary.fence.options.password",
                "never written here",
            ),
            (
                "agent = \"fence_ipmilan\"\n[primary.fence.options]\npasswd = \"hunter2\"\n",
                8,
                "primary.fence.options.passwd",
                "refused",
            ),
            (
                "agent = \"fence_ipmilan\"\n[primary.fence.options]\npassword-script = \"/x\"\n",
                8,
                "primary.fence.options.password-script",
                "refused",
            ),
            (
                "agent = \"fence_ipmilan\"\n[primary.fence.options]\naction = \"reboot\"\n",
                8,
                "primary.fence.options.action",
                "chosen by validator-failover",
            ),
            (
                "agent = \"fence_ipmilan\"\n[primary.fence.options]\nlanplus = 1\n",
                8,
                "primary.fence.options.lanplus",
                "must be a string",
            ),
            (
                "agent = \"fence_ipmilan\"\n[primary.fence.options]\nip = \"10.0.9.10\\npassword=x\"\n",
                8,
                "primary.fence.options.ip",
                "control characters",
            ),
            (
                "agent = \"fence_ipmilan\"\n[primary.fence.options]\n\"Bad Name\" = \"x\"\n",
                8,
                "primary.fence.options.Bad Name",
                "not an option name",
            ),
            (
                "agent = \"fence_ipmilan\"\ncall_timeout_secs = 0\n",
                7,
                "primary.fence.call_timeout_secs",
                "between 1 and 600",
            ),
            (
                "agent = \"fence_ipmilan\"\noff_wait_secs = 601\n",
                7,
                "primary.fence.off_wait_secs",
                "between 1 and 600",
            ),
        ];
        for (body, line, key, says) in cases {
            let e = case(body);
            assert_eq!(
                (e.line, e.key.as_deref()),
                (Some(*line), Some(*key)),
                "{body}: {e}"
            );
            assert!(e.message.contains(says), "{body}: {e}");
            assert!(
                e.to_string().starts_with("/etc/vf/test.toml:"),
                "names the file: {e}"
            );
            assert!(!e.to_string().contains("hunter2"), "never the secret: {e}");
        }
        // Unknown keys are refused as everywhere else in the file.
        let e = case("agent = \"fence_ipmilan\"\nagnet_timeout = 3\n");
        assert_eq!(e.line, Some(7), "{e}");
        assert!(e.message.contains("agnet_timeout"), "{e}");
    }

    #[test]
    fn wrong_type_names_line() {
        let e = parse("[primary]\nssh = 5\n[backup]\nssh = \"b\"\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn validation_errors_name_line_and_key() {
        let e = parse("[primary]\nssh = \"a\"\n[backup]\nssh = \"b\"\n[validator]\n\ndata_dir = \"relative/dir\"\n").unwrap_err();
        assert_eq!(e.line, Some(7));
        assert_eq!(e.key.as_deref(), Some("validator.data_dir"));
        let e = parse("[primary]\nssh = \"a\"\n[backup]\nssh = \"b\"\n[beacon]\naddress = \"127.0.0.1:99999\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(6), Some("beacon.address"))
        );
        let e = parse("[primary]\nssh = \"a\"\n[backup]\nssh = \"a\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("backup.ssh"));
        let e =
            parse("[primary]\nssh = \"a\"\n[backup]\nssh = \"b\"\n[validator]\nindices = [1, 1]\n")
                .unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(6), Some("validator.indices"))
        );
        let e = parse(
            "[primary]\nssh = \"a\"\n[backup]\nssh = \"b\"\n[failover]\nliveness_epochs = 0\n",
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("failover.liveness_epochs"));
    }

    #[test]
    fn hostile_values_are_kept_literal_not_rejected() {
        // Names are passed to the remote side quoted; they are not refused here, but
        // they must survive unchanged so the quoting can be proven on real hosts.
        let c = parse(
            "[primary]\nssh = \"a\"\n[backup]\nssh = \"b\"\n[validator]\nservice = \"x; touch /tmp/pwned\"\nprocess_name = \"x\"\n",
        )
        .unwrap();
        assert_eq!(c.validator.service, "x; touch /tmp/pwned");
    }

    #[test]
    fn inventory_groups_vars_and_errors() {
        let inv = "# pair\n[primary]\nval-a ansible_host=10.1.1.1 ansible_user=ops ansible_port=2201\n\n[backup]\nval-b\n\n[backup:vars]\nansible_user=root\n[all:vars]\nansible_port=22\n";
        let i = Inventory::parse_ini(inv, Path::new("inv.ini")).unwrap();
        let p = i.connection(Role::Primary).unwrap();
        assert_eq!(
            (
                p.name.as_str(),
                p.address.as_str(),
                p.user.as_deref(),
                p.port
            ),
            ("val-a", "10.1.1.1", Some("ops"), Some(2201))
        );
        let b = i.connection(Role::Backup).unwrap();
        assert_eq!(
            (
                b.name.as_str(),
                b.address.as_str(),
                b.user.as_deref(),
                b.port
            ),
            ("val-b", "val-b", Some("root"), Some(22))
        );

        let two = "[primary]\na\nb\n[backup]\nc\n";
        let e = Inventory::parse_ini(two, Path::new("inv.ini"))
            .unwrap()
            .connection(Role::Primary)
            .unwrap_err();
        assert_eq!(e.line, Some(3));
        let bad = "[primary]\na ansible_port=http\n[backup]\nc\n";
        let e = Inventory::parse_ini(bad, Path::new("inv.ini"))
            .unwrap()
            .connection(Role::Primary)
            .unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("ansible_port")));
        let e = Inventory::parse_ini("[primary\n", Path::new("inv.ini")).unwrap_err();
        assert_eq!(e.line, Some(1));
    }
}

#[cfg(test)]
mod discovery_tests {
    use super::*;

    /// Four places under one temporary directory, none holding a file yet.
    struct Places {
        dir: tempfile::TempDir,
    }

    impl Places {
        fn new() -> Places {
            Places {
                dir: tempfile::tempdir().unwrap(),
            }
        }
        fn p(&self, rel: &str) -> PathBuf {
            self.dir.path().join(rel)
        }
        fn put(&self, rel: &str) -> PathBuf {
            let p = self.p(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(
                &p,
                format!("[primary]\nssh = \"p\"\n[backup]\nssh = \"b\"\n# {rel}\n"),
            )
            .unwrap();
            p
        }
        fn search(&self, flag: Option<&str>, env: Option<&str>, xdg: bool) -> ConfigSearch {
            ConfigSearch {
                flag: flag.map(|f| self.p(f)),
                env: env.map(|e| self.p(e)),
                xdg_config_home: xdg.then(|| self.p("xdg")),
                home: Some(self.p("home")),
                system: self.p("etc/validator-failover/config.toml"),
            }
        }
    }

    #[test]
    fn the_first_place_that_holds_one_wins_in_order() {
        let pl = Places::new();
        let s = pl.search(Some("flag.toml"), Some("env.toml"), true);
        // Nothing anywhere (the named files are missing: an error, tested below).
        let s_unnamed = pl.search(None, None, true);
        assert_eq!(s_unnamed.find().unwrap(), None);

        let etc = pl.put("etc/validator-failover/config.toml");
        let found = |s: &ConfigSearch| s.find().unwrap().unwrap();
        assert_eq!(
            found(&s_unnamed),
            ConfigSource {
                path: etc.clone(),
                origin: ConfigOrigin::System
            }
        );
        // ~/.config is only looked at when XDG_CONFIG_HOME is not set.
        let home = pl.put("home/.config/validator-failover/config.toml");
        assert_eq!(
            found(&s_unnamed).origin,
            ConfigOrigin::System,
            "XDG set: ~/.config not used"
        );
        let s_no_xdg = pl.search(None, None, false);
        assert_eq!(
            found(&s_no_xdg),
            ConfigSource {
                path: home,
                origin: ConfigOrigin::HomeConfig
            }
        );
        let xdg = pl.put("xdg/validator-failover/config.toml");
        assert_eq!(
            found(&s_unnamed),
            ConfigSource {
                path: xdg,
                origin: ConfigOrigin::XdgConfigHome
            }
        );
        let env = pl.put("env.toml");
        assert_eq!(
            found(&pl.search(None, Some("env.toml"), true)),
            ConfigSource {
                path: env,
                origin: ConfigOrigin::Env
            }
        );
        let flag = pl.put("flag.toml");
        assert_eq!(
            found(&s),
            ConfigSource {
                path: flag.clone(),
                origin: ConfigOrigin::Flag
            }
        );
        let cfg = s.load().unwrap();
        assert_eq!(
            cfg.source.as_ref().map(|s| s.path.as_path()),
            Some(flag.as_path())
        );
        let _ = etc;
    }

    #[test]
    fn a_named_file_that_is_missing_is_an_error_not_a_fall_through() {
        let pl = Places::new();
        pl.put("etc/validator-failover/config.toml");
        let e = pl.search(Some("nope.toml"), None, true).find().unwrap_err();
        assert_eq!(e.file, pl.p("nope.toml"));
        assert!(
            e.to_string().contains("given with --config: no such file"),
            "{e}"
        );
        let e = pl.search(None, Some("gone.toml"), true).find().unwrap_err();
        assert_eq!(e.file, pl.p("gone.toml"));
        assert!(
            e.to_string()
                .contains("named by $VALIDATOR_FAILOVER_CONFIG: no such file"),
            "{e}"
        );
    }

    #[test]
    fn none_found_lists_every_place_looked() {
        let pl = Places::new();
        let e = pl.search(None, None, false).load().unwrap_err();
        let LoadError::NotFound(n) = &e else {
            panic!("{e}")
        };
        assert_eq!(n.looked.len(), 4);
        let text = e.to_string();
        for want in [
            "--config FILE: not given".to_string(),
            "$VALIDATOR_FAILOVER_CONFIG: not set".to_string(),
            format!(
                "{} (~/.config/validator-failover/config.toml): no such file",
                pl.p("home/.config/validator-failover/config.toml")
                    .display()
            ),
            format!(
                "{}: no such file",
                pl.p("etc/validator-failover/config.toml").display()
            ),
        ] {
            assert!(text.contains(&want), "{want:?} in:\n{text}");
        }
        let text = pl.search(None, None, true).not_found().to_string();
        assert!(
            text.contains(&format!(
                "{} ($XDG_CONFIG_HOME/validator-failover/config.toml): no such file",
                pl.p("xdg/validator-failover/config.toml").display()
            )),
            "{text}"
        );
    }
}
