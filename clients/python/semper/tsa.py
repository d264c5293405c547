"""RFC 3161 time-stamps from semper-tsa: requests built and tokens read with pyasn1-modules, over
gRPC (semper.v1.TimeStamp/Stamp) or HTTP (POST application/timestamp-query to /tsa). A token's
signature is checked by the cms module (semper.cms.verify_signed_data)."""

import hashlib
import os
import urllib.request

from pyasn1.codec.der import decoder, encoder
from pyasn1.type import univ
from pyasn1_modules import rfc3161, rfc5280, rfc5652

from semper import cms, errors
from semper.v1 import tsa_pb2

SHA256 = univ.ObjectIdentifier("2.16.840.1.101.3.4.2.1")
ID_CT_TST_INFO = univ.ObjectIdentifier("1.2.840.113549.1.9.16.1.4")


def request_der(data: bytes = None, digest: bytes = None, nonce: int = None, cert_req: bool = True) -> bytes:
    """A DER TimeStampReq over SHA-256(data) (or a given SHA-256 digest), with a random 64-bit
    nonce unless one is given, asking for the TSA's certificate in the token."""
    if digest is None:
        digest = hashlib.sha256(data).digest()
    req = rfc3161.TimeStampReq()
    req["version"] = 1
    imprint = req["messageImprint"]
    imprint["hashAlgorithm"]["algorithm"] = SHA256
    imprint["hashedMessage"] = digest
    req["nonce"] = nonce if nonce is not None else int.from_bytes(os.urandom(8), "big")
    req["certReq"] = cert_req
    return encoder.encode(req)


class Token:
    """A time-stamp token (ContentInfo with SignedData over a TSTInfo), parsed."""

    def __init__(self, der: bytes):
        self.der = der
        info, _ = decoder.decode(der, asn1Spec=rfc5652.ContentInfo())
        self.signed_data, _ = decoder.decode(bytes(info["content"]), asn1Spec=rfc5652.SignedData())
        encap = self.signed_data["encapContentInfo"]
        if encap["eContentType"] != ID_CT_TST_INFO:
            raise ValueError("not a time-stamp token: eContentType is not id-ct-TSTInfo")
        self.tst_info_der = bytes(encap["eContent"])
        tst, _ = decoder.decode(self.tst_info_der, asn1Spec=rfc3161.TSTInfo())
        self.policy = str(tst["policy"])
        self.serial = int(tst["serialNumber"])
        self.gen_time = tst["genTime"].asDateTime
        self.hash_algorithm = str(tst["messageImprint"]["hashAlgorithm"]["algorithm"])
        self.imprint = bytes(tst["messageImprint"]["hashedMessage"])
        self.nonce = int(tst["nonce"]) if tst["nonce"].isValue else None

    def verify(self, root):
        """Checks the TSA's signature over the TSTInfo and its certificate's path to `root` and
        its timeStamping purpose (the token must carry the certificate: certReq). Returns the
        TSA's certificate."""
        from cryptography import x509

        content, signers = cms.verify_attached(self.der, root)
        if content != self.tst_info_der or len(signers) != 1:
            raise cms.VerificationError("a time-stamp token has one signer over its TSTInfo")
        eku = signers[0].extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        if not eku.critical or list(eku.value) != [x509.ExtendedKeyUsageOID.TIME_STAMPING]:
            raise cms.VerificationError("the signer is not a time-stamping authority (critical EKU timeStamping only)")
        return signers[0]

    def covers(self, data: bytes = None, digest: bytes = None) -> bool:
        if digest is None:
            digest = hashlib.sha256(data).digest()
        return self.hash_algorithm == str(SHA256) and self.imprint == digest


def token_from_response(response_der: bytes) -> Token:
    """The token of a granted TimeStampResp; ValueError naming the status otherwise."""
    resp, _ = decoder.decode(response_der, asn1Spec=rfc3161.TimeStampResp())
    status = int(resp["status"]["status"])
    if status not in (0, 1):
        text = " ".join(str(t) for t in resp["status"]["statusString"]) if resp["status"]["statusString"].isValue else ""
        raise ValueError(f"time-stamp refused: PKIStatus {status} {text}")
    return Token(encoder.encode(resp["timeStampToken"]))


def stamp_grpc(channel, data: bytes = None, digest: bytes = None):
    """Asks semper-tsa over gRPC. Returns (Token, StampResponse)."""
    from semper.v1 import tsa_pb2_grpc

    stub = tsa_pb2_grpc.TimeStampStub(channel)
    resp = errors.call(stub.Stamp, tsa_pb2.StampRequest(request=request_der(data, digest)))
    return token_from_response(resp.response), resp


def stamp_http(url: str, data: bytes = None, digest: bytes = None, context=None) -> Token:
    """POSTs an RFC 3161 query to semper-tsa's HTTP endpoint (e.g. http://127.0.0.1:7011/tsa)."""
    req = urllib.request.Request(url, data=request_der(data, digest), method="POST",
                                 headers={"Content-Type": "application/timestamp-query"})
    with urllib.request.urlopen(req, timeout=30, context=context) as r:
        if r.headers.get("Content-Type", "").split(";")[0] != "application/timestamp-reply":
            raise ValueError("not a time-stamp reply: " + r.headers.get("Content-Type", ""))
        return token_from_response(r.read())
