#!/usr/bin/env python3
"""A peer nobody here wrote: libsystemd's own sd_listen_fds_with_names() and sd_is_*(), called
through ctypes (no python3-systemd needed). Prints one JSON object describing what libsystemd
sees, then, with --serve-once, accepts one connection on the first listening stream socket and
writes the same JSON to it.

Usage: sd-peer.py [--keep-env] [--serve-once]
"""
import ctypes, errno, json, os, socket, sys

lib = ctypes.CDLL("libsystemd.so.0", use_errno=True)
AF_UNSPEC, AF_UNIX, AF_INET, AF_INET6 = 0, 1, 2, 10
TYPES = {1: "stream", 2: "dgram", 5: "seqpacket"}

unset = 0 if "--keep-env" in sys.argv else 1
names_p = ctypes.POINTER(ctypes.c_char_p)()
n = lib.sd_listen_fds_with_names(unset, ctypes.byref(names_p))
out = {"pid": os.getpid(), "n": n}
if n < 0:
    out["error"] = errno.errorcode.get(-n, str(-n))
else:
    names = [names_p[i].decode() for i in range(n)] if n > 0 and names_p else []
    out["names"] = names
    fds = []
    for i in range(n):
        fd = 3 + i
        info = {"fd": fd}
        info["socket"] = lib.sd_is_socket(fd, AF_UNSPEC, 0, -1) > 0
        info["fifo"] = lib.sd_is_fifo(fd, None) > 0
        info["special"] = lib.sd_is_special(fd, None) > 0
        if info["socket"]:
            info["type"] = next((name for t, name in TYPES.items() if lib.sd_is_socket(fd, AF_UNSPEC, t, -1) > 0), None)
            info["listening"] = lib.sd_is_socket(fd, AF_UNSPEC, 0, 1) > 0
            if lib.sd_is_socket_inet(fd, AF_INET, 0, -1, 0) > 0:
                info["family"] = "inet"
            elif lib.sd_is_socket_inet(fd, AF_INET6, 0, -1, 0) > 0:
                info["family"] = "inet6"
            elif lib.sd_is_socket_unix(fd, 0, -1, None, 0) > 0:
                info["family"] = "unix"
            s = socket.socket(fileno=os.dup(fd))
            addr = s.getsockname()
            s.detach()
            info["local"] = addr if isinstance(addr, str) else (addr.decode("latin1") if isinstance(addr, bytes) else list(addr[:2]))
        info["cloexec"] = bool(__import__("fcntl").fcntl(fd, 1) & 1)
        fds.append(info)
    out["fds"] = fds
# os.environ is a snapshot taken at start-up; ask the C environment, which unset_environment edits.
libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p
out["env"] = {k: libc.getenv(k.encode()).decode() for k in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES") if libc.getenv(k.encode()) is not None}
line = json.dumps(out)
print(line, flush=True)

if "--serve-once" in sys.argv and n > 0:
    for info in out["fds"]:
        if info.get("listening") and info.get("type") == "stream":
            s = socket.socket(fileno=info["fd"])
            conn, _ = s.accept()
            conn.sendall((line + "\n").encode())
            conn.close()
            break
