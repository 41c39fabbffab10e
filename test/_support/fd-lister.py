#!/usr/bin/env python3
"""Print, as one JSON line, every fd this process holds and the environment it was asked about.

Proves what a launcher really handed over: which fds are open (0, 1, 2 and the sockets at 3..,
nothing leaked), what each points to (/proc/self/fd), whether it is close-on-exec or non-blocking
(the flags line of /proc/self/fdinfo), and the value of each variable named in argv[1:] (None
when unset), together with this process's pid (to check LISTEN_PID).
"""
import json, os, sys
fds = {}
for name in os.listdir('/proc/self/fd'):
    fd = int(name)
    try:
        target = os.readlink('/proc/self/fd/' + name)
        flags = open('/proc/self/fdinfo/' + name).read()
    except OSError:
        continue  # the directory listing's own fd, closed by now
    if target.startswith('/proc/') and target.endswith('/fd'):
        continue
    octal = [l for l in flags.splitlines() if l.startswith('flags:')][0].split()[1]
    fds[fd] = {'target': target, 'cloexec': bool(int(octal, 8) & 0o2000000), 'nonblock': bool(int(octal, 8) & 0o4000)}
print(json.dumps({'pid': os.getpid(), 'fds': fds, 'env': {k: os.environ.get(k) for k in sys.argv[1:]}}), flush=True)
