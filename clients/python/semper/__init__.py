"""semper: a Python client of the semper suite (semper-ca, -tsa, -notary, -arbiter, -liability).

The generated stubs live in semper.v1 (run clients/python/generate.sh once after a checkout);
beside them: wallets and mutual-TLS channels (semper.wallet), CSRs and enrolment (semper.ca),
detached CMS signatures (semper.cms), containers (semper.container), RFC 3161 time-stamps
(semper.tsa), Merkle proofs and the notary's evidence (semper.merkle, semper.notary) and typed
errors (semper.errors). Everything a client signs or checks is described in docs/signing.md.
Only Debian 12's python3-grpcio, python3-protobuf, python3-cryptography and
python3-pyasn1-modules are needed."""

import os as _os

if not _os.path.exists(_os.path.join(_os.path.dirname(__file__), "v1", "ca_pb2.py")):
    raise ImportError("semper: the generated modules are missing; run clients/python/generate.sh")

from semper.errors import SemperError, call  # noqa: E402,F401

__all__ = ["SemperError", "call"]
