#!/usr/bin/env python3
"""A peer nobody here wrote: libsystemd's own sd_watchdog_enabled(), through ctypes (no
python3-systemd needed), asked by this process and by a second Python that it starts with its
environment unchanged, as any helper a service runs would inherit it.

Prints one JSON line {"child": ..., "grandchild": ...}, each with its pid, what
sd_watchdog_enabled(0, &usec) returned (r), usec, and WATCHDOG_USEC / WATCHDOG_PID as that
process found them (None when unset). Proves that the watchdog a launcher gives is the child's
own (r > 0, usec as given) and not its descendants' (r == 0: WATCHDOG_PID names another pid).

Usage: sd-watchdog-tree.py          report, then exit 0
       sd-watchdog-tree.py --ping   report, send READY=1, then, when the watchdog is on, WATCHDOG=1
                                    every quarter of usec through libsystemd's sd_notify(), until
                                    killed
       sd-watchdog-tree.py --ask    (the grandchild) print its own answer only
"""
import ctypes, json, os, subprocess, sys, time

lib = ctypes.CDLL("libsystemd.so.0")


def ask():
    usec = ctypes.c_uint64(0)
    r = lib.sd_watchdog_enabled(0, ctypes.byref(usec))
    env = {k: os.environ.get(k) for k in ("WATCHDOG_USEC", "WATCHDOG_PID")}
    return {"pid": os.getpid(), "r": r, "usec": usec.value, "env": env}


if sys.argv[1:] == ["--ask"]:
    print(json.dumps(ask()), flush=True)
    sys.exit(0)

me = ask()
# env=None: the grandchild gets this process's environment as it is.
done = subprocess.run([sys.executable, __file__, "--ask"], stdout=subprocess.PIPE, check=True)
print(json.dumps({"child": me, "grandchild": json.loads(done.stdout)}), flush=True)
if sys.argv[1:] != ["--ping"]:
    sys.exit(0)
lib.sd_notify(0, b"READY=1")
while True:
    if me["r"] > 0:
        time.sleep(me["usec"] / 4 / 1e6)
        lib.sd_notify(0, b"WATCHDOG=1")
    else:
        time.sleep(3600)
