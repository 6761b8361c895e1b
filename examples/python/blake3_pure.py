"""BLAKE3 in pure Python (standard library only): the hash mode, any input length.

Pictor names every block by the BLAKE3 hash of its bytes, and Python's hashlib has no
BLAKE3, so this module carries a small, readable implementation of the function as the
BLAKE3 paper and its reference implementation define it (hash mode only: no keyed hash,
no key derivation). It is slow -- about half a megabyte a second -- but a rendered frame is a
few hundred kilobytes, and the point here is checking, not speed.

    >>> blake3(b"").hex()[:16]
    'af1349b9f5f9a1a6'

How BLAKE3 hashes a message:

1. The input is cut into 1024-byte chunks (the last may be shorter; an empty input is one
   empty chunk). Each chunk is cut into 64-byte blocks, compressed one after the other
   from the key (in hash mode the IV), with the chunk's index as the counter and the
   flags CHUNK_START on its first block and CHUNK_END on its last. What the last
   compression gives (its first 8 words) is the chunk's chaining value.
2. The chunks' chaining values are merged pairwise up a binary tree: a parent node
   compresses its left and right children's chaining values (64 bytes, one block) from
   the key, with the PARENT flag. The tree is left-heavy: the left subtree of a node over
   n chunks holds the largest power of 2 that is smaller than n.
3. The root node -- the one chunk when there is only one, else the top parent -- is
   compressed once more with the ROOT flag added instead of being turned into a chaining
   value; its output words are the hash (for longer outputs, the root is compressed again
   with counters 1, 2, ...: the extendable output).

Run ``python3 test_blake3_pure.py`` beside this file to check it against the official
test vectors.
"""

import struct

__all__ = ["blake3", "OUT_LEN"]

OUT_LEN = 32
BLOCK_LEN = 64
CHUNK_LEN = 1024

# Domain flags.
CHUNK_START = 1 << 0
CHUNK_END = 1 << 1
PARENT = 1 << 2
ROOT = 1 << 3

# The initialisation vector: SHA-256's (also the key in hash mode).
IV = (
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
    0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
)

# How the 16 message words are reordered between rounds.
MSG_PERMUTATION = (2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8)

MASK = 0xFFFFFFFF


def _g(s, a, b, c, d, mx, my):
    """The quarter-round: mixes two message words into four state words."""
    s[a] = (s[a] + s[b] + mx) & MASK
    x = s[d] ^ s[a]
    s[d] = (x >> 16) | ((x << 16) & MASK)
    s[c] = (s[c] + s[d]) & MASK
    x = s[b] ^ s[c]
    s[b] = (x >> 12) | ((x << 20) & MASK)
    s[a] = (s[a] + s[b] + my) & MASK
    x = s[d] ^ s[a]
    s[d] = (x >> 8) | ((x << 24) & MASK)
    s[c] = (s[c] + s[d]) & MASK
    x = s[b] ^ s[c]
    s[b] = (x >> 7) | ((x << 25) & MASK)


def compress(cv, block_words, counter, block_len, flags):
    """The compression function: 8 chaining-value words and a 16-word block to 16 words.

    The first 8 output words are the next chaining value; all 16 are root output.
    """
    s = [
        cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7],
        IV[0], IV[1], IV[2], IV[3],
        counter & MASK, (counter >> 32) & MASK, block_len, flags,
    ]
    m = list(block_words)
    for round_number in range(7):
        # Columns...
        _g(s, 0, 4, 8, 12, m[0], m[1])
        _g(s, 1, 5, 9, 13, m[2], m[3])
        _g(s, 2, 6, 10, 14, m[4], m[5])
        _g(s, 3, 7, 11, 15, m[6], m[7])
        # ...then diagonals.
        _g(s, 0, 5, 10, 15, m[8], m[9])
        _g(s, 1, 6, 11, 12, m[10], m[11])
        _g(s, 2, 7, 8, 13, m[12], m[13])
        _g(s, 3, 4, 9, 14, m[14], m[15])
        if round_number < 6:
            m = [m[i] for i in MSG_PERMUTATION]
    for i in range(8):
        s[i] ^= s[i + 8]
        s[i + 8] ^= cv[i]
    return s


def _words(block):
    """A block of at most 64 bytes as 16 little-endian words, zero-padded."""
    return struct.unpack("<16I", block.ljust(BLOCK_LEN, b"\0"))


class _Output:
    """A node of the tree, not yet compressed: what is needed to finish it either as a
    chaining value (for its parent) or as the root."""

    def __init__(self, cv, block_words, counter, block_len, flags):
        self.cv = cv
        self.block_words = block_words
        self.counter = counter
        self.block_len = block_len
        self.flags = flags

    def chaining_value(self):
        return compress(self.cv, self.block_words, self.counter, self.block_len, self.flags)[:8]

    def root_bytes(self, length):
        out = bytearray()
        output_block = 0
        while len(out) < length:
            words = compress(self.cv, self.block_words, output_block, self.block_len, self.flags | ROOT)
            out += struct.pack("<16I", *words)
            output_block += 1
        return bytes(out[:length])


def _chunk_output(chunk, chunk_index, key):
    """Compresses every block of one chunk but the last; the last makes the node."""
    cv = key
    blocks = [chunk[i:i + BLOCK_LEN] for i in range(0, len(chunk), BLOCK_LEN)] or [b""]
    for n, block in enumerate(blocks[:-1]):
        flags = CHUNK_START if n == 0 else 0
        cv = compress(cv, _words(block), chunk_index, BLOCK_LEN, flags)[:8]
    last = blocks[-1]
    flags = CHUNK_END | (CHUNK_START if len(blocks) == 1 else 0)
    return _Output(cv, _words(last), chunk_index, len(last), flags)


def _parent_output(left_cv, right_cv, key):
    return _Output(key, tuple(left_cv) + tuple(right_cv), 0, BLOCK_LEN, PARENT)


def _subtree(data, first_chunk, chunks, key):
    """The node over `chunks` chunks of `data`, starting at chunk `first_chunk`."""
    if chunks == 1:
        start = first_chunk * CHUNK_LEN
        return _chunk_output(data[start:start + CHUNK_LEN], first_chunk, key)
    left = 1 << ((chunks - 1).bit_length() - 1)  # largest power of 2 below `chunks`
    left_cv = _subtree(data, first_chunk, left, key).chaining_value()
    right_cv = _subtree(data, first_chunk + left, chunks - left, key).chaining_value()
    return _parent_output(left_cv, right_cv, key)


def blake3(data, length=OUT_LEN):
    """The BLAKE3 hash of `data` (bytes-like), `length` bytes long (default 32)."""
    data = memoryview(data).tobytes()
    chunks = max(1, -(-len(data) // CHUNK_LEN))
    return _subtree(data, 0, chunks, IV).root_bytes(length)


if __name__ == "__main__":
    import sys

    if len(sys.argv) < 2:
        print(blake3(sys.stdin.buffer.read()).hex())
    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            print(f"{blake3(f.read()).hex()}  {path}")
