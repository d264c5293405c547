"""Wallets and channels. A wallet is the directory `semperctl enroll` (or `enroll()` here) writes:
authentication.key / signature.key (PKCS#8 PEM, encrypted with the wallet passphrase),
authentication.pem / signature.pem (the certificate, then the issuing CA and the root) and
chain.pem (the issuing CA and the root). The authentication key opens mutual-TLS channels; the
signature key signs orders, agreements, claims and documents (non-repudiation)."""

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


def channel(address: str, root_pem: bytes, wallet: Wallet = None, server_name: str = DEFAULT_SERVER_NAME,
            identity=None):
    """A TLS channel to a daemon at host:port, checking its certificate against the suite's root;
    with a wallet (or an identity: (key PEM, chain PEM), e.g. the administrator's), mutual TLS
    as that party. Calls open to anyone need no wallet."""
    if wallet is not None:
        identity = wallet.tls_identity()
    key, chain = identity if identity is not None else (None, None)
    credentials = grpc.ssl_channel_credentials(root_certificates=root_pem, private_key=key, certificate_chain=chain)
    options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    return grpc.secure_channel(address, credentials, options=options)
