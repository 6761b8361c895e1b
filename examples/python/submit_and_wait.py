#!/usr/bin/env python3
"""Submit a render job to a running `pictor node`, wait for it, and download its frames,
checking every byte against the frames' content ids (CIDs).

Python 3 standard library only: no packages to install.

    python3 examples/python/submit_and_wait.py --home ~/.pictor --frames 1-2 --out frames/
    python3 examples/python/submit_and_wait.py --rpc http://127.0.0.1:7401 \\
        --token-file rpc.token --upload --scene my-scene.gltf

Usage:
    submit_and_wait.py [--home DIR | --rpc URL --token-file F] [--scene PATH] [--upload]
                       [--frames 1-2] [--samples N] [--width W] [--height H]
                       [--tile T] [--engine builtin|blender] [--out DIR]
                       [--poll SECONDS] [--timeout SECONDS]

Which node: `--home DIR` reads the node's HTTP address from DIR/node.json (written while
the node runs) and its RPC token from DIR/rpc.token (a new one at each start). Without
either flag, $PICTOR_HOME, else ~/.pictor, is the home. `--rpc URL` names the address
instead (`http://127.0.0.1:7401`); the token then comes from `--token-file F`, or
$PICTOR_RPC_TOKEN.

The scene: by default the repository's examples/scenes/cornell-box.gltf. It is submitted
with `scene_path`, its absolute path: **the node reads that file from its own machine**,
so this works only when the node runs where this script does (a local node or devnet).
For a remote node, pass `--upload`: the scene is first POSTed to the node's /upload (which
answers its CID) and the job names it by `scene_cid`. The node's built-in engine takes
a *scene bundle* (the canonical CBOR `[1, main file name, {path: bytes}]` that
`pictor job submit` also sends), not a bare glTF, so for a .gltf/.glb `--upload` wraps
the file in a one-file bundle; that works for a self-contained scene only (every buffer
and image embedded, as in cornell-box.gltf) -- use `pictor job submit` for a scene with
external files. Any other file (a .blend for the Blender engine) is uploaded as it is.
If the node refuses the scene, its error is printed as it answered it.

What it does:
 1. `job_submit` (JSON-RPC 2.0 over HTTP POST to the node's /, with
    `Authorization: Bearer <token>`), which answers the job id;
 2. polls `job_status` every --poll seconds, printing a line whenever the progress
    changes, until the job is complete, failed or cancelled;
 3. `job_frames` lists each frame's CID; every frame is fetched block by block from the
    node's IPFS trustless gateway (`GET /ipfs/{cid}?format=raw`), each block's BLAKE3
    hash is checked against the digest its CID carries, a dag-pb (UnixFS) node's links
    are followed, and the raw leaves concatenated in order. Nothing is written unless the
    whole frame verified; then it is written to --out as frame-0001.png, frame-0002.png...

How Pictor names files (see ipfs/src/unixfs/import.rs): a file of at most one chunk
(1 MiB) is a single raw block, CIDv1 with codec raw (0x55) and a BLAKE3 (0x1e, 32-byte)
multihash; a larger one is a balanced tree of dag-pb (0x70) nodes, each with at most 174
links, over raw 1 MiB leaves. CID strings are multibase base32 ('b', lowercase, no
padding). BLAKE3 itself is in blake3_pure.py beside this file.

Exit codes: 0 every frame downloaded and verified; 1 the job failed, was cancelled, was
refused by the node, did not finish in --timeout, or a block did not match its CID;
2 usage error, or the node could not be reached or refused the request itself.

Testing aid (not shown by --help): `--verify-only CID FILE` computes the CID that FILE's
bytes get when a Pictor node imports them (the same chunking and dag-pb encoding) and
exits 0 if it is CID, 1 if not; no node is needed.
"""

import argparse
import base64
import hashlib
import json
import os
import struct
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from blake3_pure import blake3  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_SCENE = os.path.join(REPO, "examples", "scenes", "cornell-box.gltf")

# Multicodecs and multihash codes (ipfs/src/block.rs).
RAW_CODEC = 0x55
DAG_PB_CODEC = 0x70
BLAKE3_CODE = 0x1E
SHA2_256_CODE = 0x12
IDENTITY_CODE = 0x00
# UnixFS import (ipfs/src/unixfs/mod.rs).
CHUNK_SIZE = 1024 * 1024
MAX_LINKS = 174
# The largest block a node serves, and the largest file this script reassembles.
MAX_BLOCK_SIZE = 2 * 1024 * 1024
MAX_FILE_SIZE = 256 * 1024 * 1024
# UnixFS Data.Type values that hold file bytes.
UNIXFS_RAW, UNIXFS_FILE = 0, 2

FINISHED = ("complete", "failed", "cancelled")
# The node's error code for a job or scene it does not accept (node/src/rpc/mod.rs).
INVALID_JOB = -32003

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class Usage(Exception):
    """Bad arguments, or no way to the node: exit 2."""


class Failed(Exception):
    """The job did not give verified frames: exit 1."""


class RpcError(Exception):
    """A JSON-RPC error object the node answered."""

    def __init__(self, method, code, message):
        super().__init__(f"{method}: {message} (error {code})")
        self.code = code


class CidMismatch(Failed):
    """A block's bytes do not hash to the digest of the CID it was asked by."""


# --- CIDs -------------------------------------------------------------------------------


def varint(data, pos):
    """An unsigned LEB128 varint at data[pos]: (value, position after it)."""
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def encode_varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class Cid:
    """A CIDv1: codec, multihash code and digest."""

    def __init__(self, codec, hash_code, digest):
        self.codec = codec
        self.hash_code = hash_code
        self.digest = digest

    @classmethod
    def parse(cls, text):
        """Parses a base32 ('b...') CIDv1 string."""
        if not text.startswith("b"):
            raise ValueError(f"{text!r} is not a base32 CIDv1 (it should start with 'b')")
        body = text[1:].upper()
        try:
            raw = base64.b32decode(body + "=" * (-len(body) % 8))
        except ValueError as e:
            raise ValueError(f"{text!r} is not valid base32: {e}") from None
        return cls.from_bytes(raw, text)

    @classmethod
    def from_bytes(cls, raw, name=None):
        """Parses binary CID bytes (as dag-pb links hold them)."""
        name = name or raw.hex()
        version, pos = varint(raw, 0)
        if version != 1:
            raise ValueError(f"CID {name}: version {version}, only CIDv1 is read here")
        codec, pos = varint(raw, pos)
        hash_code, pos = varint(raw, pos)
        length, pos = varint(raw, pos)
        digest = raw[pos:]
        if len(digest) != length:
            raise ValueError(f"CID {name}: digest of {len(digest)} bytes, its length says {length}")
        return cls(codec, hash_code, digest)

    def to_bytes(self):
        return (
            encode_varint(1)
            + encode_varint(self.codec)
            + encode_varint(self.hash_code)
            + encode_varint(len(self.digest))
            + self.digest
        )

    def __str__(self):
        return "b" + base64.b32encode(self.to_bytes()).decode().lower().rstrip("=")

    def __eq__(self, other):
        return isinstance(other, Cid) and self.to_bytes() == other.to_bytes()

    def __hash__(self):
        return hash(self.to_bytes())


def digest_of(hash_code, data):
    """`data` hashed with the multihash function `hash_code`."""
    if hash_code == BLAKE3_CODE:
        return blake3(data)
    if hash_code == SHA2_256_CODE:
        return hashlib.sha256(data).digest()
    if hash_code == IDENTITY_CODE:
        return bytes(data)
    raise ValueError(f"unsupported multihash code {hash_code:#x}")


def verify_block(cid, data):
    """Raises CidMismatch unless `data` hashes to the digest `cid` carries."""
    actual = digest_of(cid.hash_code, data)
    if actual != cid.digest:
        raise CidMismatch(
            f"block {cid}: its {len(data)} bytes hash to {actual.hex()}, "
            f"the CID says {cid.digest.hex()}"
        )


def blake3_cid(codec, data):
    return Cid(codec, BLAKE3_CODE, blake3(data))


# --- protobuf: dag-pb and UnixFS --------------------------------------------------------


def protobuf_fields(data):
    """Yields (field number, wire type, value) of a protobuf message; length-delimited
    values are bytes, varints ints."""
    pos = 0
    while pos < len(data):
        key, pos = varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(data, pos)
        elif wire == 2:
            length, pos = varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated protobuf field")
            value, pos = data[pos:pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, wire, value


def decode_dag_pb(data):
    """A dag-pb node: (list of child CIDs, its Data bytes or None)."""
    links, node_data = [], None
    for field, wire, value in protobuf_fields(data):
        if field == 2 and wire == 2:  # PBLink
            link_hash = None
            for lf, lw, lv in protobuf_fields(value):
                if lf == 1 and lw == 2:
                    link_hash = lv
            if link_hash is None:
                raise ValueError("a dag-pb link without a hash")
            links.append(Cid.from_bytes(link_hash))
        elif field == 1 and wire == 2:
            node_data = value
    return links, node_data


def decode_unixfs(data):
    """The UnixFS Data message: (type, inline data, filesize, blocksizes)."""
    kind, inline, filesize, blocksizes = None, b"", None, []
    for field, wire, value in protobuf_fields(data):
        if field == 1 and wire == 0:
            kind = value
        elif field == 2 and wire == 2:
            inline = value
        elif field == 3 and wire == 0:
            filesize = value
        elif field == 4 and wire == 0:
            blocksizes.append(value)
        elif field == 4 and wire == 2:  # packed
            pos = 0
            while pos < len(value):
                size, pos = varint(value, pos)
                blocksizes.append(size)
    return kind, inline, filesize, blocksizes


def pb_field(number, payload):
    """A length-delimited protobuf field."""
    return encode_varint(number << 3 | 2) + encode_varint(len(payload)) + payload


def pb_varint_field(number, value):
    return encode_varint(number << 3) + encode_varint(value)


def import_cid(data):
    """The root CID a Pictor node gives `data` when it imports it as a UnixFS file
    (ipfs/src/unixfs/import.rs): one raw block up to a chunk, else a balanced tree of
    dag-pb file nodes (links first, then Data, in canonical dag-pb order)."""
    if len(data) <= CHUNK_SIZE:
        return blake3_cid(RAW_CODEC, data)
    # (cid, file bytes under it, cumulative encoded size)
    level = []
    for start in range(0, len(data), CHUNK_SIZE):
        chunk = data[start:start + CHUNK_SIZE]
        level.append((blake3_cid(RAW_CODEC, chunk), len(chunk), len(chunk)))
    while len(level) > 1:
        parents = []
        for i in range(0, len(level), MAX_LINKS):
            group = level[i:i + MAX_LINKS]
            filesize = sum(size for _, size, _ in group)
            unixfs = pb_varint_field(1, UNIXFS_FILE) + pb_varint_field(3, filesize)
            unixfs += b"".join(pb_varint_field(4, size) for _, size, _ in group)
            node = b"".join(
                pb_field(2, pb_field(1, cid.to_bytes()) + pb_varint_field(3, tsize))
                for cid, _, tsize in group
            )
            node += pb_field(1, unixfs)
            tsize = len(node) + sum(t for _, _, t in group)
            parents.append((blake3_cid(DAG_PB_CODEC, node), filesize, tsize))
        level = parents
    return level[0][0]


# --- the node's HTTP port ---------------------------------------------------------------


class Node:
    """A node's HTTP port: JSON-RPC on /, uploads on /upload, raw blocks on /ipfs/."""

    def __init__(self, url, token):
        self.url = url.rstrip("/")
        self.token = token
        self.next_id = 1

    def _open(self, request, what, timeout=60):
        try:
            return urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError:
            raise  # an answer: the caller reads its body
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise Usage(f"cannot reach the node at {self.url} ({what}): {reason}") from None

    def call(self, method, params, token=False):
        """One JSON-RPC call; its result, or RpcError with the node's error object."""
        body = json.dumps(
            {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        ).encode()
        self.next_id += 1
        headers = {"Content-Type": "application/json"}
        if token:
            if not self.token:
                raise Usage(f"{method} needs the node's RPC token: pass --home or --token-file")
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + "/", data=body, headers=headers, method="POST")
        try:
            with self._open(request, method) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as e:
            # Refusals before the methods (no token, body too large) come as an HTTP
            # status with a JSON-RPC error body.
            answer = self._error_body(e)
        except json.JSONDecodeError as e:
            raise Usage(f"{method}: the node's answer is not JSON: {e}") from None
        if "error" in answer:
            error = answer["error"]
            raise RpcError(method, error.get("code"), error.get("message", str(error)))
        return answer.get("result")

    def _error_body(self, e):
        text = e.read().decode(errors="replace")
        try:
            answer = json.loads(text)
        except json.JSONDecodeError:
            answer = None
        if isinstance(answer, dict) and "error" in answer:
            return answer
        return {"error": {"code": e.code, "message": f"HTTP {e.code}: {text.strip()}"}}

    def upload(self, data):
        """POSTs a file to /upload; the node's answer {"cid", "size"}."""
        if not self.token:
            raise Usage("uploading needs the node's RPC token: pass --home or --token-file")
        request = urllib.request.Request(
            self.url + "/upload",
            data=data,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/octet-stream",
            },
            method="POST",
        )
        try:
            with self._open(request, "upload", timeout=300) as response:
                return json.load(response)
        except urllib.error.HTTPError as e:
            error = self._error_body(e)["error"]
            raise RpcError("upload", error.get("code"), error.get("message")) from None

    def block(self, cid):
        """One raw block from the trustless gateway, checked against its CID."""
        if cid.hash_code == IDENTITY_CODE:
            return cid.digest
        request = urllib.request.Request(
            f"{self.url}/ipfs/{cid}?format=raw",
            headers={"Accept": "application/vnd.ipld.raw"},
        )
        try:
            with self._open(request, f"block {cid}") as response:
                data = response.read(MAX_BLOCK_SIZE + 1)
        except urllib.error.HTTPError as e:
            body = e.read().decode(errors="replace").strip()
            raise Failed(f"block {cid}: HTTP {e.code} from the gateway: {body}") from None
        if len(data) > MAX_BLOCK_SIZE:
            raise Failed(f"block {cid}: over {MAX_BLOCK_SIZE} bytes")
        verify_block(cid, data)
        return data


def fetch_file(node, root):
    """The bytes of the UnixFS file `root` names, every block verified (see verify_block):
    a raw block is file bytes; a dag-pb node's file bytes are its inline data followed by
    its children's, in link order."""
    out = bytearray()

    def walk(cid, depth):
        if depth > 32:
            raise Failed(f"file {root}: deeper than 32 levels")
        data = node.block(cid)
        if cid.codec == RAW_CODEC:
            out.extend(data)
        elif cid.codec == DAG_PB_CODEC:
            links, node_data = decode_dag_pb(data)
            kind, inline, filesize, blocksizes = decode_unixfs(node_data or b"")
            if kind not in (UNIXFS_RAW, UNIXFS_FILE):
                raise Failed(f"block {cid}: a UnixFS node of type {kind}, not a file")
            if blocksizes and len(blocksizes) != len(links):
                raise Failed(f"block {cid}: {len(links)} links but {len(blocksizes)} block sizes")
            start = len(out)
            out.extend(inline)
            for child in links:
                walk(child, depth + 1)
            if filesize is not None and len(out) - start != filesize:
                raise Failed(
                    f"block {cid}: says {filesize} file bytes, its children hold {len(out) - start}"
                )
        else:
            raise Failed(f"block {cid}: codec {cid.codec:#x} is neither raw nor dag-pb")
        if len(out) > MAX_FILE_SIZE:
            raise Failed(f"file {root}: over {MAX_FILE_SIZE} bytes")

    try:
        walk(root, 0)
    except ValueError as e:  # a malformed CID or protobuf inside a verified block
        raise Failed(f"file {root}: {e}") from None
    return bytes(out)


# --- scenes -----------------------------------------------------------------------------


def cbor_head(major, n):
    """A CBOR item head with the shortest length encoding (as ciborium writes it)."""
    if n < 24:
        return bytes([major << 5 | n])
    for info, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if n < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | info]) + struct.pack(fmt, n)
    raise ValueError("too long for CBOR")


def gltf_json(path, data):
    """The JSON of a .gltf or .glb file."""
    if path.lower().endswith(".glb"):
        if len(data) < 20 or data[:4] != b"glTF":
            raise Usage(f"{path} is not a GLB file")
        length, kind = struct.unpack("<I4s", data[12:20])
        if kind != b"JSON":
            raise Usage(f"{path}: its first GLB chunk is not JSON")
        data = data[20:20 + length]
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise Usage(f"{path} is not valid glTF JSON: {e}") from None


def scene_bundle(path, data):
    """A one-file scene bundle, as the built-in engine reads a scene (gpu/src/bundle.rs:
    CBOR `[1, name, {name: bytes}]`). Refuses a scene that references other files."""
    doc = gltf_json(path, data)
    external = [
        item["uri"]
        for key in ("buffers", "images")
        for item in doc.get(key, [])
        if "uri" in item and not item["uri"].startswith("data:")
    ]
    if external:
        raise Usage(
            f"{path} references other files ({', '.join(external)}): this example uploads "
            "self-contained scenes only; `pictor job submit` bundles such scenes"
        )
    name = os.path.basename(path).encode()
    return (
        cbor_head(4, 3)  # an array of 3
        + cbor_head(0, 1)  # bundle version 1
        + cbor_head(3, len(name)) + name  # the main file's name
        + cbor_head(5, 1)  # a map of one file...
        + cbor_head(3, len(name)) + name  # ...by its name
        + cbor_head(2, len(data)) + data  # ...to its bytes
    )


# --- the job ----------------------------------------------------------------------------


def find_node(args):
    """The node's URL and token, from --rpc/--token-file or the home."""
    if args.rpc:
        url = args.rpc if "://" in args.rpc else "http://" + args.rpc
        token = None
        if args.token_file:
            token = read_token(args.token_file)
        elif os.environ.get("PICTOR_RPC_TOKEN", "").strip():
            token = os.environ["PICTOR_RPC_TOKEN"].strip()
        elif args.home:
            path = os.path.join(args.home, "rpc.token")
            token = read_token(path) if os.path.exists(path) else None
        return Node(url, token)
    home = args.home or os.environ.get("PICTOR_HOME") or os.path.expanduser("~/.pictor")
    runtime = os.path.join(home, "node.json")
    try:
        with open(runtime) as f:
            info = json.load(f)
    except FileNotFoundError:
        raise Usage(
            f"no node is running on {home} (no {runtime}): start one with "
            f"`pictor node --home {home}`, or pass --rpc URL"
        ) from None
    except (OSError, ValueError) as e:
        raise Usage(f"cannot read {runtime}: {e}") from None
    http = info.get("http")
    if not http:
        raise Usage(f"the node on {home} has its HTTP port off (config.toml `http`)")
    token_path = args.token_file or os.path.join(home, "rpc.token")
    return Node(http if "://" in http else "http://" + http, read_token(token_path))


def read_token(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        raise Usage(f"cannot read the RPC token {path}: {e}") from None


def submit(node, args):
    scene = os.path.abspath(args.scene)
    if not os.path.isfile(scene):
        raise Usage(f"scene {scene} not found")
    engine = args.engine or ("blender" if scene.lower().endswith(".blend") else "builtin")
    params = {
        "frames": args.frames,
        "width": args.width,
        "height": args.height,
        "samples": args.samples,
        "engine": engine,
    }
    if args.tile:
        params["tile"] = args.tile
    if args.upload:
        with open(scene, "rb") as f:
            data = f.read()
        if engine == "builtin" and scene.lower().endswith((".gltf", ".glb")):
            data = scene_bundle(scene, data)
        answer = node.upload(data)
        print(f"uploaded {os.path.basename(scene)}: {answer.get('size')} bytes, cid {answer.get('cid')}")
        params["scene_cid"] = answer["cid"]
        params["scene_name"] = os.path.basename(scene)
    else:
        params["scene_path"] = scene
    return node.call("job_submit", params, token=True)["job_id"]


def describe(status):
    line = f"{status['state']}: {status['verified']}/{status['shards']} shards verified"
    line += f" ({100 * status.get('progress', 0):.0f}%)"
    if status.get("rejected"):
        line += f", {status['rejected']} rejected"
    line += f", {status.get('frames_done', 0)}/{status.get('frames', '?')} frames"
    return line


def wait(node, job, poll, timeout):
    """Polls job_status until the job finishes; its last status."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        status = node.call("job_status", {"job_id": job})
        line = describe(status)
        if line != last:
            print(f"job {job[:8]} {line}", flush=True)
            last = line
        if status["state"] in FINISHED:
            return status
        if time.monotonic() > deadline:
            raise Failed(f"job {job} did not finish in {timeout:g} s (it is still {status['state']})")
        time.sleep(poll)


def download(node, job, out_dir):
    frames = node.call("job_frames", {"job_id": job})["frames"]
    if not frames:
        raise Failed(f"job {job} is complete but lists no frames")
    os.makedirs(out_dir, exist_ok=True)
    for frame in sorted(frames, key=lambda f: f["frame"]):
        try:
            cid = Cid.parse(frame["cid"])
        except ValueError as e:
            raise Failed(f"frame {frame['frame']}: {e}") from None
        started = time.monotonic()
        data = fetch_file(node, cid)
        path = os.path.join(out_dir, f"frame-{frame['frame']:04d}.png")
        with open(path, "wb") as f:
            f.write(data)
        note = "" if data.startswith(b"\x89PNG\r\n\x1a\n") else " (not a PNG!)"
        print(
            f"frame {frame['frame']}: {len(data)} bytes, cid {cid} verified "
            f"in {time.monotonic() - started:.1f} s -> {path}{note}"
        )


def run(args):
    if args.verify_only:
        cid_text, path = args.verify_only
        try:
            expected = Cid.parse(cid_text)
        except ValueError as e:
            raise Usage(str(e)) from None
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise Usage(f"cannot read {path}: {e}") from None
        actual = import_cid(data)
        if actual != expected:
            raise CidMismatch(f"{path}: its bytes import as {actual}, not {expected}")
        print(f"{path}: {expected} verified")
        return EXIT_OK
    node = find_node(args)
    try:
        job = submit(node, args)
    except RpcError as e:
        if e.code == INVALID_JOB:
            raise Failed(f"the node refused the job: {e}") from None
        raise
    print(f"submitted job {job}")
    try:
        status = wait(node, job, args.poll, args.timeout)
    except KeyboardInterrupt:
        print(f"stopped waiting: job {job} goes on (job_cancel stops it)", file=sys.stderr)
        raise
    if status["state"] != "complete":
        reason = status.get("reason") or "no reason given"
        raise Failed(f"job {job} {status['state']}: {reason}")
    download(node, job, args.out)
    print(f"job {job}: every frame verified")
    return EXIT_OK


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Submit a job to a Pictor node, wait for it, download and verify its frames.",
        epilog="Exit codes: 0 ok; 1 job failed/cancelled/refused or a CID mismatch; "
        "2 usage or connection error.",
    )
    where = p.add_argument_group("which node")
    where.add_argument("--home", metavar="DIR", help="the node's home (default $PICTOR_HOME, else ~/.pictor)")
    where.add_argument("--rpc", metavar="URL", help="the node's HTTP address instead (http://host:port)")
    where.add_argument("--token-file", metavar="F", help="a file holding the RPC token")
    p.add_argument("--scene", default=DEFAULT_SCENE, help="the scene file (default: the Cornell box)")
    p.add_argument("--upload", action="store_true", help="upload the scene to /upload and submit it by CID (for a remote node)")
    p.add_argument("--frames", default="1-2", help="frames to render, like 1-4 (default 1-2)")
    p.add_argument("--samples", type=int, default=32, help="samples per pixel (default 32)")
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--height", type=int, default=384)
    p.add_argument("--tile", type=int, help="tile size in pixels (the node's default if not given)")
    p.add_argument("--engine", choices=("builtin", "blender"), help="default: blender for .blend, else builtin")
    p.add_argument("--out", default="frames", metavar="DIR", help="where frames are written (default ./frames)")
    p.add_argument("--poll", type=float, default=1.0, metavar="SECONDS", help="status poll interval (default 1)")
    p.add_argument("--timeout", type=float, default=1800, metavar="SECONDS", help="give up after this long (default 1800)")
    p.add_argument("--verify-only", nargs=2, metavar=("CID", "FILE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rpc and args.home and args.token_file:
        p.error("give --home, or --rpc with --token-file, not all three")
    if args.token_file and not args.rpc and not args.home:
        p.error("--token-file goes with --rpc URL")
    if args.poll <= 0 or args.timeout <= 0:
        p.error("--poll and --timeout must be positive")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except Usage as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except RpcError as e:
        print(f"error: the node answered {e}", file=sys.stderr)
        return EXIT_USAGE
    except Failed as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
