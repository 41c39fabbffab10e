#!/usr/bin/env python3
"""GET / over an abstract UNIX socket, with the name exactly as given (argv[1], without the '@').

Proves that a server reached through the kernel's abstract namespace answers at the name systemd
binds: systemd and Python use the name's exact length, while Node pads sun_path, so Node's own
http.get cannot reach the same socket. Writes the raw HTTP/1.0 response to stdout.
"""
import socket
import sys

s = socket.socket(socket.AF_UNIX)
s.connect("\0" + sys.argv[1])
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
sys.stdout.buffer.write(data)
