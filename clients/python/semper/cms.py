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
ID_DATA = "1.2.840.113549.1.7.1"
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


def _is_ca(cert: x509.Certificate):
    """(is a CA that may sign certificates, its path length constraint or None)."""
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False, None
    return bool(bc.ca and ku.key_cert_sign), bc.path_length


# Extensions a verifier here understands; any other extension marked critical is refused, as
# OpenSSL (and so the daemons) refuses it.
_KNOWN_EXTENSIONS = {
    x509.ExtensionOID.BASIC_CONSTRAINTS, x509.ExtensionOID.KEY_USAGE, x509.ExtensionOID.EXTENDED_KEY_USAGE,
    x509.ExtensionOID.SUBJECT_KEY_IDENTIFIER, x509.ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    x509.ExtensionOID.SUBJECT_ALTERNATIVE_NAME, x509.ExtensionOID.CRL_DISTRIBUTION_POINTS,
    x509.ExtensionOID.AUTHORITY_INFORMATION_ACCESS, x509.ExtensionOID.CERTIFICATE_POLICIES,
}


def _check_certificate(cert: x509.Certificate):
    """What the daemons require of every certificate on a path: extensions that parse, each at most
    once, no unknown critical one (name constraints among them: not evaluated here, so refused), and
    a key they accept (P-256, RSA of 2048 to 4096 bits, Ed25519)."""
    try:
        extensions = list(cert.extensions)
    except Exception as e:  # duplicated or malformed extensions
        raise VerificationError(f"{cert.subject.rfc4514_string()}: extensions do not parse ({type(e).__name__})") from None
    for ext in extensions:
        if ext.critical and ext.oid not in _KNOWN_EXTENSIONS:
            raise VerificationError(f"{cert.subject.rfc4514_string()}: unknown critical extension {ext.oid.dotted_string}")
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise VerificationError(f"{cert.subject.rfc4514_string()}: EC keys must be P-256")
    elif isinstance(key, rsa.RSAPublicKey):
        if not 2048 <= key.key_size <= 4096:
            raise VerificationError(f"{cert.subject.rfc4514_string()}: RSA keys must have 2048 to 4096 bits")
    elif not isinstance(key, ed25519.Ed25519PublicKey):
        raise VerificationError(f"{cert.subject.rfc4514_string()}: key type not accepted")


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """`issuer` is a CA whose key signed `cert` (names, CA constraints and the signature)."""
    try:
        if cert.issuer != issuer.subject or not _is_ca(issuer)[0]:
            return False
        key = issuer.public_key()
        hash_alg = cert.signature_hash_algorithm
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes)
        elif isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)) and hash_alg is not None:
            pss = cert.signature_algorithm_oid.dotted_string == RSA_PSS
            _verify_with(key, cert.signature, cert.tbs_certificate_bytes, type(hash_alg), pss)
        else:
            return False
        return True
    except Exception:  # a bad signature, or one no key here can check: not issued by it
        return False


def _valid_at(cert: x509.Certificate, at: datetime.datetime):
    if not (cert.not_valid_before <= at <= cert.not_valid_after):
        raise VerificationError(f"{cert.subject.rfc4514_string()} is not valid at {at}")


def _utc(at: datetime.datetime = None) -> datetime.datetime:
    """A naive UTC datetime, as cryptography's validity fields are."""
    if at is None:
        return datetime.datetime.utcnow()
    if at.tzinfo is not None:
        at = at.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return at


def chain_to_root(cert: x509.Certificate, pool, root: x509.Certificate, at: datetime.datetime = None):
    """The path from `cert` to exactly `root` through CA certificates in `pool`: each link's
    signature, each issuer a CA (basicConstraints cA, keyCertSign) within its path length, every
    certificate (the root too) valid at `at` (default now) and acceptable (_check_certificate),
    the root self-signed. VerificationError otherwise."""
    return _guarded(lambda: _chain_to_root(cert, list(pool), root, _utc(at)))


def _chain_to_root(cert, pool, root, at):
    if root.issuer != root.subject or not _issued_by(root, root):
        raise VerificationError("the trust anchor is not a self-signed CA certificate")
    path, current = [cert], cert
    while True:
        _valid_at(current, at)
        _check_certificate(current)
        if current == root:
            if len(path) == 1:
                raise VerificationError("the root itself is no signer")
            return path
        if len(path) > 8:
            raise VerificationError("certificate path too long")
        candidates = [root] + [c for c in pool if c != current and c not in path]
        issuer = next((c for c in candidates if _issued_by(current, c)), None)
        if issuer is None:
            raise VerificationError(f"no CA among the given certificates issued {current.subject.rfc4514_string()}")
        # Path length: CA certificates below `issuer` in the path (the leaf excluded).
        limit = _is_ca(issuer)[1]
        if limit is not None and len(path) - 1 > limit:
            raise VerificationError(f"{issuer.subject.rfc4514_string()} may not have so long a path below it")
        path.append(issuer)
        current = issuer


def check_purpose(cert: x509.Certificate, purpose: str):
    """"nonrepudiation": keyUsage contentCommitment (the signature certificates of parties and
    daemons); "timestamping": the critical, sole EKU timeStamping (RFC 3161 2.3), keyUsage (when
    present) without keyCertSign; "any". The first two also refuse a CA certificate as signer."""
    if purpose not in ("any", "nonrepudiation", "timestamping"):
        raise ValueError(f"unknown purpose {purpose}")
    _guarded(lambda: _check_purpose(cert, purpose))


def _check_purpose(cert: x509.Certificate, purpose: str):
    _check_certificate(cert)
    if purpose == "any":
        return
    if _is_ca(cert)[0] or _basic_ca(cert):
        raise VerificationError(f"{cert.subject.rfc4514_string()} is a CA certificate, not a signer's")
    try:
        if purpose == "nonrepudiation":
            if not cert.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment:
                raise VerificationError(f"{cert.subject.rfc4514_string()} is not certified for non-repudiation")
            return
        if purpose == "timestamping":
            try:
                ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
                if ku.key_cert_sign or ku.crl_sign or ku.key_encipherment or ku.data_encipherment or ku.key_agreement:
                    raise VerificationError("a time-stamping certificate's key usage is digitalSignature/nonRepudiation only")
            except x509.ExtensionNotFound:
                pass
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
            if not eku.critical or list(eku.value) != [x509.ExtendedKeyUsageOID.TIME_STAMPING]:
                raise VerificationError("the signer is not a time-stamping authority (critical EKU timeStamping only)")
            return
    except x509.ExtensionNotFound:
        raise VerificationError(f"{cert.subject.rfc4514_string()} lacks the extension {purpose} needs") from None


def _basic_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


SUITE_SIGNER_FORBIDDEN = ("2.5.4.5", "2.5.4.65")  # serialNumber (a subscriber), pseudonym


def check_suite_signer(cert: x509.Certificate, daemon: str):
    """The certificate `semper-ca init` issues to semper-<daemon>'s signing key: exactly one CN
    "semper-<daemon> signer", naming no subscriber and no pseudonym (docs/signing.md 1.3). A path
    to the root does not say a daemon signed: every subscriber has one."""
    cns = [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    named = [a for a in cert.subject if a.oid.dotted_string in SUITE_SIGNER_FORBIDDEN]
    if cns != [f"semper-{daemon} signer"] or named:
        raise VerificationError(f"signed by {cert.subject.rfc4514_string()}, not by semper-{daemon}'s signing key")


def verify_detached(signature_der: bytes, content: bytes, root: x509.Certificate, extra_certificates=(),
                    purpose: str = "nonrepudiation", at: datetime.datetime = None):
    """Verifies detached SignedData over `content`; returns the signers' certificates, each
    checked for `purpose` and chained to `root`. VerificationError when anything does not hold,
    whatever the bytes."""
    return _guarded(lambda: _verify_detached(signature_der, content, root, extra_certificates, purpose, at))


def verify_attached(der: bytes, root: x509.Certificate, extra_certificates=(), purpose: str = "any",
                    at: datetime.datetime = None):
    """Verifies SignedData that carries its content (an RFC 3161 token: the TSTInfo); returns
    (content, signers)."""
    return _guarded(lambda: _verify_attached(der, root, extra_certificates, purpose, at))


def _guarded(fn):
    try:
        return fn()
    except VerificationError:
        raise
    except Exception as e:  # pyasn1 and cryptography raise many kinds on hostile bytes
        raise VerificationError(f"not a valid CMS signature: {type(e).__name__}: {e}") from None


def _verify_detached(signature_der, content, root, extra_certificates, purpose, at):
    sd = _signed_data(signature_der)
    if sd["encapContentInfo"]["eContent"].isValue:
        raise VerificationError("not detached: the SignedData carries its content")
    if str(sd["encapContentInfo"]["eContentType"]) != ID_DATA:
        raise VerificationError("a detached signature's content type is id-data")
    return _verify_signers(sd, content, root, extra_certificates, purpose, at)


def _verify_attached(der, root, extra_certificates, purpose, at):
    sd = _signed_data(der)
    if not sd["encapContentInfo"]["eContent"].isValue:
        raise VerificationError("the SignedData carries no content")
    content = bytes(sd["encapContentInfo"]["eContent"])
    return content, _verify_signers(sd, content, root, extra_certificates, purpose, at)


def _signed_data(signature_der: bytes):
    info, rest = decoder.decode(signature_der, asn1Spec=rfc5652.ContentInfo())
    if rest or str(info["contentType"]) != ID_SIGNED_DATA:
        raise VerificationError("not a CMS SignedData")
    sd, rest = decoder.decode(bytes(info["content"]), asn1Spec=rfc5652.SignedData())
    if rest:
        raise VerificationError("bytes after the SignedData")
    return sd


def _verify_signers(sd, content: bytes, root, extra_certificates, purpose, at):
    pool = _certificates(sd) + list(extra_certificates)
    e_content_type = str(sd["encapContentInfo"]["eContentType"])
    signers = []
    for si in sd["signerInfos"]:
        sid = si["sid"]
        if sid.getName() != "issuerAndSerialNumber":
            raise VerificationError("signer identified by key identifier: not supported here")
        serial = int(sid["issuerAndSerialNumber"]["serialNumber"])
        issuer_der = encoder.encode(sid["issuerAndSerialNumber"]["issuer"])
        cert = next((c for c in pool if c.serial_number == serial and
                     c.issuer.public_bytes() == issuer_der), None)
        if cert is None:
            raise VerificationError("the signer's certificate (by issuer and serial) is not in the SignedData")
        hash_cls = DIGESTS.get(str(si["digestAlgorithm"]["algorithm"]))
        if hash_cls is None:
            raise VerificationError("digest algorithm not accepted")
        h = hashes.Hash(hash_cls())
        h.update(content)
        digest = h.finalize()
        pss = str(si["signatureAlgorithm"]["algorithm"]) == RSA_PSS
        if si["signedAttrs"].isValue:
            types = [str(a["attrType"]) for a in si["signedAttrs"]]
            if len(types) != len(set(types)):
                raise VerificationError("a signed attribute appears twice")
            attrs = {str(a["attrType"]): a["attrValues"] for a in si["signedAttrs"]}
            for required in (ID_CONTENT_TYPE, ID_MESSAGE_DIGEST):
                if required not in attrs or len(attrs[required]) != 1:
                    raise VerificationError("contentType and messageDigest, one value each, are required")
            ct, _ = decoder.decode(bytes(attrs[ID_CONTENT_TYPE][0]))
            if str(ct) != e_content_type:
                raise VerificationError("the signed contentType is not the content's type")
            md, _ = decoder.decode(bytes(attrs[ID_MESSAGE_DIGEST][0]))
            if bytes(md) != digest:
                raise VerificationError("messageDigest does not match the content")
            # The signature covers the attributes DER-encoded as a SET OF (RFC 5652 5.4).
            signed = encoder.encode(si["signedAttrs"], asn1Spec=rfc5652.SignedAttributes())
            signed = b"\x31" + signed[1:]
        else:
            signed = content  # no signed attributes: the signature is over the content itself
        try:
            _verify_with(cert.public_key(), bytes(si["signature"]), signed, hash_cls, pss)
        except InvalidSignature:
            raise VerificationError(f"the signature of {cert.subject.rfc4514_string()} does not verify") from None
        _check_purpose(cert, purpose)
        _chain_to_root(cert, pool, root, _utc(at))
        signers.append(cert)
    if not signers:
        raise VerificationError("no signer")
    return signers


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
