#!/usr/bin/env python3
"""Prints N distinct free TCP ports on 127.0.0.1, one per line (the kernel's choice, released at once)."""
import socket
import sys

socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))
