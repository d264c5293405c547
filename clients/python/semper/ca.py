"""Registration, enrolment and renewal at semper-ca (docs/signing.md section 2).

A CSR for Enroll: DER PKCS#10, self-signed with SHA-256, for a P-256 key (or RSA of at least 3072
bits); the subject is ignored except a CN, which must then equal the registered name exactly
(an empty subject is simplest: the CA decides every field from the registration record). The two
CSRs must be for different keys."""

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from semper import errors
from semper.v1 import ca_pb2, ca_pb2_grpc
from semper.wallet import Wallet, _split_pem


def make_csr(key, common_name: str = None) -> bytes:
    """DER CSR for `key`; with `common_name` (which must be the registered name), else no subject."""
    names = [x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)] if common_name else []
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names)).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.DER)


def register(channel, name, kind, country, applicable_law, email, vat_reference=""):
    """RegisterSubscriber as a registration officer or administrator (a channel with their
    identity). Returns the response (its enrolment_code goes to the subscriber)."""
    stub = ca_pb2_grpc.CertificationAuthorityStub(channel)
    subscriber = ca_pb2.Subscriber(name=name, kind=kind, country=country, applicable_law=applicable_law,
                                   email=email, vat_reference=vat_reference)
    return errors.call(stub.RegisterSubscriber, ca_pb2.RegisterSubscriberRequest(subscriber=subscriber))


def enroll(channel, code: str):
    """Enroll with an enrolment code (no client certificate needed): two new P-256 keys, two CSRs.
    Returns (Wallet, EnrollResponse)."""
    auth_key = ec.generate_private_key(ec.SECP256R1())
    sig_key = ec.generate_private_key(ec.SECP256R1())
    stub = ca_pb2_grpc.CertificationAuthorityStub(channel)
    resp = errors.call(stub.Enroll, ca_pb2.EnrollRequest(enrolment_code=code, authentication_csr=make_csr(auth_key),
                                                         signature_csr=make_csr(sig_key)))
    chain = [x509.load_der_x509_certificate(d) for d in resp.chain]
    auth_chain = _split_pem(resp.authentication.chain_pem.encode())
    sig_chain = _split_pem(resp.signature.chain_pem.encode())
    return Wallet(auth_key, auth_chain[0], sig_key, sig_chain[0], chain), resp


def renew(channel, auth_key=None, sig_key=None):
    """Renew as the subscriber whose authentication certificate `channel` presents (mutual TLS:
    the handshake proves possession of the current authentication key; no enrolment code): two new
    P-256 keys, two CSRs. The CA renews in the last third of a certificate's validity (or
    ca.renewal_window before its end), each certificate once (ALREADY_USED after; the same keys
    again get the same certificates: pass the keys of a call whose answer was lost as `auth_key`
    and `sig_key`; new P-256 keys otherwise). Returns (Wallet, EnrollResponse)."""
    auth_key = auth_key or ec.generate_private_key(ec.SECP256R1())
    sig_key = sig_key or ec.generate_private_key(ec.SECP256R1())
    stub = ca_pb2_grpc.CertificationAuthorityStub(channel)
    resp = errors.call(stub.Renew, ca_pb2.RenewRequest(authentication_csr=make_csr(auth_key),
                                                       signature_csr=make_csr(sig_key)))
    chain = [x509.load_der_x509_certificate(d) for d in resp.chain]
    auth_chain = _split_pem(resp.authentication.chain_pem.encode())
    sig_chain = _split_pem(resp.signature.chain_pem.encode())
    return Wallet(auth_key, auth_chain[0], sig_key, sig_chain[0], chain), resp
