"""Shared helpers for the lab simulators (stdlib only).

Installed into each lab host as /usr/local/lib/vf-lab/labsim.py and imported by
qrysm-validator, qrysm-beacon and gzond. It also runs on the lab's host machine,
from tests/lab/lab.sh, as a small command line tool:

    python3 -B labsim.py chain-check ATTESTATIONS_JSONL
    python3 -B labsim.py set-fault STATE_JSON NAME on|off
    python3 -B labsim.py clear-faults STATE_JSON
    python3 -B labsim.py list-faults STATE_JSON
    python3 -B labsim.py db-init PATH [--genesis-root 0xHEX64]   (through vf-bolt)
"""

import datetime
import hashlib
import json
import os
import sys
import time

STATE_PATH = os.environ.get("VF_LAB_STATE", "/var/lib/lab/state.json")
CHAIN_DIR = os.environ.get("VF_LAB_CHAIN", "/lab/chain")
GENESIS_PATH = os.path.join(CHAIN_DIR, "genesis.json")
ATTESTATIONS_PATH = os.path.join(CHAIN_DIR, "attestations.jsonl")

# Faults that the simulators themselves honour (the ssh and power faults are
# handled by lab.sh from outside the simulators).
SIM_FAULTS = {
    "beacon-syncing",
    "beacon-el-offline",
    "beacon-no-peers",
    "beacon-api-qrl",
    "beacon-api-eth",
    "beacon-garbage",
    "exec-syncing",
    "exec-no-peers",
    "exec-api-qrl",
    "exec-api-eth",
    "exec-default-modules",
    "validator-ignore-sigterm",
    "validator-real-duties",
}
HOST_FAULTS = {"sshd-down", "sshd-hang", "power-off", "sshd-hardened", "curl-missing"}
ALL_FAULTS = SIM_FAULTS | HOST_FAULTS
# API flavours exclude each other: switching one on switches the other off
EXCLUSIVE = {
    "beacon-api-qrl": {"beacon-api-eth"},
    "beacon-api-eth": {"beacon-api-qrl"},
    "exec-api-qrl": {"exec-api-eth"},
    "exec-api-eth": {"exec-api-qrl"},
}

# ---------------------------------------------------------------- validator.db (real bbolt)

# The DB is qrysm's bbolt file, read and written only through vf-bolt (the real
# bbolt library, tests/lab/bolt/): `hold` (bbolt's flock, 1 s timeout, qrysm's
# schema), `dump` (JSON), `write`. Installed into each host by lab.sh.
VF_BOLT = os.environ.get("VF_BOLT", "/usr/local/lib/vf-lab/vf-bolt")
DB_FILE_NAME = "validator.db"  # kv.ProtectionDbFileName
LOCK_MESSAGE = "cannot obtain database lock, database may be in use by another process"


class DBError(Exception):
    pass


class DBLockError(DBError):
    pass


class DBGenesisMismatch(DBError):
    pass


def _bolt_error(rc, err):
    err = (err or "").strip()
    if rc == 3:
        return DBLockError(LOCK_MESSAGE)
    if rc == 4:
        return DBGenesisMismatch(err)
    return DBError(err or "vf-bolt exited %d" % rc)


def db_dump(path):
    """The DB as vf-bolt's dump JSON; DBLockError while another process holds it."""
    import subprocess

    p = subprocess.run([VF_BOLT, "dump", path], stdin=subprocess.DEVNULL, capture_output=True)
    if p.returncode != 0:
        raise _bolt_error(p.returncode, p.stderr.decode(errors="replace"))
    return json.loads(p.stdout)


def db_highest_targets(dump):
    """{pubkey: highest signed target epoch} from a dump (the last key of each target bucket)."""
    out = {}
    for pk, k in (dump.get("keys") or {}).items():
        ts = [int(a["target"]) for a in k.get("attestations") or []]
        if ts:
            out[pk.lower()] = max(ts)
    return out


class DBHold:
    """`vf-bolt hold PATH`: a child that holds the DB open and locked (bbolt's
    flock, as qrysm) and applies one JSON op per line. It ignores SIGTERM; it
    closes the DB when its stdin ends (our exit, even by SIGKILL)."""

    def __init__(self, path, genesis_root=None):
        import subprocess

        args = [VF_BOLT, "hold", path]
        if genesis_root:
            args += ["--genesis-root", genesis_root]
        self.p = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True
        )
        line = self.p.stdout.readline().decode(errors="replace").strip()
        if line != "ready":
            err = self.p.stderr.read().decode(errors="replace")
            rc = self.p.wait()
            raise _bolt_error(rc, err)

    def op(self, obj):
        self.p.stdin.write((json.dumps(obj, separators=(",", ":")) + "\n").encode())
        self.p.stdin.flush()
        ans = self.p.stdout.readline().decode(errors="replace").strip()
        if ans == "ok":
            return
        if not ans:
            raise DBError("vf-bolt hold ended: %s" % self.p.stderr.read().decode(errors="replace").strip())
        raise DBError(ans[4:] if ans.startswith("err ") else ans)

    def attest(self, pk, source, target, root):
        self.op({"op": "attest", "pubkey": pk, "source": int(source), "target": int(target), "root": root})

    def propose(self, pk, slot, root):
        self.op({"op": "propose", "pubkey": pk, "slot": int(slot), "root": root})

    def genesis(self, root):
        self.op({"op": "genesis", "root": root})

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        rc = self.p.wait()
        if rc != 0:
            raise _bolt_error(rc, self.p.stderr.read().decode(errors="replace"))


def db_init(path, genesis_root=None):
    """Create (or open) the DB as qrysm's NewKVStore does, optionally with a genesis root."""
    DBHold(path, genesis_root).close()


# ---------------------------------------------------------------- keys


_PUBKEYS = {}


def pubkey(index):
    """Deterministic fake Dilithium public key: 2592 bytes, 0x-prefixed hex."""
    k = _PUBKEYS.get(index)
    if k is None:
        raw = b"".join(
            hashlib.sha256(("vf-lab-key-%d-%d" % (index, j)).encode()).digest() for j in range(81)
        )
        assert len(raw) == 2592
        k = "0x" + raw.hex()
        _PUBKEYS[index] = k
    return k


def attester_slot(index, epoch, slots_per_epoch):
    """The slot of a key's attester duty in an epoch: deterministic per key and
    epoch (the beacon's duties/attester answers it, the validator acts on it)."""
    h = hashlib.sha256(("vf-lab-duty-%d-%d" % (index, epoch)).encode()).digest()
    return epoch * slots_per_epoch + int.from_bytes(h[:8], "big") % slots_per_epoch


# The chain's validators: ours (genesis.json "validators", 0-3) among others, as on a
# real chain where a pair's keys are a few of many. Proposers are drawn from them all
# (the simulated pair's SIM_CHAIN_VALIDATORS in src/hosts/sim.rs is the same).
CHAIN_VALIDATORS = 64


def proposer_index(slot, validators=None):
    """The proposer of a slot (the same as the block headers' proposer_index): one of
    CHAIN_VALIDATORS, deterministic per slot, so that our keys propose now and then."""
    h = hashlib.sha256(("vf-lab-proposer-%d" % slot).encode()).digest()
    return int.from_bytes(h[:8], "big") % CHAIN_VALIDATORS


def index_for_pubkey(pk, candidates):
    pk = pk.lower()
    if not pk.startswith("0x"):
        pk = "0x" + pk
    for i in candidates:
        if pubkey(i) == pk:
            return i
    return None


# ---------------------------------------------------------------- state file

_state_cache = {"key": None, "faults": frozenset()}


def read_faults(path=None):
    """Set of active fault names; re-read whenever the file changes."""
    path = path or STATE_PATH
    try:
        st = os.stat(path)
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
    except OSError:
        return frozenset()
    if _state_cache["key"] != key:
        try:
            with open(path) as f:
                data = json.load(f)
            faults = frozenset(str(x) for x in data.get("faults", []))
        except (OSError, ValueError, AttributeError):
            faults = frozenset()
        _state_cache["key"] = key
        _state_cache["faults"] = faults
    return _state_cache["faults"]


def write_faults(path, faults):
    d = os.path.dirname(path) or "."
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, ".state.%d.tmp" % os.getpid())
    with open(tmp, "w") as f:
        json.dump({"faults": sorted(faults)}, f)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


# ---------------------------------------------------------------- chain clock


class Chain:
    """Reads /lab/chain/genesis.json (re-read when it changes)."""

    def __init__(self, path=None):
        self.path = path or GENESIS_PATH
        self._key = None
        self.genesis = None

    def load(self):
        try:
            st = os.stat(self.path)
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            self._key = None
            self.genesis = None
            return None
        if key != self._key:
            try:
                with open(self.path) as f:
                    g = json.load(f)
                g["genesis_time"] = int(g["genesis_time"])
                g["seconds_per_slot"] = int(g["seconds_per_slot"])
                g["slots_per_epoch"] = int(g["slots_per_epoch"])
                g["validators"] = [int(v) for v in g.get("validators", [])]
                # our keys in the sync committee (lab.sh sync-committee), every epoch
                g["sync_committee"] = [int(v) for v in g.get("sync_committee", [])]
                self.genesis = g
                self._key = key
            except (OSError, ValueError, KeyError, TypeError):
                return self.genesis
        return self.genesis

    def slot(self, now=None):
        g = self.load()
        if g is None:
            return None
        now = time.time() if now is None else now
        return max(0, int((now - g["genesis_time"]) // g["seconds_per_slot"]))

    def epoch(self, now=None):
        s = self.slot(now)
        if s is None:
            return None
        return s // self.genesis["slots_per_epoch"]


# ---------------------------------------------------------------- chain record


def read_attestations(path=None):
    path = path or ATTESTATIONS_PATH
    out = []
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return out
    for n, line in enumerate(data.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
            rec["index"] = int(rec["index"])
            rec["source_epoch"] = int(rec["source_epoch"])
            rec["target_epoch"] = int(rec["target_epoch"])
            rec["_line"] = n
            out.append(rec)
        except (ValueError, KeyError, TypeError):
            continue
    return out


def find_slashings(records):
    """[(kind, a, b)] for every double vote and surround vote per index."""
    by_index = {}
    for r in records:
        by_index.setdefault(r["index"], []).append(r)
    found = []
    for idx in sorted(by_index):
        recs = by_index[idx]
        for i in range(len(recs)):
            a = recs[i]
            for j in range(i + 1, len(recs)):
                b = recs[j]
                if a["target_epoch"] == b["target_epoch"]:
                    if a.get("root") != b.get("root"):
                        found.append(("double vote", a, b))
                elif (a["source_epoch"] < b["source_epoch"] and b["target_epoch"] < a["target_epoch"]) or (
                    b["source_epoch"] < a["source_epoch"] and a["target_epoch"] < b["target_epoch"]
                ):
                    found.append(("surround vote", a, b))
    return found


# ---------------------------------------------------------------- logging


def logrus(level, msg, **fields):
    """One logrus text-formatter line on stdout (journald picks it up)."""
    # qrysm's prefixed text formatter: TimestampFormat "2006-01-02 15:04:05", FullTimestamp
    ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    parts = ['time="%s"' % ts, "level=%s" % level, "msg=%s" % _q(msg)]
    prefix = fields.pop("prefix", None)
    for k in sorted(fields):
        parts.append("%s=%s" % (k, _q(str(fields[k]))))
    if prefix:
        parts.append("prefix=%s" % prefix)
    print(" ".join(parts), flush=True)


def _q(s):
    s = str(s)
    if s and all(c.isalnum() or c in "-._/:+" for c in s):
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


# ---------------------------------------------------------------- CLI


def _cmd_chain_check(path):
    if not os.path.exists(path):
        print("no chain record at %s" % path, file=sys.stderr)
        return 2
    recs = read_attestations(path)
    bad = find_slashings(recs)
    if bad:
        for kind, a, b in bad:
            strip = lambda r: {k: v for k, v in r.items() if not k.startswith("_")}
            print(
                "SLASHABLE %s by validator %d:\n  line %d: %s\n  line %d: %s"
                % (kind, a["index"], a["_line"], json.dumps(strip(a)), b["_line"], json.dumps(strip(b)))
            )
        print("%d slashable pair(s) in %d attestations" % (len(bad), len(recs)))
        return 1
    print("no double signing: %d attestations" % len(recs))
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    if cmd == "chain-check" and len(argv) == 3:
        return _cmd_chain_check(argv[2])
    if cmd == "set-fault" and len(argv) == 5:
        path, name, onoff = argv[2], argv[3], argv[4]
        if name not in ALL_FAULTS or onoff not in ("on", "off"):
            print("unknown fault %s %s" % (name, onoff), file=sys.stderr)
            return 2
        faults = set(read_faults(path))
        if onoff == "on":
            faults -= EXCLUSIVE.get(name, set())
            faults.add(name)
        else:
            faults.discard(name)
        write_faults(path, faults)
        return 0
    if cmd == "clear-faults" and len(argv) == 3:
        write_faults(argv[2], set())
        return 0
    if cmd == "list-faults" and len(argv) == 3:
        print(" ".join(sorted(read_faults(argv[2]))))
        return 0
    if cmd == "db-init" and len(argv) in (3, 5) and (len(argv) == 3 or argv[3] == "--genesis-root"):
        try:
            db_init(argv[2], argv[4] if len(argv) == 5 else None)
        except DBError as e:
            print("db-init: %s" % e, file=sys.stderr)
            return 3 if isinstance(e, DBLockError) else 1
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
