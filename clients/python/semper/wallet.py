"""Wallets and channels. A wallet is the directory `semperctl enroll` (or `enroll()` here) writes:
authentication.key / signature.key (PKCS#8 PEM, encrypted with the wallet passphrase),
authentication.pem / signature.pem (the certificate, then the issuing CA and the root) and
chain.pem (the issuing CA and the root). The authentication key opens mutual-TLS channels; the
signature key signs orders, agreements, claims and documents (non-repudiation)."""

import ipaddress
import json
import os
from dataclasses import dataclass

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

# semper-ca init names its services' certificates "localhost" (deploy/up.sh) or by the host names
# it was given: the name a channel checks (SEMPER_SERVER_NAME in client.env).
DEFAULT_SERVER_NAME = "localhost"


def _pem_certificates(data: bytes):
    return x509.load_pem_x509_certificates(data) if hasattr(x509, "load_pem_x509_certificates") else _split_pem(data)


def _split_pem(data: bytes):
    out, marker = [], b"-----END CERTIFICATE-----"
    for block in data.split(marker)[:-1]:
        out.append(x509.load_pem_x509_certificate(block + marker + b"\n"))
    return out


@dataclass
class Wallet:
    authentication_key: object
    authentication_certificate: x509.Certificate
    signature_key: object
    signature_certificate: x509.Certificate
    chain: list  # issuing CA, then root

    @classmethod
    def load(cls, directory: str, passphrase: bytes):
        def key(name):
            with open(os.path.join(directory, name), "rb") as f:
                return serialization.load_pem_private_key(f.read(), passphrase)

        def certs(name):
            with open(os.path.join(directory, name), "rb") as f:
                return _split_pem(f.read())

        auth, sig = certs("authentication.pem"), certs("signature.pem")
        return cls(key("authentication.key"), auth[0], key("signature.key"), sig[0], sig[1:])

    def save(self, directory: str, passphrase: bytes):
        """Writes the wallet as semperctl does (mode 0600 files in a 0700 directory)."""
        os.makedirs(directory, mode=0o700, exist_ok=True)
        enc = serialization.BestAvailableEncryption(passphrase)
        chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)
        files = {
            "authentication.key": self.authentication_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc),
            "signature.key": self.signature_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc),
            "authentication.pem": self.authentication_certificate.public_bytes(serialization.Encoding.PEM) + chain,
            "signature.pem": self.signature_certificate.public_bytes(serialization.Encoding.PEM) + chain,
            "chain.pem": chain,
        }
        for name, content in files.items():
            path = os.path.join(directory, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(content)

    def tls_identity(self):
        """(private key PEM, certificate chain PEM) for grpc.ssl_channel_credentials: the
        authentication certificate and the issuing CA."""
        key = self.authentication_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        chain = self.authentication_certificate.public_bytes(serialization.Encoding.PEM)
        chain += self.chain[0].public_bytes(serialization.Encoding.PEM)
        return key, chain


def _port_ok(port: str) -> bool:
    return port.isascii() and port.isdigit() and len(port) <= 5 and 1 <= int(port) <= 65535


def target(address: str) -> str:
    """The gRPC target for one host:port, several replicas by IP address ("10.0.0.1:7010,10.0.0.2:7010"),
    or any gRPC target ("dns:///tsa.example:7010"), as semperctl reads them (ValueError as semperctl
    refuses). A list of host names is refused: give the replicas one DNS name with a record each."""
    address = address.strip()
    if not address:
        raise ValueError("address: is empty")
    prefix = ""
    if address.startswith(("ipv4:", "ipv6:")):
        prefix, address = address[:5], address[5:]
    elif ":/" in address:
        if "," in address:
            raise ValueError(f"address: '{address}': a resolver's target names one host; list replicas as "
                             "IP:port,IP:port")
        return address
    elif "," not in address:
        host, _, port = address.rpartition(":")
        # An IPv6 address takes brackets ("[::1]:7010"); a host name has no spaces.
        bad_host = not host or any(c.isspace() for c in host) or (":" in host and not host.startswith("["))
        if bad_host or not _port_ok(port):
            raise ValueError(f"address: '{address}' is not host:port (port 1 to 65535)")
        return address
    families = set()
    parts = []
    for part in (p.strip() for p in address.split(",")):
        if part.startswith("[") and "]:" in part:
            host, port = part[1:part.find("]:")], part[part.find("]:") + 2:]
        else:
            host, _, port = part.rpartition(":")
        try:
            if "%" in host or not _port_ok(port):
                raise ValueError
            version = ipaddress.ip_address(host).version
            if part.startswith("[") != (version == 6):
                raise ValueError
            families.add(version)
        except ValueError:
            raise ValueError(f"address: '{part}' in a list of replicas is not IP:port; a list takes IP addresses "
                             "only (for host names, give one DNS name with an address record per replica, e.g. "
                             "dns:///semper-tsa:7010)") from None
        parts.append(part)
    if len(families) > 1 or (prefix == "ipv4:" and families != {4}) or (prefix == "ipv6:" and families != {6}):
        raise ValueError("address: a list of replicas mixes IPv4 and IPv6 addresses")
    return ("ipv4:" if families == {4} else "ipv6:") + ",".join(parts)


# Every call goes to the next replica in turn (gRPC's default sends all to the first one).
ROUND_ROBIN = ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]}))


def channel(address: str, root_pem: bytes, wallet: Wallet = None, server_name: str = DEFAULT_SERVER_NAME,
            identity=None):
    """A TLS channel to a daemon at host:port (or to its replicas: see target()), balanced round
    robin, checking its certificate against the suite's root; with a wallet (or an identity: (key
    PEM, chain PEM), e.g. the administrator's), mutual TLS as that party. Calls open to anyone
    need no wallet."""
    if wallet is not None:
        identity = wallet.tls_identity()
    key, chain = identity if identity is not None else (None, None)
    credentials = grpc.ssl_channel_credentials(root_certificates=root_pem, private_key=key, certificate_chain=chain)
    options = [ROUND_ROBIN]
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    return grpc.secure_channel(target(address), credentials, options=options)
