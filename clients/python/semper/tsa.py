"""RFC 3161 time-stamps from semper-tsa: requests built and tokens read with pyasn1-modules, over
gRPC (semper.v1.TimeStamp/Stamp) or HTTP (POST application/timestamp-query to /tsa). A token's
signature is checked by the cms module (semper.cms.verify_signed_data)."""

import hashlib
import os
import urllib.request

from pyasn1.codec.der import decoder, encoder
from pyasn1.type import univ
from pyasn1_modules import rfc3161, rfc5652

from semper import cms, errors
from semper.v1 import tsa_pb2

SHA256 = univ.ObjectIdentifier("2.16.840.1.101.3.4.2.1")
ID_CT_TST_INFO = univ.ObjectIdentifier("1.2.840.113549.1.9.16.1.4")
ID_SIGNING_CERTIFICATE = "1.2.840.113549.1.9.16.2.12"
ID_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"


def request_der(data: bytes = None, digest: bytes = None, nonce: int = None, cert_req: bool = True) -> bytes:
    """A DER TimeStampReq over SHA-256(data) (or a given SHA-256 digest), with a random 64-bit
    nonce unless one is given, asking for the TSA's certificate in the token."""
    if digest is None:
        digest = hashlib.sha256(data).digest()
    req = rfc3161.TimeStampReq()
    req["version"] = 1
    imprint = req["messageImprint"]
    imprint["hashAlgorithm"]["algorithm"] = SHA256
    # NULL parameters, as OpenSSL writes them (`openssl ts -query`, semper's own client): the
    # same bytes as docs/vectors/timestamp-request.der. (Absent parameters are accepted too.)
    imprint["hashAlgorithm"]["parameters"] = univ.Any(encoder.encode(univ.Null("")))
    imprint["hashedMessage"] = digest
    req["nonce"] = nonce if nonce is not None else int.from_bytes(os.urandom(8), "big")
    req["certReq"] = cert_req
    return encoder.encode(req)


class Token:
    """A time-stamp token (ContentInfo with SignedData over a TSTInfo), parsed. ValueError when
    the bytes are not one."""

    def __init__(self, der: bytes):
        try:
            self._parse(der)
        except ValueError:
            raise
        except Exception as e:  # pyasn1 raises many kinds on hostile bytes
            raise ValueError(f"not a time-stamp token: {type(e).__name__}: {e}") from None

    def _parse(self, der: bytes):
        self.der = der
        info, rest = decoder.decode(der, asn1Spec=rfc5652.ContentInfo())
        if rest:
            raise ValueError("bytes after the token")
        self.signed_data, _ = decoder.decode(bytes(info["content"]), asn1Spec=rfc5652.SignedData())
        encap = self.signed_data["encapContentInfo"]
        if encap["eContentType"] != ID_CT_TST_INFO or not encap["eContent"].isValue:
            raise ValueError("not a time-stamp token: eContentType is not id-ct-TSTInfo")
        self.tst_info_der = bytes(encap["eContent"])
        tst, rest = decoder.decode(self.tst_info_der, asn1Spec=rfc3161.TSTInfo())
        if rest:
            raise ValueError("bytes after the TSTInfo")
        if int(tst["version"]) != 1:
            raise ValueError("TSTInfo version is not 1")
        if not str(tst["genTime"]).endswith("Z"):
            raise ValueError("genTime is not in UTC (no Z)")
        self.policy = str(tst["policy"])
        self.serial = int(tst["serialNumber"])
        self.gen_time = tst["genTime"].asDateTime
        self.hash_algorithm = str(tst["messageImprint"]["hashAlgorithm"]["algorithm"])
        self.imprint = bytes(tst["messageImprint"]["hashedMessage"])
        self.nonce = int(tst["nonce"]) if tst["nonce"].isValue else None

    def verify(self, root, at=None):
        """Checks the TSA's signature over the TSTInfo, its certificate's path to `root` (valid at
        `at`: now by default; the token's own gen_time for a token kept from earlier) and its
        timeStamping purpose (the token must carry the certificate: certReq). Returns the TSA's
        certificate; cms.VerificationError otherwise."""
        content, signers = cms.verify_attached(self.der, root, purpose="timestamping", at=at)
        if content != self.tst_info_der or len(signers) != 1:
            raise cms.VerificationError("a time-stamp token has one signer over its TSTInfo")
        # RFC 3161 2.4.2 / RFC 5816: the signer names its certificate (ESS signing-certificate).
        si = self.signed_data["signerInfos"][0]
        types = {str(a["attrType"]) for a in si["signedAttrs"]} if si["signedAttrs"].isValue else set()
        if not types & {ID_SIGNING_CERTIFICATE, ID_SIGNING_CERTIFICATE_V2}:
            raise cms.VerificationError("the token's signer does not name its certificate (ESS signingCertificate)")
        return signers[0]

    def covers(self, data: bytes = None, digest: bytes = None) -> bool:
        if digest is None:
            digest = hashlib.sha256(data).digest()
        return self.hash_algorithm == str(SHA256) and self.imprint == digest


def token_from_response(response_der: bytes) -> Token:
    """The token of a granted TimeStampResp; ValueError naming the status otherwise."""
    try:
        resp, rest = decoder.decode(response_der, asn1Spec=rfc3161.TimeStampResp())
    except Exception as e:  # pyasn1 raises many kinds on hostile bytes
        raise ValueError(f"not a TimeStampResp: {type(e).__name__}") from None
    if rest or not resp["timeStampToken"].isValue and int(resp["status"]["status"]) in (0, 1):
        raise ValueError("not a TimeStampResp with a token")
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
