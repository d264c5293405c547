"""SEMPER containers (proto semper.v1.ContainerContent / SignedContainer / SealedContainer).

seal(): the content serialized (deterministic binary protobuf), then one detached CMS signature
per signer over exactly those bytes (docs/signing.md section 9). open_signed(): the signatures
checked over the exact content bytes (never re-encoded), then the content parsed."""

import datetime
import hashlib
import os

from google.protobuf import timestamp_pb2
from pyasn1.codec.der import decoder, encoder
from pyasn1.type import univ
from pyasn1_modules import rfc5652

from semper import cms, tsa
from semper.v1 import container_pb2


def new_content(now: datetime.datetime = None) -> container_pb2.ContainerContent:
    """A ContainerContent with a random 128-bit id and the creation time set."""
    content = container_pb2.ContainerContent()
    content.id = os.urandom(16).hex()
    created = timestamp_pb2.Timestamp()
    created.FromDatetime(now or datetime.datetime.utcnow())
    content.created.CopyFrom(created)
    return content


def seal(content: container_pb2.ContainerContent, signers, time_stamp=None) -> container_pb2.SealedContainer:
    """Signs `content` by each (key, certificate, issuing CA) in `signers`. When the content asks
    for time-stamped signatures (content.requested.time_stamped: CAdES-T), `time_stamp` (a
    function from a SHA-256 digest to a DER time-stamp token, e.g. lambda d:
    tsa.stamp_grpc(channel, digest=d)[0].der) stamps each signature's value."""
    if content.requested.time_stamped and time_stamp is None:
        raise ValueError("a time-stamped container needs a time_stamp function")
    data = content.SerializeToString(deterministic=True)
    signed = container_pb2.SignedContainer(content=data)
    for key, certificate, issuing_ca in signers:
        signature = cms.sign_detached(data, key, certificate, issuing_ca)
        if content.requested.time_stamped:
            signature = add_signature_time_stamps(signature, time_stamp)
        signed.signatures.append(signature)
    return container_pb2.SealedContainer(signed=signed)


def add_signature_time_stamps(signature_der: bytes, time_stamp) -> bytes:
    """The same CMS signature with, on each SignerInfo, an unsigned id-aa-signatureTimeStampToken
    attribute holding time_stamp(SHA-256 of its signature value): CAdES-T. The signatures do not
    change."""
    info, _ = decoder.decode(signature_der, asn1Spec=rfc5652.ContentInfo())
    sd, _ = decoder.decode(bytes(info["content"]), asn1Spec=rfc5652.SignedData())
    for si in sd["signerInfos"]:
        digest = hashlib.sha256(bytes(si["signature"])).digest()
        token = time_stamp(digest)
        if not tsa.Token(token).covers(digest=digest):
            raise ValueError("the time-stamping authority answered with a token over something else")
        attr = rfc5652.Attribute()
        attr["attrType"] = univ.ObjectIdentifier(ID_SIGNATURE_TIME_STAMP)
        attr["attrValues"].append(rfc5652.AttributeValue(token))
        si["unsignedAttrs"].append(attr)
    info["content"] = info["content"].clone(encoder.encode(sd))
    return encoder.encode(info)


ID_SIGNATURE_TIME_STAMP = "1.2.840.113549.1.9.16.2.14"
MAX_TIME_STAMPS_PER_SIGNER = 4
TIME_STAMP_SKEW = datetime.timedelta(minutes=5)  # how far a stamp may lie ahead of this clock


def signature_time_stamps(signature_der: bytes):
    """Per SignerInfo of a CMS signature: (SHA-256 of its signature value, [DER tokens of its
    id-aa-signatureTimeStampToken attributes]), the CAdES-T time-stamps (docs/signing.md 9)."""
    def read():
        sd = cms._signed_data(signature_der)
        out = []
        for si in sd["signerInfos"]:
            tokens = []
            if si["unsignedAttrs"].isValue:
                for attr in si["unsignedAttrs"]:
                    if str(attr["attrType"]) != ID_SIGNATURE_TIME_STAMP:
                        continue
                    if len(attr["attrValues"]) == 0:
                        raise cms.VerificationError("a signature time-stamp attribute without a value")
                    tokens += [bytes(v) for v in attr["attrValues"]]
            if len(tokens) > MAX_TIME_STAMPS_PER_SIGNER:
                raise cms.VerificationError("too many signature time-stamps on one signature")
            out.append((hashlib.sha256(bytes(si["signature"])).digest(), tokens))
        return out
    return cms._guarded(read)


def open_signed(signed: container_pb2.SignedContainer, root, require_time_stamped: bool = False):
    """(ContainerContent, [signer certificates], [per signer: the time its signature time-stamp
    proves, or None]) after every signature and every signature time-stamp verified to `root`
    (each token over the SHA-256 of its signature value, its TSA valid at the time it states). A
    container whose content asks for time-stamped signatures (or when `require_time_stamped`)
    must have one on every signature. cms.VerificationError otherwise."""
    if not signed.signatures:
        raise cms.VerificationError("the container carries no signature")
    signers, stamped_at = [], []
    for signature in signed.signatures:
        signers += cms.verify_detached(signature, signed.content, root, purpose="any")
        for digest, tokens in signature_time_stamps(signature):
            times = []
            for der in tokens:
                try:
                    token = tsa.Token(der)
                except ValueError as e:
                    raise cms.VerificationError(f"a signature time-stamp: {e}") from None
                if token.gen_time > datetime.datetime.now(datetime.timezone.utc) + TIME_STAMP_SKEW:
                    raise cms.VerificationError("a signature time-stamp dated in the future")
                token.verify(root, at=token.gen_time)
                if not token.covers(digest=digest):
                    raise cms.VerificationError("a signature time-stamp over something else than its signature")
                times.append(token.gen_time)
            stamped_at.append(min(times) if times else None)
    try:
        content = container_pb2.ContainerContent.FromString(signed.content)
    except Exception:
        raise cms.VerificationError("the content is not a ContainerContent") from None
    if (content.requested.time_stamped or require_time_stamped) and not all(stamped_at):
        raise cms.VerificationError("time-stamped signatures were asked for and a signature carries none")
    if content.requested.non_repudiation_of_origin:
        for signer in signers:
            cms.check_purpose(signer, "nonrepudiation")
    return content, signers, stamped_at
