"""CMS (RFC 5652) detached signatures as the suite makes and checks them.

sign_detached: what a party sends. SignedData without eContent over the exact bytes, SHA-256,
signed attributes contentType, signingTime and messageDigest, the signer's certificate AND its
issuing CA embedded (the daemons verify against the root alone, so the issuing CA must travel in
the signature). Keys: P-256 (ECDSA) or RSA of 3072 bits and more; Ed25519 cannot sign CMS here
(OpenSSL 3.0 on Debian 12 has no RFC 8419). cryptography's PKCS7SignatureBuilder writes it.

verify_detached: what a party checks of the suite's signatures (guarantees, attestations,
verdicts, tree heads) and of its counterparty's: each signer's signature over the DER signed
attributes, messageDigest equal to the content's digest, and the signer's certificate chained to
the given root through the certificates in the SignedData (signatures and validity periods)."""

import datetime
import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from pyasn1.codec.der import decoder, encoder
from pyasn1_modules import rfc5652

ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
ID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
ID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
DIGESTS = {"2.16.840.1.101.3.4.2.1": hashes.SHA256, "2.16.840.1.101.3.4.2.2": hashes.SHA384,
           "2.16.840.1.101.3.4.2.3": hashes.SHA512}
RSA_PSS = "1.2.840.113549.1.1.10"


class VerificationError(Exception):
    pass


def sign_detached(content: bytes, key, certificate: x509.Certificate, issuing_ca: x509.Certificate) -> bytes:
    """DER detached SignedData over `content` by `key` (the holder of `certificate`)."""
    builder = pkcs7.PKCS7SignatureBuilder().set_data(content).add_signer(certificate, key, hashes.SHA256())
    builder = builder.add_certificate(issuing_ca)
    return builder.sign(serialization.Encoding.DER,
                        [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.NoCapabilities,
                         pkcs7.PKCS7Options.Binary])


def _certificates(signed_data):
    out = []
    if signed_data["certificates"].isValue:
        for choice in signed_data["certificates"]:
            if choice.getName() == "certificate":
                out.append(x509.load_der_x509_certificate(encoder.encode(choice["certificate"])))
    return out


def _verify_with(public_key, signature: bytes, data: bytes, hash_cls, pss: bool):
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, data, ec.ECDSA(hash_cls()))
    elif isinstance(public_key, rsa.RSAPublicKey):
        pad = padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=padding.PSS.AUTO) if pss else padding.PKCS1v15()
        public_key.verify(signature, data, pad, hash_cls())
    elif isinstance(public_key, ed25519.Ed25519PublicKey):
        public_key.verify(signature, data)
    else:
        raise VerificationError("unsupported key type")


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        key = issuer.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            pss = cert.signature_algorithm_oid.dotted_string == RSA_PSS
            _verify_with(key, cert.signature, cert.tbs_certificate_bytes, type(cert.signature_hash_algorithm), pss)
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes)
        else:
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        return True
    except InvalidSignature:
        return False


def chain_to_root(cert: x509.Certificate, pool, root: x509.Certificate, at: datetime.datetime = None):
    """The path from `cert` to `root` through `pool`, each link's signature and validity checked."""
    at = at or datetime.datetime.utcnow()
    path, current = [cert], cert
    for _ in range(8):
        if not (current.not_valid_before <= at <= current.not_valid_after):
            raise VerificationError(f"{current.subject.rfc4514_string()} is not valid at {at}")
        if current == root:
            return path
        if _issued_by(current, root):
            return path + [root]
        issuer = next((c for c in pool if c != current and _issued_by(current, c)), None)
        if issuer is None:
            raise VerificationError(f"no issuer of {current.subject.rfc4514_string()} among the given certificates")
        path.append(issuer)
        current = issuer
    raise VerificationError("certificate path too long")


def verify_detached(signature_der: bytes, content: bytes, root: x509.Certificate, extra_certificates=()):
    """Verifies detached SignedData over `content`; returns the signers' certificates. Raises
    VerificationError when any signature or path does not hold."""
    sd = _signed_data(signature_der)
    if sd["encapContentInfo"]["eContent"].isValue:
        raise VerificationError("not detached: the SignedData carries its content")
    return _verify_signers(sd, content, root, extra_certificates)


def verify_attached(der: bytes, root: x509.Certificate, extra_certificates=()):
    """Verifies SignedData that carries its content (an RFC 3161 token: the TSTInfo); returns
    (content, signers)."""
    sd = _signed_data(der)
    if not sd["encapContentInfo"]["eContent"].isValue:
        raise VerificationError("the SignedData carries no content")
    content = bytes(sd["encapContentInfo"]["eContent"])
    return content, _verify_signers(sd, content, root, extra_certificates)


def _signed_data(signature_der: bytes):
    try:
        info, rest = decoder.decode(signature_der, asn1Spec=rfc5652.ContentInfo())
        if rest or str(info["contentType"]) != ID_SIGNED_DATA:
            raise VerificationError("not a CMS SignedData")
        sd, rest = decoder.decode(bytes(info["content"]), asn1Spec=rfc5652.SignedData())
    except VerificationError:
        raise
    except Exception as e:  # pyasn1 raises many kinds
        raise VerificationError(f"not DER CMS: {e}") from None
    return sd


def _verify_signers(sd, content: bytes, root, extra_certificates):
    pool = _certificates(sd) + list(extra_certificates)
    signers = []
    for si in sd["signerInfos"]:
        sid = si["sid"]
        if sid.getName() != "issuerAndSerialNumber":
            raise VerificationError("signer identified by key identifier: not supported here")
        serial = int(sid["issuerAndSerialNumber"]["serialNumber"])
        cert = next((c for c in pool if c.serial_number == serial), None)
        if cert is None:
            raise VerificationError("the signer's certificate is not in the SignedData")
        hash_cls = DIGESTS.get(str(si["digestAlgorithm"]["algorithm"]))
        if hash_cls is None:
            raise VerificationError("digest algorithm not accepted")
        if not si["signedAttrs"].isValue:
            raise VerificationError("no signed attributes")
        attrs = {str(a["attrType"]): a["attrValues"] for a in si["signedAttrs"]}
        if ID_MESSAGE_DIGEST not in attrs or ID_CONTENT_TYPE not in attrs:
            raise VerificationError("contentType or messageDigest missing")
        md, _ = decoder.decode(bytes(attrs[ID_MESSAGE_DIGEST][0]))
        h = hashes.Hash(hash_cls())
        h.update(content)
        if bytes(md) != h.finalize():
            raise VerificationError("messageDigest does not match the content")
        # The signature covers the attributes DER-encoded as a SET OF (RFC 5652 5.4).
        signed = encoder.encode(si["signedAttrs"], asn1Spec=rfc5652.SignedAttributes())
        signed = b"\x31" + signed[1:]
        pss = str(si["signatureAlgorithm"]["algorithm"]) == RSA_PSS
        try:
            _verify_with(cert.public_key(), bytes(si["signature"]), signed, hash_cls, pss)
        except InvalidSignature:
            raise VerificationError(f"the signature of {cert.subject.rfc4514_string()} does not verify") from None
        chain_to_root(cert, pool, root)
        signers.append(cert)
    if not signers:
        raise VerificationError("no signer")
    return signers


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
