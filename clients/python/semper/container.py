"""SEMPER containers (proto semper.v1.ContainerContent / SignedContainer / SealedContainer).

seal(): the content serialized (deterministic binary protobuf), then one detached CMS signature
per signer over exactly those bytes (docs/signing.md section 9). open_signed(): the signatures
checked over the exact content bytes (never re-encoded), then the content parsed."""

import datetime
import os

from google.protobuf import timestamp_pb2

from semper import cms
from semper.v1 import container_pb2


def new_content(now: datetime.datetime = None) -> container_pb2.ContainerContent:
    """A ContainerContent with a random 128-bit id and the creation time set."""
    content = container_pb2.ContainerContent()
    content.id = os.urandom(16).hex()
    created = timestamp_pb2.Timestamp()
    created.FromDatetime(now or datetime.datetime.utcnow())
    content.created.CopyFrom(created)
    return content


def seal(content: container_pb2.ContainerContent, signers) -> container_pb2.SealedContainer:
    """Signs `content` by each (key, certificate, issuing CA) in `signers`."""
    data = content.SerializeToString(deterministic=True)
    signed = container_pb2.SignedContainer(content=data)
    for key, certificate, issuing_ca in signers:
        signed.signatures.append(cms.sign_detached(data, key, certificate, issuing_ca))
    return container_pb2.SealedContainer(signed=signed)


def open_signed(signed: container_pb2.SignedContainer, root):
    """(ContainerContent, [signer certificates]) after every signature verified to `root`."""
    if not signed.signatures:
        raise cms.VerificationError("the container carries no signature")
    signers = []
    for signature in signed.signatures:
        signers += cms.verify_detached(signature, signed.content, root)
    content = container_pb2.ContainerContent.FromString(signed.content)
    return content, signers
