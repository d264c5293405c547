#!/usr/bin/python3
"""semper.wallet.target(): the addresses the Python client takes, as semperctl takes them (one
host:port, replicas as IP:port,IP:port, any gRPC target), and the lists it refuses. Needs no suite.

    /usr/bin/python3 clients/python/tests/test_target.py"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from semper.wallet import target  # noqa: E402

GOOD = {
    "127.0.0.1:7010": "127.0.0.1:7010",
    "tsa.example:7010": "tsa.example:7010",
    " dns:///tsa.example:7010 ": "dns:///tsa.example:7010",
    "ipv4:10.0.0.1:1,10.0.0.2:1": "ipv4:10.0.0.1:1,10.0.0.2:1",
    "10.0.0.1:7010,10.0.0.2:7010": "ipv4:10.0.0.1:7010,10.0.0.2:7010",
    "10.0.0.1:7010, 10.0.0.2:7011": "ipv4:10.0.0.1:7010,10.0.0.2:7011",
    "[::1]:7010,[fe80::1]:7010": "ipv6:[::1]:7010,[fe80::1]:7010",
}
BAD = ["tsa1:7010,tsa2:7010", "10.0.0.1:7010,tsa2:7010", "10.0.0.1,10.0.0.2", "10.0.0.1:7010,",
       "10.0.0.1:7010,[::1]:7010", "[::1:7010,[::2]:1", "127.0.0.1:abc,127.0.0.1:2", "127.0.0.1:1,127.0.0.1:99999",
       "127.0.0.1:0,127.0.0.1:1", "ipv4:127.0.0.1:1,tsa2:1", "ipv4:[::1]:1", "dns:///a:1,dns:///b:1",
       "[fe80::1%lo]:1,[::1]:2", "127.0.0.1:99999", "127.0.0.1", "tsa.example:", ":7010", "127.0.0.1:+80", "", "  ",
       "::1:7010", "a b:7010", "10.0.0.1:\u0667\u0660\u0661\u0660,10.0.0.2:7010", "tsa:\u00b2"]

failures = 0
for address, want in GOOD.items():
    got = target(address)
    if got != want:
        print(f"FAILED: target({address!r}) = {got!r}, want {want!r}")
        failures += 1
for address in BAD:
    try:
        got = target(address)
        print(f"FAILED: target({address!r}) accepted as {got!r}")
        failures += 1
    except ValueError:
        pass
print("test_target: " + ("passed" if failures == 0 else f"{failures} failures"))
sys.exit(1 if failures else 0)
