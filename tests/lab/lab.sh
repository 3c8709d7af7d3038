#!/usr/bin/env bash
# The validator-failover lab: two real systemd hosts, `primary` and `backup`,
# booted with systemd-nspawn on this machine, each with its own network
# namespace, sshd, and simulated qrysm-validator / qrysm-beacon / gzond.
# See tests/lab/README.md. Must run as root.
#
#   lab.sh up | reset | down | status | chain-check
#   lab.sh layout [reference|runbook]
#   lab.sh slots-per-epoch [4|8]
#   lab.sh sync-committee [none|I,J,...]
#   lab.sh ctl HOST CMD...
#   lab.sh fault HOST NAME on|off
#   lab.sh power HOST on|off|shutdown|status   (what each host's BMC does)
set -euo pipefail
export LC_ALL=C

LAB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SIM_SRC=$LAB_SRC/sim
UNIT_SRC=$LAB_SRC/units
BOLT_SRC=$LAB_SRC/bolt
BMC_SRC=$LAB_SRC/bmc
# The BMCs' Python: a venv with pyghmi (.ci/run makes it)
BMC_PY=${VF_LAB_BMC_PYTHON:-/opt/vf-pyghmi/bin/python3}
BMC_USER=admin
LAB=${VF_LAB_DIR:-/tmp/vf-lab}
CACHE=${VF_LAB_CACHE:-/var/cache/validator-failover/lab}
SUITE=bookworm
HOSTS=(primary backup)
BOOT_TIMEOUT=${VF_LAB_BOOT_TIMEOUT:-60}
HOST_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Packages of the host rootfs (debootstrap --variant=minbase --include=...).
PACKAGES=systemd,systemd-sysv,dbus,openssh-server,openssh-sftp-server,procps,iproute2,tar,gzip,sudo,python3,util-linux,curl

SIM_FAULT_NAMES="beacon-syncing beacon-el-offline beacon-no-peers beacon-api-qrl beacon-api-eth beacon-garbage exec-syncing exec-no-peers exec-api-qrl exec-api-eth exec-default-modules validator-ignore-sigterm validator-real-duties"
HOST_FAULT_NAMES="sshd-down sshd-hang power-off sshd-hardened curl-missing"

case "$LAB" in
/*) ;;
*) echo "lab: VF_LAB_DIR must be an absolute path" >&2; exit 2 ;;
esac
case "$LAB" in
*[[:space:]:\'\"\\]*) echo "lab: VF_LAB_DIR must not contain spaces, quotes or ':'" >&2; exit 2 ;;
esac
if [ ${#LAB} -gt 40 ]; then
    echo "lab: VF_LAB_DIR '$LAB' is too long (unix socket paths are limited to 108 bytes): keep it under 40 characters" >&2
    exit 2
fi

log() { echo "lab: $*" >&2; }
die() { echo "lab: $*" >&2; exit 1; }

PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
labsim() { "$PY" -B "$SIM_SRC/labsim.py" "$@"; }

root_of() { echo "$LAB/root/$1"; }
valid_host() { case "${1:-}" in primary|backup) return 0 ;; *) return 1 ;; esac; }

# ------------------------------------------------------------------ locking

take_lock() {
    mkdir -p "$LAB"
    chmod 0700 "$LAB"
    exec 9>>"$LAB/.lock"
    flock 9
}

# ------------------------------------------------------------------ dependencies

check_deps() {
    local missing=() pkgs=() c p
    for c in debootstrap:debootstrap systemd-nspawn:systemd-container nc:netcat-openbsd \
             ssh:openssh-client ssh-keygen:openssh-client nsenter:util-linux flock:util-linux \
             tar:tar python3:python3; do
        if ! command -v "${c%%:*}" >/dev/null 2>&1; then
            missing+=("${c%%:*}")
            p=${c#*:}
            case " ${pkgs[*]-} " in *" $p "*) ;; *) pkgs+=("$p") ;; esac
        fi
    done
    # vf-bolt (the hosts' validator.db through the real bbolt library) is built
    # here, offline, from Debian's Go and bbolt source
    if ! command -v go >/dev/null 2>&1; then
        missing+=(go)
        pkgs+=(golang-go)
    fi
    if [ ! -f /usr/share/gocode/src/go.etcd.io/bbolt/db.go ]; then
        missing+=("bbolt source (/usr/share/gocode/src/go.etcd.io/bbolt)")
        pkgs+=(golang-github-coreos-bbolt-dev)
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        echo "lab: missing commands: ${missing[*]}" >&2
        echo "lab: install them with: apt-get install -y ${pkgs[*]}" >&2
        exit 2
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "lab: must run as root (systemd-nspawn, nsenter)" >&2
        exit 2
    fi
}

# ------------------------------------------------------------------ rootfs cache

# Runs in the freshly debootstrapped tree. Its text is part of the cache key.
customize_rootfs() {
    local r=$1
    chroot "$r" groupadd --system qrysm
    chroot "$r" useradd --system --gid qrysm --home-dir /var/lib/qrysm --no-create-home \
        --shell /usr/sbin/nologin qrysm
    install -d -m 0750 "$r/var/lib/qrysm"
    chroot "$r" chown qrysm:qrysm /var/lib/qrysm
    install -d -m 2755 "$r/var/log/journal"
    # per-host identity is made when a host is created
    rm -f "$r"/etc/ssh/ssh_host_*
    : >"$r/etc/machine-id"
    rm -f "$r/etc/hostname"
    chroot "$r" apt-get clean
    rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin
}

cache_key() {
    { echo "$SUITE minbase $PACKAGES"; declare -f customize_rootfs; } | sha256sum | cut -c1-12
}

rootfs_tar() { echo "$CACHE/rootfs-$(cache_key).tar"; }

ensure_rootfs_tar() {
    local tar; tar=$(rootfs_tar)
    [ -s "$tar" ] && return 0
    mkdir -p "$CACHE"
    exec 8>>"$CACHE/.lock"
    flock 8
    if [ -s "$tar" ]; then exec 8>&-; return 0; fi
    local build; build=$(mktemp -d "$CACHE/build.XXXXXX")
    log "building the host rootfs with debootstrap ($SUITE, minbase): this takes a minute or two, once"
    local t0=$SECONDS
    if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$build/root" >"$build/debootstrap.log" 2>&1; then
        tail -n 30 "$build/debootstrap.log" >&2
        rm -rf --one-file-system "$build"
        die "debootstrap failed (log above)"
    fi
    customize_rootfs "$build/root"
    tar -C "$build/root" --numeric-owner --xattrs --xattrs-include='*' -cf "$tar.tmp" .
    mv "$tar.tmp" "$tar"
    rm -rf --one-file-system "$build"
    log "rootfs cached at $tar ($((SECONDS - t0)) s)"
    exec 8>&-
}

# ------------------------------------------------------------------ host processes

nspawn_pid() {
    # the recorded nspawn PID if that process is still our nspawn for this host
    local h=$1 pid f
    f=$LAB/$h.nspawn
    [ -s "$f" ] || return 1
    pid=$(cat "$f")
    [ -r "/proc/$pid/cmdline" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd-nspawn ] || return 1
    tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "$(root_of "$h")" || return 1
    echo "$pid"
}

leader_of_pid() {
    # the container's init: a child of the nspawn process, in another PID namespace
    local pid=$1 c
    for c in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
        if [ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ] &&
            [ "$(readlink "/proc/$c/ns/pid")" != "$(readlink /proc/self/ns/pid)" ]; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

leader() {
    local pid
    pid=$(nspawn_pid "$1") || return 1
    leader_of_pid "$pid"
}

host_up() { leader "$1" >/dev/null 2>&1; }

in_host() {
    # run a command inside host $1 (all its namespaces), independent of sshd
    local h=$1 l; shift
    l=$(leader "$h") || { echo "lab: host $h is down" >&2; return 255; }
    nsenter --target "$l" --mount --uts --ipc --net --pid --root --wd \
        env -i PATH="$HOST_PATH" HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" "$@" 9>&-
}

ssh_ok() {
    timeout 8 ssh -F "$LAB/ssh_config" -o ConnectTimeout=5 "$1" true </dev/null >/dev/null 2>&1 9>&-
}

# ------------------------------------------------------------------ config files

write_ssh_config() {
    local h l tmp=$LAB/ssh_config.tmp
    : >"$tmp"
    for h in "${HOSTS[@]}"; do
        echo "Host $h" >>"$tmp"
        if l=$(leader "$h" 2>/dev/null); then
            echo "  ProxyCommand nsenter --net=/proc/$l/ns/net nc 127.0.0.1 22" >>"$tmp"
        else
            # powered off: fail at once rather than reach whatever reuses an old PID
            echo "  ProxyCommand sh -c 'echo \"vf-lab: host $h is powered off\" >&2; exit 1'" >>"$tmp"
        fi
        cat >>"$tmp" <<EOF
  User root
  IdentityFile $LAB/id_ed25519
  UserKnownHostsFile $LAB/known_hosts
  StrictHostKeyChecking yes
  IdentitiesOnly yes
  BatchMode yes
  LogLevel ERROR

EOF
    done
    mv "$tmp" "$LAB/ssh_config"
}

write_env() {
    local tmp=$LAB/env.tmp p l H
    {
        echo "LAB_DIR=$LAB"
        echo "SSH_CONFIG=$LAB/ssh_config"
        for h in "${HOSTS[@]}"; do
            H=$(echo "$h" | tr a-z A-Z)
            p=$(nspawn_pid "$h" 2>/dev/null) || p=
            l=$(leader "$h" 2>/dev/null) || l=
            echo "${H}_NSPAWN=$p"
            echo "${H}_LEADER=$l"
            echo "${H}_ROOT=$(root_of "$h")"
        done
    } >"$tmp"
    mv "$tmp" "$LAB/env"
}

write_known_hosts() {
    local h tmp=$LAB/known_hosts.tmp
    : >"$tmp"
    for h in "${HOSTS[@]}"; do
        [ -s "$(root_of "$h")/etc/ssh/ssh_host_ed25519_key.pub" ] || continue
        echo "$h $(cut -d' ' -f1,2 "$(root_of "$h")/etc/ssh/ssh_host_ed25519_key.pub")" >>"$tmp"
    done
    mv "$tmp" "$LAB/known_hosts"
}

# ------------------------------------------------------------------ host files

# ------------------------------------------------------------------ layout and vf-bolt

# The hosts' layout: "reference" (the reference role: --datadir=/var/lib/qrysm/validator,
# the DB beside wallet/, slashing-protection/ empty) or "runbook" (--datadir is the
# runbook's slashing-protection/ directory). Persisted in $LAB/layout, applied by reset.
current_layout() {
    local l
    l=$(cat "$LAB/layout" 2>/dev/null || true)
    case "$l" in reference|runbook) echo "$l" ;; *) echo reference ;; esac
}

layout_datadir() {
    case "$1" in
    runbook) echo /var/lib/qrysm/validator/slashing-protection ;;
    *) echo /var/lib/qrysm/validator ;;
    esac
}

# The chain's slots per epoch (4, the default, or 8) and our keys in its sync
# committee (none by default), persisted in $LAB/slots_per_epoch and
# $LAB/sync_committee, applied by reset (a new chain).
current_spe() {
    local n
    n=$(cat "$LAB/slots_per_epoch" 2>/dev/null || true)
    case "$n" in 4|8) echo "$n" ;; *) echo 4 ;; esac
}

current_sync_committee() {
    local c
    c=$(cat "$LAB/sync_committee" 2>/dev/null || true)
    case "$c" in ''|none) echo none ;; *) echo "$c" ;; esac
}

# the sync committee as a JSON array of indices
sync_committee_json() {
    local c
    c=$(current_sync_committee)
    if [ "$c" = none ]; then echo '[]'; else echo "[$c]"; fi
}

# the validator unit for the current layout, rendered into $LAB (unchanged file: no write)
render_unit() {
    local out=$LAB/qrysm-validator.service tmp
    tmp=$out.tmp.$$
    sed "s|@DATADIR@|$(layout_datadir "$(current_layout)")|g" "$UNIT_SRC/qrysm-validator.service" >"$tmp"
    if cmp -s "$tmp" "$out"; then rm -f "$tmp"; else mv "$tmp" "$out"; fi
}

# build (cached by its source's hash: a few ms when built) the static vf-bolt
ensure_vf_bolt() {
    VF_BOLT_BIN=$(bash "$BOLT_SRC/build.sh") || die "could not build vf-bolt (tests/lab/bolt/build.sh)"
    [ -x "$VF_BOLT_BIN" ] || die "tests/lab/bolt/build.sh printed '$VF_BOLT_BIN', not an executable"
}

prepare_host_files() {
    ensure_vf_bolt
    render_unit
}

# copy the simulators, vf-bolt and units into a host's root; prints what changed
install_sims() {
    local r=$1 src dst changed=()
    install -d -m 0755 "$r/usr/local/bin" "$r/usr/local/sbin" "$r/usr/local/lib/vf-lab" "$r/var/lib/lab"
    for pair in \
        "$SIM_SRC/qrysm-validator:/usr/local/bin/qrysm-validator:755" \
        "$SIM_SRC/backup-slashing-protection:/usr/local/bin/backup-slashing-protection:755" \
        "$VF_BOLT_BIN:/usr/local/lib/vf-lab/vf-bolt:755" \
        "$SIM_SRC/qrysm-validator-precheck:/usr/local/bin/qrysm-validator-precheck:755" \
        "$SIM_SRC/qrysm-beacon:/usr/local/bin/qrysm-beacon:755" \
        "$SIM_SRC/gzond:/usr/local/bin/gzond:755" \
        "$SIM_SRC/labsim.py:/usr/local/lib/vf-lab/labsim.py:644" \
        "$SIM_SRC/vf-lab-host:/usr/local/sbin/vf-lab-host:755" \
        "$LAB/qrysm-validator.service:/etc/systemd/system/qrysm-validator.service:644" \
        "$UNIT_SRC/qrysm-beacon.service:/etc/systemd/system/qrysm-beacon.service:644" \
        "$UNIT_SRC/gzond.service:/etc/systemd/system/gzond.service:644"; do
        IFS=: read -r src dst mode <<<"$pair"
        if [ -L "$r$dst" ] || ! cmp -s "$src" "$r$dst" || [ "$(stat -c %a "$r$dst")" != "$mode" ]; then
            rm -f "$r$dst"
            install -m "$mode" -o root -g root "$src" "$r$dst"
            changed+=("$dst")
        fi
    done
    echo "${changed[*]-}"
}

create_host() {
    local h=$1 r; r=$(root_of "$h")
    log "creating host $h"
    if [ -e "$r" ]; then
        if findmnt -rn -o TARGET | grep -q "^$r\(/\|$\)"; then die "$r has mounts: refusing to remove it"; fi
        rm -rf --one-file-system "$r"
    fi
    mkdir -p "$r"
    tar -C "$r" --numeric-owner --xattrs --xattrs-include='*' -xpf "$(rootfs_tar)"
    echo "$h" >"$r/etc/hostname"
    echo 'LANG=C.UTF-8' >"$r/etc/default/locale"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' "$h" >"$r/etc/hosts"
    od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$r/etc/machine-id"
    echo >>"$r/etc/machine-id"
    rm -f "$r"/etc/ssh/ssh_host_*
    ssh-keygen -q -t ed25519 -N '' -C "root@$h" -f "$r/etc/ssh/ssh_host_ed25519_key"
    cat >"$r/etc/ssh/sshd_config.d/vf-lab.conf" <<'EOF'
# vf-lab: one ed25519 host key per host, keys only, and room for parallel tests
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
MaxStartups 100:30:200
MaxSessions 64
EOF
    install -d -m 0700 "$r/root/.ssh"
    install -m 0600 "$LAB/id_ed25519.pub" "$r/root/.ssh/authorized_keys"
    install -d -m 0755 "$r/lab/chain"
    install_sims "$r" >/dev/null
    local u
    install -d "$r/etc/systemd/system/multi-user.target.wants"
    for u in qrysm-beacon.service gzond.service; do
        ln -sfn "/etc/systemd/system/$u" "$r/etc/systemd/system/multi-user.target.wants/$u"
    done
    ln -sfn /lib/systemd/system/ssh.service "$r/etc/systemd/system/multi-user.target.wants/ssh.service"
    # the validator stays disabled until reset makes this host the primary
    rm -f "$r/etc/systemd/system/multi-user.target.wants/qrysm-validator.service"
    labsim clear-faults "$r/var/lib/lab/state.json"
}

boot_host() {
    local h=$1 r pid l
    r=$(root_of "$h")
    [ -d "$r/etc" ] || die "host $h has no root at $r"
    mkdir -p "$LAB/chain"
    # sshd faults do not survive a boot
    labsim set-fault "$r/var/lib/lab/state.json" sshd-down off
    labsim set-fault "$r/var/lib/lab/state.json" sshd-hang off
    log "booting $h"
    # Own session (a test runner killing its process group must not power it off),
    # and no inherited descriptors but stdio: not the lab lock (fd 9), not a
    # caller's pipe or jobserver fd, so nothing waits on the container.
    (
        for fd in /proc/$BASHPID/fd/*; do
            fd=${fd##*/}
            [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
        done
        exec setsid systemd-nspawn --register=no --keep-unit --quiet --console=read-only --link-journal=no \
            -D "$r" -b --private-network -M "$h" --bind="$LAB/chain:/lab/chain"
    ) </dev/null >>"$LAB/$h.log" 2>&1 &
    pid=$!
    echo "$pid" >"$LAB/$h.nspawn"
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$LAB/$h.log" >&2
            die "systemd-nspawn for $h exited during boot (log: $LAB/$h.log)"
        fi
        if l=$(leader_of_pid "$pid"); then break; fi
        sleep 0.1
    done
    [ -n "${l:-}" ] || die "could not find the init process of $h (nspawn PID $pid)"
    echo "$l" >"$LAB/$h.leader"
}

wait_ssh() {
    # wait until every given host answers over ssh (bounded)
    local deadline=$((SECONDS + BOOT_TIMEOUT)) h pending
    local -A pid=()
    while :; do
        pending=()
        # the hosts in parallel: one round costs one ssh connection, not one per host
        for h in "$@"; do ssh_ok "$h" & pid[$h]=$!; done
        for h in "$@"; do wait "${pid[$h]}" || pending+=("$h"); done
        [ ${#pending[@]} -eq 0 ] && return 0
        if [ $SECONDS -ge $deadline ]; then
            for h in "${pending[@]}"; do
                echo "lab: $h does not answer over ssh after ${BOOT_TIMEOUT}s; last console lines:" >&2
                tail -n 15 "$LAB/$h.log" >&2 || true
                ssh -F "$LAB/ssh_config" -o ConnectTimeout=5 "$h" true </dev/null 9>&- || true
            done
            return 1
        fi
        sleep 0.3
    done
}

halt_host() {
    # clean halt, then hard kill after 15 s; only the PIDs this lab started
    local h=$1 pid l
    pid=$(nspawn_pid "$h") || { rm -f "$LAB/$h.nspawn" "$LAB/$h.leader"; return 0; }
    if l=$(leader_of_pid "$pid"); then kill -s SIGRTMIN+3 "$l" 2>/dev/null || true; fi
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$h did not halt in 15 s: killing it"
        power_off_host "$h"
    fi
    rm -f "$LAB/$h.nspawn" "$LAB/$h.leader"
}

power_off_host() {
    # hard power-off. Killing only nspawn leaves the container's init running
    # (reparented): kill the init (that ends its whole PID namespace), then nspawn.
    local h=$1 pid l
    pid=$(nspawn_pid "$h") || return 0
    if l=$(leader_of_pid "$pid"); then kill -KILL "$l" 2>/dev/null || true; fi
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -n "${l:-}" ]; then
        for _ in $(seq 1 50); do
            [ -e "/proc/$l" ] || break
            sleep 0.1
        done
    fi
    rm -f "$LAB/$h.nspawn" "$LAB/$h.leader"
}

# power a host: off (hard), shutdown (clean halt), on (booted as every boot here,
# sshd answering); the lab lock held. `fault HOST power-off` and the BMCs use it.
set_power() {
    local h=$1 what=$2 flag=on
    case "$what" in
    off) power_off_host "$h" ;;
    shutdown) halt_host "$h" ;;
    on)
        flag=off
        if ! host_up "$h"; then
            boot_host "$h"
            write_ssh_config
            write_env
            wait_ssh "$h" || die "$h did not come back"
        fi
        ;;
    *) die "set_power: $what" ;;
    esac
    write_ssh_config
    write_env
    labsim set-fault "$(root_of "$h")/var/lib/lab/state.json" power-off "$flag"
}

# ------------------------------------------------------------------ BMCs

# the recorded PID of host $1's BMC, if that process is still this lab's BMC for it
bmc_pid() {
    local h=$1 f pid
    f=$LAB/bmc/$h.pid
    [ -s "$f" ] || return 1
    pid=$(cat "$f")
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "$BMC_SRC/labbmc.py" || return 1
    tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "$LAB/bmc/$h.port" || return 1
    echo "$pid"
}

write_bmc_env() {
    local tmp=$LAB/bmc.env.tmp h H
    {
        echo "BMC_USERNAME=$BMC_USER"
        echo "BMC_PASSWORD_FILE=$LAB/bmc/password"
        for h in "${HOSTS[@]}"; do
            H=$(echo "$h" | tr a-z A-Z)
            echo "${H}_BMC_PORT=$(cat "$LAB/bmc/$h.port")"
            echo "${H}_BMC_PID=$(cat "$LAB/bmc/$h.pid")"
        done
    } >"$tmp"
    mv "$tmp" "$LAB/bmc.env"
}

# one IPMI BMC per host (tests/lab/bmc/labbmc.py, pyghmi) on 127.0.0.1 UDP, port
# picked by the kernel; cheap when they run
start_bmcs() {
    local h started=() pid need=()
    for h in "${HOSTS[@]}"; do bmc_pid "$h" >/dev/null || need+=("$h"); done
    if [ ${#need[@]} -eq 0 ]; then
        write_bmc_env
        return 0
    fi
    if [ ! -x "$BMC_PY" ] || ! "$BMC_PY" -c 'import pyghmi.ipmi.bmc' 2>/dev/null; then
        log "no BMCs: pyghmi is not in $BMC_PY (python3 -m venv /opt/vf-pyghmi && /opt/vf-pyghmi/bin/pip install 'pyghmi>=1.6,<1.7', as .ci/run does; or VF_LAB_BMC_PYTHON)"
        rm -f "$LAB/bmc.env"
        return 0
    fi
    install -d -m 0700 "$LAB/bmc"
    if [ ! -s "$LAB/bmc/password" ]; then
        # 16 characters: IPMI v2 (lanplus) passwords are at most 20 bytes
        (umask 077; od -An -tx1 -N8 /dev/urandom | tr -d ' \n' >"$LAB/bmc/password.tmp")
        mv "$LAB/bmc/password.tmp" "$LAB/bmc/password"
    fi
    for h in "${need[@]}"; do
        rm -f "$LAB/bmc/$h.port"
        # own session, no inherited descriptors but stdio (not the lab lock, fd 9)
        (
            for fd in /proc/$BASHPID/fd/*; do
                fd=${fd##*/}
                [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
            done
            exec setsid "$BMC_PY" -B "$BMC_SRC/labbmc.py" --lab "$LAB" --host "$h" \
                --lab-sh "$LAB_SRC/lab.sh" --user "$BMC_USER" \
                --password-file "$LAB/bmc/password" --port-file "$LAB/bmc/$h.port"
        ) </dev/null >>"$LAB/bmc/$h.log" 2>&1 &
        echo "$!" >"$LAB/bmc/$h.pid"
        started+=("$h")
    done
    for h in "${started[@]}"; do
        for _ in $(seq 1 100); do
            [ -s "$LAB/bmc/$h.port" ] && break
            pid=$(cat "$LAB/bmc/$h.pid")
            kill -0 "$pid" 2>/dev/null || { tail -n 20 "$LAB/bmc/$h.log" >&2; die "the BMC of $h exited (log: $LAB/bmc/$h.log)"; }
            sleep 0.05
        done
        [ -s "$LAB/bmc/$h.port" ] || die "the BMC of $h did not listen within 5 s (log: $LAB/bmc/$h.log)"
        log "BMC of $h on 127.0.0.1:$(cat "$LAB/bmc/$h.port") (udp), PID $(cat "$LAB/bmc/$h.pid")"
    done
    write_bmc_env
}

stop_bmcs() {
    local h pid
    for h in "${HOSTS[@]}"; do
        if pid=$(bmc_pid "$h"); then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$LAB/bmc/$h.pid" "$LAB/bmc/$h.port"
    done
    rm -f "$LAB/bmc.env"
}

# ------------------------------------------------------------------ reset

new_chain() {
    local now gvr tmp
    mkdir -p "$LAB/chain"
    chmod 0755 "$LAB/chain"
    now=$(date +%s)
    gvr=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
    tmp=$LAB/chain/.genesis.tmp
    printf '{"genesis_time": %d, "seconds_per_slot": 2, "slots_per_epoch": %d, "genesis_validators_root": "0x%s", "validators": [0,1,2,3], "sync_committee": %s}\n' \
        "$((now - 2))" "$(current_spe)" "$gvr" "$(sync_committee_json)" >"$tmp"
    chmod 0644 "$tmp"
    mv "$tmp" "$LAB/chain/genesis.json"
    tmp=$LAB/chain/.att.tmp
    : >"$tmp"
    chmod 0666 "$tmp"
    mv "$tmp" "$LAB/chain/attestations.jsonl"
}

refresh_sims() {
    # bring the host's simulators up to date with tests/lab/sim (cheap when equal)
    local h=$1 changed restart=()
    changed=$(install_sims "$(root_of "$h")")
    [ -z "$changed" ] && return 0
    log "$h: updated $changed"
    case " $changed " in
    *labsim.py*) restart=(qrysm-beacon gzond) ;;
    *)
        case " $changed " in *qrysm-beacon*) restart+=(qrysm-beacon) ;; esac
        case " $changed " in *gzond*) restart+=(gzond) ;; esac
        ;;
    esac
    in_host "$h" vf-lab-host reload "${restart[@]}"
}

run_parallel() {
    # run "$1 primary" and "$1 backup" concurrently; fail if either fails
    local fn=$1 pids=() rc=0 p; shift
    local h
    for h in "${HOSTS[@]}"; do
        "$fn" "$h" "$@" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    return $rc
}

reset_quiesce() {
    local h=$1
    labsim clear-faults "$(root_of "$h")/var/lib/lab/state.json"
    refresh_sims "$h"
    in_host "$h" vf-lab-host quiesce
}

reset_baseline() { in_host "$1" vf-lab-host baseline "$1" "$(current_layout)"; }

do_reset() {
    local h down=() t0
    t0=$(date +%s%3N)
    prepare_host_files
    for h in "${HOSTS[@]}"; do host_up "$h" || down+=("$h"); done
    if [ ${#down[@]} -gt 0 ]; then
        for h in "${down[@]}"; do boot_host "$h"; done
        write_ssh_config
        write_env
        wait_ssh "${down[@]}" || die "hosts did not come up: ${down[*]}"
    fi
    run_parallel reset_quiesce || die "reset: could not quiesce the hosts"
    new_chain
    run_parallel reset_baseline || die "reset: could not set up the baseline"
    # the baseline is reached when the primary has signed the first epoch
    for _ in $(seq 1 50); do
        grep -q '"host": "primary"' "$LAB/chain/attestations.jsonl" 2>/dev/null && break
        sleep 0.1
    done
    grep -q '"host": "primary"' "$LAB/chain/attestations.jsonl" ||
        die "reset: the primary's validator did not attest within 5 s"
    wait_ssh "${HOSTS[@]}" || die "reset: hosts do not answer over ssh"
    write_ssh_config
    write_env
    log "reset done in $(( $(date +%s%3N) - t0 )) ms (layout $(current_layout), $(current_spe) slots per epoch, sync committee $(current_sync_committee))"
}

# ------------------------------------------------------------------ commands

cmd_up() {
    take_lock
    if [ -s "$LAB/env" ] && [ -s "$LAB/ssh_config" ] && host_up primary && host_up backup; then
        local p1 p2 ok=1
        ssh_ok primary & p1=$!
        ssh_ok backup & p2=$!
        wait $p1 || ok=0
        wait $p2 || ok=0
        if [ $ok = 1 ]; then
            start_bmcs
            return 0
        fi
    fi
    check_deps
    ensure_rootfs_tar
    prepare_host_files
    local h running=() stopped=()
    for h in "${HOSTS[@]}"; do
        if host_up "$h"; then running+=("$h"); else stopped+=("$h"); fi
    done
    if [ ${#running[@]} -eq 0 ]; then
        # nothing runs: a fresh lab, new keys and hosts from the cached rootfs
        rm -f "$LAB/id_ed25519" "$LAB/id_ed25519.pub" "$LAB/env"
        ssh-keygen -q -t ed25519 -N '' -C vf-lab-operator -f "$LAB/id_ed25519"
        rm -rf "$LAB/chain"
        local cpids=() p
        for h in "${HOSTS[@]}"; do
            rm -f "$LAB/$h.log"
            create_host "$h" &
            cpids+=($!)
        done
        for p in "${cpids[@]}"; do wait "$p" || die "could not create the hosts"; done
    else
        [ -s "$LAB/id_ed25519" ] || die "a host runs but $LAB/id_ed25519 is gone: run '$0 down' first"
        for h in "${stopped[@]}"; do
            [ -d "$(root_of "$h")/etc" ] || create_host "$h"
        done
    fi
    write_known_hosts
    [ ${#running[@]} -eq 0 ] && new_chain
    for h in "${stopped[@]}"; do boot_host "$h"; done
    write_ssh_config
    write_env
    # a running host may have an sshd fault on: reset clears it, then checks ssh
    if [ ${#stopped[@]} -gt 0 ]; then wait_ssh "${stopped[@]}" || die "the hosts did not come up"; fi
    do_reset
    start_bmcs
}

cmd_reset() {
    take_lock
    [ -s "$LAB/id_ed25519" ] && [ -d "$(root_of primary)/etc" ] && [ -d "$(root_of backup)/etc" ] ||
        die "the lab is not set up: run '$0 up'"
    do_reset
}

cmd_down() {
    take_lock
    local h
    stop_bmcs
    for h in "${HOSTS[@]}"; do halt_host "$h" & done
    wait
    rm -f "$LAB/env"
    [ -s "$LAB/id_ed25519" ] && write_ssh_config
    return 0
}

cmd_ctl() {
    local h=${1:-}
    valid_host "$h" || { echo "usage: $0 ctl primary|backup CMD..." >&2; exit 2; }
    shift
    [ $# -gt 0 ] || { echo "usage: $0 ctl $h CMD..." >&2; exit 2; }
    local rc=0
    in_host "$h" "$@" || rc=$?
    exit $rc
}

cmd_fault() {
    local h=${1:-} name=${2:-} onoff=${3:-}
    valid_host "$h" || { echo "usage: $0 fault primary|backup NAME on|off" >&2; exit 2; }
    case "$onoff" in on|off) ;; *) echo "usage: $0 fault $h NAME on|off" >&2; exit 2 ;; esac
    case " $SIM_FAULT_NAMES $HOST_FAULT_NAMES " in
    *" $name "*) ;;
    *) echo "lab: unknown fault '$name'; one of: $HOST_FAULT_NAMES $SIM_FAULT_NAMES" >&2; exit 2 ;;
    esac
    take_lock
    local state; state=$(root_of "$h")/var/lib/lab/state.json
    [ -d "$(root_of "$h")/var/lib/lab" ] || die "the lab is not set up: run '$0 up'"
    case "$name" in
    power-off)
        if [ "$onoff" = on ]; then set_power "$h" off; else set_power "$h" on; fi
        ;;
    sshd-down|sshd-hang|sshd-hardened|curl-missing)
        host_up "$h" || die "host $h is down"
        in_host "$h" vf-lab-host "$name" "$onoff"
        ;;
    esac
    labsim set-fault "$state" "$name" "$onoff"
}

cmd_power() {
    local h=${1:-} what=${2:-}
    valid_host "$h" || { echo "usage: $0 power primary|backup on|off|shutdown|status" >&2; exit 2; }
    case "$what" in
    status)
        # no lock: what the host is now
        if host_up "$h"; then echo on; else echo off; fi
        ;;
    on|off|shutdown)
        take_lock
        [ -d "$(root_of "$h")/etc" ] || die "the lab is not set up: run '$0 up'"
        set_power "$h" "$what"
        ;;
    *) echo "usage: $0 power $h on|off|shutdown|status" >&2; exit 2 ;;
    esac
}

cmd_status() {
    local h l ssh val faults
    for h in "${HOSTS[@]}"; do
        if l=$(leader "$h" 2>/dev/null); then
            if ssh_ok "$h"; then ssh=ok; else ssh=FAIL; fi
            val=$(in_host "$h" systemctl show -p ActiveState --value qrysm-validator 2>/dev/null || echo '?')
        else
            l=down ssh=- val=-
        fi
        faults=$(labsim list-faults "$(root_of "$h")/var/lib/lab/state.json" 2>/dev/null || true)
        printf '%-8s leader=%-8s ssh=%-4s validator=%-12s faults=%s\n' "$h" "$l" "$ssh" "$val" "${faults:--}"
    done
    echo "layout: $(current_layout) (validator --datadir=$(layout_datadir "$(current_layout)"))"
    echo "chain: 2 s slots, $(current_spe) slots per epoch (next reset), sync committee: $(current_sync_committee)"
    for h in "${HOSTS[@]}"; do
        if l=$(bmc_pid "$h"); then
            printf 'bmc %-8s 127.0.0.1:%s (udp) PID %s\n' "$h" "$(cat "$LAB/bmc/$h.port" 2>/dev/null)" "$l"
        else
            printf 'bmc %-8s not running\n' "$h"
        fi
    done
}

cmd_slots_per_epoch() {
    local n=${1:-}
    if [ -z "$n" ]; then
        current_spe
        return 0
    fi
    case "$n" in
    4|8) ;;
    *) echo "usage: $0 slots-per-epoch [4|8]" >&2; exit 2 ;;
    esac
    take_lock
    echo "$n" >"$LAB/slots_per_epoch.tmp"
    mv "$LAB/slots_per_epoch.tmp" "$LAB/slots_per_epoch"
    log "$n slots per epoch: applied by the next reset"
}

cmd_sync_committee() {
    local c=${1:-}
    if [ -z "$c" ]; then
        current_sync_committee
        return 0
    fi
    case "$c" in
    none) ;;
    *[!0-9,]*|,*|*,|*,,*) echo "usage: $0 sync-committee [none|I,J,...] (validator indices)" >&2; exit 2 ;;
    esac
    take_lock
    echo "$c" >"$LAB/sync_committee.tmp"
    mv "$LAB/sync_committee.tmp" "$LAB/sync_committee"
    log "sync committee $c: applied by the next reset"
}

cmd_layout() {
    local l=${1:-}
    if [ -z "$l" ]; then
        current_layout
        return 0
    fi
    case "$l" in
    reference|runbook) ;;
    *) echo "usage: $0 layout [reference|runbook]" >&2; exit 2 ;;
    esac
    take_lock
    echo "$l" >"$LAB/layout.tmp"
    mv "$LAB/layout.tmp" "$LAB/layout"
    log "layout $l: applied by the next reset"
}

cmd_chain_check() {
    labsim chain-check "$LAB/chain/attestations.jsonl"
}

usage() {
    cat >&2 <<EOF
usage: $0 up | reset | down | status | chain-check
       $0 layout [reference|runbook]      (persisted in the lab dir, applied by reset)
       $0 slots-per-epoch [4|8]           (persisted, applied by reset; default 4)
       $0 sync-committee [none|I,J,...]   (our keys in the sync committee; persisted, applied by reset)
       $0 ctl primary|backup CMD...
       $0 fault primary|backup NAME on|off
       $0 power primary|backup on|off|shutdown|status   (what the BMCs do)
faults: $HOST_FAULT_NAMES
        $SIM_FAULT_NAMES
lab dir: $LAB (VF_LAB_DIR), rootfs cache: $CACHE (VF_LAB_CACHE)
EOF
    exit 2
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
up) cmd_up ;;
reset) cmd_reset ;;
down) cmd_down ;;
ctl) cmd_ctl "$@" ;;
fault) cmd_fault "$@" ;;
power) cmd_power "$@" ;;
status) cmd_status ;;
chain-check) cmd_chain_check ;;
layout) cmd_layout "$@" ;;
slots-per-epoch) cmd_slots_per_epoch "$@" ;;
sync-committee) cmd_sync_committee "$@" ;;
*) usage ;;
esac
