#!/usr/bin/env python3
"""The IPMI BMC of one lab host (tests/lab/README.md, "BMCs").

A pyghmi BMC (pyghmi.ipmi.bmc.Bmc, the engine of virtualbmc) on 127.0.0.1, UDP,
on a port the kernel picks (written to --port-file once bound), with one user.
Its power actions act on the lab host through `lab.sh power HOST ...`, the way
lab.sh itself powers hosts off and boots them (the lab's own PID files, never a
process found by name):

  chassis power off     `lab.sh power HOST off`: hard power-off (the host's init
                        and its nspawn killed by PID)
  chassis power soft    `lab.sh power HOST shutdown`: clean halt (SIGRTMIN+3 to
                        the init)
  chassis power on      `lab.sh power HOST on`: booted as lab.sh boots it, from
                        its own root filesystem (what was written there persists)
  chassis power status  `lab.sh power HOST status`

As a real BMC does, a power command is acknowledged at once and carried out
behind it, one at a time in the order received; the status is the host's real
state at each ask. SIGTERM ends the BMC and any power command it is running.
"""

import argparse
import os
import queue
import signal
import subprocess
import sys
import threading

import pyghmi.ipmi.bmc as bmc


class LabBmc(bmc.Bmc):
    def __init__(self, authdata, host, lab_dir, lab_sh):
        # Port 0: the kernel picks a free one; the real port is read back below.
        super().__init__(authdata, port=0, address="127.0.0.1")
        self.port = self.serversocket.getsockname()[1]
        self.host = host
        self.lab_dir = lab_dir
        self.lab_sh = lab_sh
        self.actions = queue.Queue()
        self.child = None
        self.child_lock = threading.Lock()
        self.stopping = False
        threading.Thread(target=self._worker, daemon=True).start()

    def _lab(self, action, wait=True):
        env = dict(os.environ, VF_LAB_DIR=self.lab_dir)
        cmd = ["bash", self.lab_sh, "power", self.host, action]
        if not wait:
            return subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)
        return subprocess.run(
            cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30
        )

    def _worker(self):
        while True:
            action = self.actions.get()
            with self.child_lock:
                if self.stopping:
                    return
                self.child = self._lab(action, wait=False)
            rc = self.child.wait()
            with self.child_lock:
                self.child = None
            log(f"{self.host}: power {action}: lab.sh exit {rc}")

    def _queue(self, action):
        log(f"{self.host}: chassis power {action} requested")
        self.actions.put(action)
        return 0

    def stop(self):
        """End the running power command (by its PID), if any."""
        with self.child_lock:
            self.stopping = True
            if self.child is not None and self.child.poll() is None:
                self.child.kill()

    # pyghmi's hooks -----------------------------------------------------

    def get_power_state(self):
        out = self._lab("status")
        state = out.stdout.strip()
        if out.returncode != 0 or state not in ("on", "off"):
            raise Exception(f"lab.sh power {self.host} status: exit {out.returncode}: {out.stderr.strip()}")
        return state

    def power_off(self):
        return self._queue("off")

    def power_shutdown(self):
        return self._queue("shutdown")

    def power_on(self):
        return self._queue("on")

    def power_cycle(self):
        self._queue("off")
        return self._queue("on")

    def power_reset(self):
        return self.power_cycle()

    def cold_reset(self):
        raise NotImplementedError


def log(msg):
    print(f"labbmc: {msg}", file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lab", required=True, help="the lab directory (VF_LAB_DIR)")
    ap.add_argument("--host", required=True, choices=["primary", "backup"])
    ap.add_argument("--lab-sh", required=True, help="tests/lab/lab.sh")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--port-file", required=True, help="where the bound port is written")
    a = ap.parse_args()
    with open(a.password_file) as f:
        password = f.read().strip()
    b = LabBmc({a.user: password}, a.host, a.lab, a.lab_sh)

    def on_term(signum, frame):
        b.stop()
        log(f"{a.host}: stopped (signal {signum})")
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{b.port}\n")
    os.replace(tmp, a.port_file)
    log(f"{a.host}: listening on 127.0.0.1:{b.port} (udp)")
    b.listen()


if __name__ == "__main__":
    main()
