"""RFC 9162 (Certificate Transparency 2.0) section 2.1 Merkle trees over SHA-256, as semper-notary's
evidence log and semper-tsa's batches use them: leaf hash SHA-256(0x00 || leaf), node hash
SHA-256(0x01 || left || right). Inclusion and consistency proofs are verified exactly as the RFC's
2.1.3.2 and 2.1.4.2 say."""

import hashlib


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root(leaf_hashes):
    """MTH of a list of leaf hashes (at least one)."""
    n = len(leaf_hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hashes[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(root(leaf_hashes[:k]), root(leaf_hashes[k:]))


def _hashes(items) -> bool:
    return all(isinstance(h, bytes) and len(h) == 32 for h in items)


def verify_inclusion(index: int, tree_size: int, leaf: bytes, path, expected_root: bytes) -> bool:
    """RFC 9162 2.1.3.2: `leaf` (a leaf hash) is leaf `index` of the tree of `tree_size` leaves
    whose root is `expected_root`. False for anything else, malformed input included."""
    try:
        path = list(path)
    except TypeError:
        return False
    if not _hashes(path + [leaf, expected_root]) or index >= tree_size or index < 0:
        return False
    fn, sn = index, tree_size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof) -> bool:
    """RFC 9162 2.1.4.2: the tree of `old_size` leaves with `old_root` is a prefix of the tree of
    `new_size` leaves with `new_root`. False for anything else, malformed input included."""
    try:
        proof = list(proof)
    except TypeError:
        return False
    if not _hashes(proof + [old_root, new_root]) or old_size < 0 or new_size < old_size:
        return False
    if old_size == new_size:
        return old_root == new_root and len(proof) == 0
    if old_size == 0:
        return len(proof) == 0
    proof = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        proof = [old_root] + proof
    if not proof:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
