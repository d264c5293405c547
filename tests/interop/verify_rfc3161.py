#!/usr/bin/python3
"""An RFC 3161 verifier written on pyasn1-modules and python3-cryptography, independent of
OpenSSL's TS and PKCS#7 code (which in OpenSSL 3.0 cannot verify Ed25519, RFC 8419). The tests
use it on semper-tsa's Ed25519 tokens, and on ECDSA ones as a control.

usage: verify_rfc3161.py REPLY_OR_TOKEN.der HEX_IMPRINT ROOT.pem [CERTS.pem...]

Checks: a granted reply or a bare token; SignedData with eContentType id-ct-TSTInfo; one signer
found by issuer and serial among the token's and the given certificates; the signature over the
DER signed attributes; contentType and messageDigest (with the signer's digest algorithm) over
the TSTInfo; signingCertificateV2 naming the signer; the signer's critical timeStamping-only
EKU; each certificate's signature up to ROOT; the TSTInfo's imprint. Prints "OK" and exits 0,
or prints why and exits 3.
"""
import hashlib
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from pyasn1.codec.der import decoder, encoder
from pyasn1_modules import rfc3161, rfc5035, rfc5652

DIGESTS = {"2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384", "2.16.840.1.101.3.4.2.3": "sha512"}
ID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
ID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
ID_SIGNING_CERT_V2 = "1.2.840.113549.1.9.16.2.47"
ID_TST_INFO = "1.2.840.113549.1.9.16.1.4"


def fail(why):
    print("NOT VERIFIED: " + why)
    sys.exit(3)


def strip_tag(raw):
    """The contents of one DER TLV."""
    n = raw[1]
    if n < 0x80:
        return raw[2:]
    k = n & 0x7F
    return raw[2 + k:]


def verify_signature(public_key, signature, data, hash_name):
    algorithm = getattr(hashes, hash_name.upper())()
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        public_key.verify(signature, data)
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, data, ec.ECDSA(algorithm))
    elif isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, data, padding.PKCS1v15(), algorithm)
    else:
        fail("unknown key type")


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        sys.exit(2)
    data = open(sys.argv[1], "rb").read()
    imprint = bytes.fromhex(sys.argv[2])
    root = x509.load_pem_x509_certificate(open(sys.argv[3], "rb").read())
    extra = []
    for path in sys.argv[4:]:
        pem = open(path, "rb").read()
        extra += x509.load_pem_x509_certificates(pem) if hasattr(x509, "load_pem_x509_certificates") else [
            x509.load_pem_x509_certificate(b"-----BEGIN CERTIFICATE-----" + part)
            for part in pem.split(b"-----BEGIN CERTIFICATE-----")[1:]]

    try:
        resp, rest = decoder.decode(data, asn1Spec=rfc3161.TimeStampResp())
        if rest or not resp["timeStampToken"].isValue:
            raise ValueError
        if int(resp["status"]["status"]) not in (0, 1):
            fail("the reply is a rejection")
        token = resp["timeStampToken"]
    except Exception:  # a bare token
        token, rest = decoder.decode(data, asn1Spec=rfc5652.ContentInfo())
        if rest:
            fail("trailing data")
    if str(token["contentType"]) != str(rfc5652.id_signedData):
        fail("not SignedData")
    content = bytes(token["content"])
    try:
        signed, _ = decoder.decode(content, asn1Spec=rfc5652.SignedData())
    except Exception:
        signed, _ = decoder.decode(strip_tag(content), asn1Spec=rfc5652.SignedData())
    encap = signed["encapContentInfo"]
    if str(encap["eContentType"]) != ID_TST_INFO:
        fail("eContentType is not id-ct-TSTInfo")
    tst_der = bytes(encap["eContent"])
    tst, _ = decoder.decode(tst_der, asn1Spec=rfc3161.TSTInfo())

    certs = [x509.load_der_x509_certificate(encoder.encode(c["certificate"]))
             for c in signed["certificates"]] if signed["certificates"].isValue else []
    certs += extra
    if len(signed["signerInfos"]) != 1:
        fail("not exactly one signer")
    si = signed["signerInfos"][0]
    sid = si["sid"]["issuerAndSerialNumber"]
    signer = next((c for c in certs if c.serial_number == int(sid["serialNumber"])), None)
    if signer is None:
        fail("signer certificate not found")

    digest_name = DIGESTS.get(str(si["digestAlgorithm"]["algorithm"]))
    if digest_name is None:
        fail("unknown digest algorithm")
    attrs = {str(a["attrType"]): a["attrValues"][0] for a in si["signedAttrs"]}
    if str(decoder.decode(bytes(attrs[ID_CONTENT_TYPE]))[0]) != ID_TST_INFO:
        fail("contentType attribute is not id-ct-TSTInfo")
    message_digest = bytes(decoder.decode(bytes(attrs[ID_MESSAGE_DIGEST]))[0])
    if message_digest != hashlib.new(digest_name, tst_der).digest():
        fail("messageDigest does not match the TSTInfo")
    ess, _ = decoder.decode(bytes(attrs[ID_SIGNING_CERT_V2]), asn1Spec=rfc5035.SigningCertificateV2())
    cert_id = ess["certs"][0]
    ess_hash = "sha256"
    if cert_id["hashAlgorithm"].isValue:
        ess_hash = DIGESTS.get(str(cert_id["hashAlgorithm"]["algorithm"]), "sha256")
    if bytes(cert_id["certHash"]) != hashlib.new(ess_hash, signer.public_bytes(serialization.Encoding.DER)).digest():
        fail("signingCertificateV2 does not name the signer")
    signed_attrs = bytearray(encoder.encode(si["signedAttrs"]))
    signed_attrs[0] = 0x31  # signed as a SET OF, not as [0]
    try:
        verify_signature(signer.public_key(), bytes(si["signature"]), bytes(signed_attrs), digest_name)
    except Exception as e:
        fail("signature: %r" % e)

    eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    if not eku.critical or list(eku.value) != [x509.ExtendedKeyUsageOID.TIME_STAMPING]:
        fail("the signer lacks the critical timeStamping-only extended key usage")
    cert, seen = signer, 0
    while cert.fingerprint(hashes.SHA256()) != root.fingerprint(hashes.SHA256()):
        issuer = next((c for c in certs + [root] if c.subject == cert.issuer and c != cert), None)
        if issuer is None or seen > 8:
            fail("no path to the root")
        try:
            verify_signature(issuer.public_key(), cert.signature, cert.tbs_certificate_bytes,
                             cert.signature_hash_algorithm.name if cert.signature_hash_algorithm else "sha512")
        except Exception as e:
            fail("certificate signature: %r" % e)
        cert, seen = issuer, seen + 1

    if bytes(tst["messageImprint"]["hashedMessage"]) != imprint:
        fail("the imprint is of other data")
    print("OK serial=%x genTime=%s signer=%s" % (int(tst["serialNumber"]), tst["genTime"], signer.subject.rfc4514_string()))


main()
