#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host side of guest-driven PCIe hot-unplug and re-add of the ivshmem devices.

vm.sh starts this agent next to QEMU. The guest cannot reach QMP, so it
asks through the run directory, which it sees by 9p:

    host:  RUN/hotplug/        guest:  /devmem/hotplug/

Protocol:

  1. The guest picks a token N that no other request of this boot uses
     (letters, digits, '-' and '_'; e.g. its pid and a time stamp) and
     writes ".req-N.tmp", then renames it to "req-N": the agent never sees
     half a request. The file holds one line:

        del ID    hot-unplug the ivshmem with qdev id ID
        add ID    plug it in again, as at boot, into its own port
        find HEX  look for the bytes HEX in every ivshmem backing file

  2. The agent answers in "ack-N", also written as a temporary file and
     renamed, then removes "req-N". The answer is one line:

        ok MS         del: MS milliseconds from device_del to QEMU's
                      DEVICE_DELETED event, i.e. until the guest's pciehp
                      powered the slot off (its 5 s button delay included);
                      add: MS milliseconds from the first QMP command
                      (object-del) until device_add returned.
                      "ok" means QEMU is done; the guest still has to
                      enumerate the device and bind a driver.
        ok absent     find: the bytes are in no backing file;
        ok found F O  find: they are in backing file F at offset O.
        error TEXT    an unknown request or device, a QMP error (e.g.
                      "Device 'ID' not found" for a del of a device that
                      is already gone), a timeout

  3. The guest removes "ack-N" once it has read it.

Requests are served one at a time, in name order; the directory is polled
every 50 ms. The agent exits when QEMU closes QMP (it quit).

Why the steps are what they are (QEMU 7.2, q35, native PCIe hotplug):

  - device_del only presses the slot's attention button; the device is gone
    when DEVICE_DELETED arrives. It is sent once: a second press within 5 s
    is refused by the guest and a later one cancels the unplug. A del of a
    device whose unplug is still pending waits for the same event again.
  - Re-adding an ivshmem whose memory backend has been used before aborts
    QEMU (qemu_ram_set_idstr assertion), so add deletes the backend and
    creates it again over the same backing file (the guest's data stays)
    before device_add.
  - The guest can unplug on its own: writing 0 to the slot's
    /sys/bus/pci/slots/S/power removes the device, and QEMU, seeing the
    slot powered off, deletes it (logged here as an unasked-for
    DEVICE_DELETED). Writing 1 then fails with ENODEV, the slot is empty:
    "add" brings the device back. Slot names are physical slot numbers that
    repeat across the topology (the root port's is "0" too, so ivshmem0's
    is "0-1"): find a slot by its "address" file, not by its name.
  - The memory window of an empty hotplug port is too small for a 64 MiB
    BAR: the device can only go back into the port it came from.

Only the Python standard library: the harness installs nothing on the host.
"""

import argparse
import json
import os
import re
import select
import socket
import sys
import time
from collections import deque

POLL_S = 0.05
DEL_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 60.0
TOKEN = re.compile(r"req-([A-Za-z0-9_-]+)\Z")


def log(msg):
    now = time.time()
    stamp = time.strftime("%H:%M:%S", time.localtime(now))
    print(f"{stamp}.{int(now * 1000) % 1000:03d} {msg}", file=sys.stderr,
          flush=True)


def parse_size(text):
    """QEMU's command line takes "64M"; QMP's object-add wants bytes."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    m = re.fullmatch(r"(\d+)([KMG]?)", text.upper())
    if not m:
        raise ValueError(f"bad size '{text}'")
    return int(m.group(1)) * units[m.group(2)]


class Refused(Exception):
    """The request cannot be done: the guest gets "error <text>"."""


class QmpError(Refused):
    """QEMU answered a command with an error."""


class QmpClosed(Exception):
    """QEMU closed the connection: it has quit."""


class Qmp:
    """A QMP client that keeps the events that arrive between returns."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.buf = b""
        self.events = deque()
        self.next_id = 0
        self._read_message(None)  # the greeting
        self.command("qmp_capabilities")

    def _read_message(self, timeout):
        """One message, or None after timeout seconds (None: block)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            if not select.select([self.sock], [], [], left)[0]:
                return None
            data = self.sock.recv(65536)
            if not data:
                raise QmpClosed()
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def poll(self, timeout):
        """Wait up to timeout seconds for QEMU; buffer what it sends."""
        msg = self._read_message(timeout)
        while msg is not None:
            if "event" in msg:
                self.events.append(msg)
            msg = self._read_message(0)

    def command(self, name, **args):
        self.next_id += 1
        cid = self.next_id
        req = {"execute": name, "id": cid}
        if args:
            req["arguments"] = args
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        while True:
            msg = self._read_message(None)
            if "event" in msg:
                self.events.append(msg)
            elif msg.get("id") == cid:
                if "error" in msg:
                    raise QmpError(msg["error"].get("desc", str(msg["error"])))
                return msg.get("return")

    def take_event(self, match):
        """Remove and return the first buffered event match() accepts."""
        for ev in self.events:
            if match(ev):
                self.events.remove(ev)
                return ev
        return None


class Agent:
    def __init__(self, qmp, reqdir, devices):
        self.qmp = qmp
        self.reqdir = reqdir
        self.devices = devices
        # Unplugs pressed but not yet confirmed by DEVICE_DELETED.
        self.pending_del = set()

    def log_events(self):
        """Log what QEMU said on its own (the guest powering a slot off ends
        in DEVICE_DELETED too); a late DEVICE_DELETED ends a pending del."""
        while self.qmp.events:
            ev = self.qmp.events.popleft()
            data = ev.get("data", {})
            if ev["event"] == "DEVICE_DELETED":
                self.pending_del.discard(data.get("device"))
            log(f"event {ev['event']} {data}")

    def do_del(self, dev):
        def deleted(ev):
            return (ev["event"] == "DEVICE_DELETED"
                    and ev.get("data", {}).get("device") == dev)

        t0 = time.monotonic()
        if dev in self.pending_del:
            log(f"{dev}: unplug already pending, not pressing again")
        else:
            self.qmp.command("device_del", id=dev)
            self.pending_del.add(dev)
        deadline = t0 + DEL_TIMEOUT_S
        while not self.qmp.take_event(deleted):
            left = deadline - time.monotonic()
            if left <= 0:
                raise Refused(f"no DEVICE_DELETED for {dev} after "
                              f"{DEL_TIMEOUT_S:.0f} s (still pending)")
            self.qmp.poll(min(left, 1.0))
        self.pending_del.discard(dev)
        return time.monotonic() - t0

    def do_add(self, dev):
        d = self.devices[dev]
        t0 = time.monotonic()
        try:
            self.qmp.command("object-del", id=d["memdev"])
        except QmpError as e:
            # Not there: an earlier add failed after its object-del.
            if "not found" not in str(e):
                raise
        self.qmp.command("object-add", **{
            "qom-type": "memory-backend-file", "id": d["memdev"],
            "mem-path": d["file"], "size": d["size"], "share": True})
        self.qmp.command("device_add", driver="ivshmem-plain", id=dev,
                         memdev=d["memdev"], bus=d["bus"])
        return time.monotonic() - t0

    def do_find(self, hexpat):
        try:
            pat = bytes.fromhex(hexpat)
        except ValueError:
            raise Refused(f"not hex: '{hexpat}'") from None
        if not pat:
            raise Refused("an empty pattern")
        for dev in sorted(self.devices):
            path = self.devices[dev]["file"]
            with open(path, "rb") as f:
                at = f.read().find(pat)
            if at >= 0:
                return f"ok found {os.path.basename(path)} {at:#x}"
        return "ok absent"

    def handle(self, text):
        words = text.split()
        if len(words) == 2 and words[0] == "find":
            return self.do_find(words[1])
        if len(words) != 2 or words[0] not in ("del", "add"):
            raise Refused(f"bad request '{text.strip()}' "
                          "(want 'del ID', 'add ID' or 'find HEX')")
        op, dev = words
        if dev not in self.devices:
            raise Refused(f"unknown device '{dev}' "
                          f"(known: {' '.join(sorted(self.devices))})")
        took = self.do_del(dev) if op == "del" else self.do_add(dev)
        return f"ok {round(took * 1000)}"

    def serve_one(self, name, token):
        path = os.path.join(self.reqdir, name)
        try:
            with open(path) as f:
                text = f.read()
        except OSError as e:
            text = ""
            log(f"req-{token}: cannot read: {e}")
        log(f"req-{token}: {text.strip()}")
        try:
            answer = self.handle(text)
        except Refused as e:
            answer = f"error {e}"
        except OSError as e:
            # A backing file that cannot be read: this request fails, the
            # agent goes on serving.
            answer = f"error {e}"
        log(f"ack-{token}: {answer}")
        tmp = os.path.join(self.reqdir, f".ack-{token}.tmp")
        with open(tmp, "w") as f:
            f.write(answer + "\n")
        os.rename(tmp, os.path.join(self.reqdir, f"ack-{token}"))
        # The guest withdraws a request it gave up waiting for.
        try:
            os.unlink(path)
        except FileNotFoundError:
            log(f"req-{token}: withdrawn by the guest before the answer")

    def run(self):
        while True:
            self.qmp.poll(POLL_S)
            self.log_events()
            for name in sorted(os.listdir(self.reqdir)):
                m = TOKEN.match(name)
                if m:
                    self.serve_one(name, m.group(1))
                    self.log_events()


def connect(path, qemu_pid):
    """QEMU creates the socket once it has started: wait for it."""
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while True:
        try:
            return Qmp(path)
        except (FileNotFoundError, ConnectionRefusedError):
            pass
        if qemu_pid:
            try:
                os.kill(qemu_pid, 0)
            except ProcessLookupError:
                return None
        if time.monotonic() > deadline:
            raise TimeoutError(f"no QMP socket at {path}")
        time.sleep(POLL_S)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", help="the run directory (qmp.sock, hotplug/)")
    ap.add_argument("--qemu-pid", type=int, default=0,
                    help="stop waiting for the socket when this pid is gone")
    ap.add_argument("--ivshmem", nargs=5, action="append", default=[],
                    metavar=("ID", "BUS", "MEMDEV", "FILE", "SIZE"),
                    help="a hot-pluggable ivshmem-plain, as on QEMU's "
                    "command line")
    args = ap.parse_args()
    devices = {}
    for dev, bus, memdev, path, size in args.ivshmem:
        try:
            devices[dev] = {"bus": bus, "memdev": memdev, "file": path,
                            "size": parse_size(size)}
        except ValueError as e:
            ap.error(f"--ivshmem {dev}: {e}")
    reqdir = os.path.join(args.run, "hotplug")
    os.makedirs(reqdir, exist_ok=True)

    try:
        qmp = connect(os.path.join(args.run, "qmp.sock"), args.qemu_pid)
        if qmp is None:
            log("QEMU exited before its QMP socket came up")
            return 0
        log(f"connected; devices: {' '.join(sorted(devices))}")
        Agent(qmp, reqdir, devices).run()
    except QmpClosed:
        log("QEMU closed QMP: done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
