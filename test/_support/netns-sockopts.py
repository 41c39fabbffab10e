"""Socket options as a launched program finds them, in a network namespace of its own.

  unshare -n python3 netns-sockopts.py SOMAXCONN BINDV6ONLY LAUNCHER [ARGS...] -- PROGRAM-ARGS
      Set net.core.somaxconn and net.ipv6.bindv6only in this fresh namespace (both are per
      namespace, so the host's are never touched), bring lo up, run LAUNCHER ARGS... with this
      script in --report mode as its program, wake it the way systemd-socket-activate needs (a
      connection, or a datagram, to the first socket) and print the report.
  python3 netns-sockopts.py --report
      As the program: print one JSON line describing fds 3.. (LISTEN_FDS): family, type,
      SO_REUSEADDR, IPV6_V6ONLY and the listen backlog the kernel kept (ss's Send-Q).
"""
import json, os, socket, subprocess, sys, time

SOL_IPV6, IPV6_V6ONLY = 41, 26


def report():
    n = int(os.environ.get('LISTEN_FDS', '0'))
    ss = subprocess.run(['ss', '-lntuxH'], capture_output=True, text=True).stdout.splitlines()
    out = []
    for fd in range(3, 3 + n):
        s = socket.socket(fileno=fd)
        local = s.getsockname()
        item = {
            'family': {socket.AF_INET: 'inet', socket.AF_INET6: 'inet6', socket.AF_UNIX: 'unix'}[s.family],
            'type': {socket.SOCK_STREAM: 'stream', socket.SOCK_DGRAM: 'dgram', socket.SOCK_SEQPACKET: 'seqpacket'}[s.type],
            'reuseaddr': s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR),
        }
        if s.family == socket.AF_INET6:
            item['v6only'] = s.getsockopt(SOL_IPV6, IPV6_V6ONLY)
        key = local if s.family == socket.AF_UNIX else ':%d' % local[1]
        for line in ss:
            f = line.split()
            # Netid State Recv-Q Send-Q Local ...: for a listener, Send-Q is the backlog.
            if f[1] == 'LISTEN' and (f[4] == key or f[4].endswith(key)):
                item['backlog'] = int(f[3])
        s.detach()
        out.append(item)
    print(json.dumps(out), flush=True)


def drive(somaxconn, bindv6only, argv):
    with open('/proc/sys/net/core/somaxconn', 'w') as f:
        f.write(somaxconn)
    with open('/proc/sys/net/ipv6/bindv6only', 'w') as f:
        f.write(bindv6only)
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    child = subprocess.Popen(argv + [sys.executable, os.path.abspath(__file__), '--report'], stdout=subprocess.PIPE, text=True)
    # The first -l decides how to wake a launcher that waits (systemd-socket-activate 252 has no --now).
    first = argv[argv.index('-l') + 1].split(',')[0]
    dgram = '-d' in argv or ',dgram' in argv[argv.index('-l') + 1]
    key = first if first.startswith('/') else ':' + first.rsplit(':', 1)[-1]
    end = time.monotonic() + 10
    # Wake only once the socket is there (a datagram sent earlier would be dropped), then once.
    while time.monotonic() < end and child.poll() is None:
        ss = subprocess.run(['ss', '-lntuxH'], capture_output=True, text=True).stdout.split()
        if any(w == key or w.endswith(key) for w in ss):
            break
        time.sleep(0.05)
    if first.startswith('/'):
        family, target = socket.AF_UNIX, first
    elif ':' in first and not first.startswith('['):
        family, target = socket.AF_INET, (first.rsplit(':', 1)[0], int(key[1:]))
    else:
        # PORT or [v6]:PORT: ::1 reaches [::] whatever bindv6only says.
        family, target = socket.AF_INET6, ('::1', int(key[1:]))
    s = socket.socket(family, socket.SOCK_DGRAM if dgram else socket.SOCK_STREAM)
    try:
        s.sendto(b'x', target) if dgram else s.connect(target)
    except OSError:
        pass  # a launcher that does not wait (sockact) may be gone already
    out, _ = child.communicate(timeout=10)
    sys.stdout.write(out)
    sys.exit(child.returncode)


if __name__ == '__main__':
    if sys.argv[1] == '--report':
        report()
    else:
        drive(sys.argv[1], sys.argv[2], sys.argv[3:])
