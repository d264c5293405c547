"""semper-notary's evidence, checked offline (docs/signing.md sections 6.4 and 10): the notary's
CMS signature over the statement's exact JSON bytes, the tree head's signature and its signed
size and root, and the RFC 9162 inclusion of SHA-256(0x00 || statement) in that root; between two
tree heads, the consistency proof."""

import base64
import json
import re

from semper import cms, merkle

def _notary_signed(statement: bytes, signature: bytes, root) -> dict:
    """The notary's signature over a statement (its signing certificate, by the suite-signer rule),
    then the statement parsed: a JSON object."""
    signers = cms.verify_detached(signature, statement, root)
    if len(signers) != 1:
        raise cms.VerificationError("a notary statement has exactly one signer")
    cms.check_suite_signer(signers[0], "notary")
    try:
        st = json.loads(statement)
    except (ValueError, RecursionError):
        raise cms.VerificationError("the statement is not JSON") from None
    if not isinstance(st, dict):
        raise cms.VerificationError("the statement is not a JSON object")
    return st


def verify_tree_head(head, root) -> dict:
    """Checks a SignedTreeHead; returns its statement (dict)."""
    st = _notary_signed(head.statement, head.signature, root)
    if st.get("type") != "semper-notary-tree-head":
        raise cms.VerificationError("not a tree head statement")
    # proto3 JSON omits fields at their default (an empty log's size 0) and writes uint64 as a
    # decimal string.
    size_text, root_text = st.get("tree_size", "0"), st.get("root_hash", "")
    if not isinstance(size_text, str) or not re.fullmatch(r"[0-9]{1,20}", size_text) or not isinstance(root_text, str):
        raise cms.VerificationError("the tree head's size or root is not well formed")
    try:
        size, root_hash = int(size_text), base64.b64decode(root_text, validate=True)
    except ValueError:
        raise cms.VerificationError("the tree head's root is not base64") from None
    if size != head.tree_size or root_hash != head.root_hash:
        raise cms.VerificationError("the tree head's size or root differs from what the notary signed")
    return st


def verify_evidence(evidence, root) -> dict:
    """Checks an Evidence entry completely; returns its statement (dict)."""
    st = _notary_signed(evidence.statement, evidence.signature, root)
    expected = "semper-notarial-attestation" if evidence.kind == "attestation" else "semper-" + evidence.kind
    if st.get("type") != expected:
        raise cms.VerificationError(f"kind {evidence.kind} but the statement is a {st.get('type')}")
    verify_tree_head(evidence.tree_head, root)
    proof = evidence.inclusion
    if proof.leaf_index != evidence.index or proof.tree_size != evidence.tree_head.tree_size:
        raise cms.VerificationError("the inclusion proof is not for this entry and tree head")
    leaf = merkle.leaf_hash(evidence.statement)
    if not merkle.verify_inclusion(proof.leaf_index, proof.tree_size, leaf, list(proof.audit_path),
                                   evidence.tree_head.root_hash):
        raise cms.VerificationError("the statement is not in the tree head's tree")
    return st


def verify_consistency(old_head, proof, root):
    """Checks that proof.new_tree_head extends `old_head` (both verified)."""
    verify_tree_head(old_head, root)
    verify_tree_head(proof.new_tree_head, root)
    if proof.old_size != old_head.tree_size or proof.new_size != proof.new_tree_head.tree_size:
        raise cms.VerificationError("the proof is between other sizes")
    if not merkle.verify_consistency(old_head.tree_size, proof.new_size, old_head.root_hash,
                                     proof.new_tree_head.root_hash, list(proof.proof)):
        raise cms.VerificationError("the new tree head does not extend the old one")
