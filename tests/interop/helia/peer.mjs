#!/usr/bin/env node
// helia peer for Pictor's IPFS interop tests. See README.md beside this file.
//
//   node peer.mjs fetch --peer <multiaddr/p2p/id> --cid <cid> --out <file> [--timeout-ms N]
//   node peer.mjs serve --bytes <file> [--raw] [--hash sha256|blake3] [--chunk-size N]
//                       [--max-links N] [--lifetime-ms N] [--ignore-stdin]
//   node peer.mjs selftest
//
// stdout: JSON lines only (one object per line, always with an "event" key).
// stderr: diagnostics; a failure ends with one JSON line {"event":"error",...} and exit code 1.
// The node only listens on and dials loopback addresses.

import { createWriteStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { finished } from 'node:stream/promises'
import { parseArgs } from 'node:util'

// helia's dependency tree (libp2p's p-retry, undici's zstd support) needs
// Node >= 22.15; check before loading it so an old node fails with a clear message.
{
  const [major, minor] = process.versions.node.split('.').map(Number)
  if (major < 22 || (major === 22 && minor < 15)) {
    process.stderr.write(JSON.stringify({ event: 'error', message: `Node >= 22.15 required, this is ${process.version} (run scripts/setup-interop.sh and use the node in tests/interop/helia/.node-path)` }) + '\n')
    process.exit(1)
  }
}

const { noise } = await import('@chainsafe/libp2p-noise')
const { yamux } = await import('@chainsafe/libp2p-yamux')
const { withBitswap } = await import('@helia/bitswap')
const { withLibp2pLight } = await import('@helia/libp2p')
const { unixfs } = await import('@helia/unixfs')
const dagPb = await import('@ipld/dag-pb')
const { identify } = await import('@libp2p/identify')
const { tcp } = await import('@libp2p/tcp')
const { multiaddr } = await import('@multiformats/multiaddr')
const { blake3 } = await import('@noble/hashes/blake3.js')
const { createHeliaLight } = await import('helia')
const { UnixFS } = await import('ipfs-unixfs')
const { fixedSize } = await import('ipfs-unixfs-importer/chunker')
const { balanced } = await import('ipfs-unixfs-importer/layout')
const { CID } = await import('multiformats/cid')
const raw = await import('multiformats/codecs/raw')
const { from: hasherFrom } = await import('multiformats/hashes/hasher')
const { sha256 } = await import('multiformats/hashes/sha2')

const RAW = raw.code // 0x55
const DAG_PB = dagPb.code // 0x70
const BLAKE3 = 0x1e
const DEFAULT_CHUNK_SIZE = 1024 * 1024 // helia's default (raw leaves, balanced, 1024 links)
const DEFAULT_MAX_LINKS = 1024 // helia's; kubo's is 174
const DEFAULT_FETCH_TIMEOUT_MS = 60_000
const DEFAULT_LIFETIME_MS = 30 * 60_000
const STOP_TIMEOUT_MS = 5_000

/** blake3 (multihash code 0x1e, 32-byte digest), the hash of Pictor's CIDs. */
const blake3Hasher = hasherFrom({
  name: 'blake3',
  code: BLAKE3,
  encode: (bytes) => blake3(bytes)
})

const HASHERS = { sha256, blake3: blake3Hasher }

// ---------------------------------------------------------------- output

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function hex (bytes) {
  return Buffer.from(bytes).toString('hex')
}

class UsageError extends Error {}

let exiting = false
function die (err) {
  if (exiting) return
  exiting = true
  const message = err instanceof Error ? err.message : String(err)
  if (process.env.PEER_DEBUG && err instanceof Error && err.stack) {
    process.stderr.write(err.stack + '\n')
  }
  process.stderr.write(JSON.stringify({ event: 'error', message }) + '\n')
  if (err instanceof UsageError) process.stderr.write(USAGE)
  // stdout/stderr to pipes and files are synchronous on Linux, so nothing is lost
  process.exit(1)
}

const USAGE = `usage:
  node peer.mjs fetch --peer <multiaddr-with-/p2p/id> --cid <cid> --out <file> [--timeout-ms N]
  node peer.mjs serve --bytes <file> [--raw] [--hash sha256|blake3] [--chunk-size N]
                      [--max-links N] [--lifetime-ms N] [--ignore-stdin]
  node peer.mjs selftest
`

// ---------------------------------------------------------------- node

function isLoopback (ma) {
  const [first] = ma.getComponents()
  if (first == null) return false
  if (first.name === 'ip4') return first.value.startsWith('127.')
  if (first.name === 'ip6') return first.value === '::1'
  return false
}

/**
 * A helia node with only TCP (loopback), noise, yamux, identify and bitswap:
 * no routers besides libp2p's own (which has no DHT here), no HTTP gateways,
 * no bootstrap, mDNS, autonat, UPnP, DCUtR or relay. A connection gater
 * refuses any dial that is not to a loopback address.
 */
async function startHelia () {
  const helia = withBitswap(withLibp2pLight(createHeliaLight({
    hashers: [blake3Hasher]
  }), {
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
    connectionGater: {
      denyDialMultiaddr: (ma) => !isLoopback(ma)
    }
  }))
  await helia.start()
  const libp2p = helia.libp2p
  libp2p.addEventListener('peer:identify', (evt) => {
    const d = evt.detail
    emit({
      event: 'identified',
      peer_id: d.peerId.toString(),
      agent: d.agentVersion ?? null,
      protocols: [...(d.protocols ?? [])].sort()
    })
  })
  libp2p.addEventListener('connection:open', (evt) => {
    emit({ event: 'connected', peer_id: evt.detail.remotePeer.toString(), addr: evt.detail.remoteAddr.toString() })
  })
  libp2p.addEventListener('connection:close', (evt) => {
    emit({ event: 'disconnected', peer_id: evt.detail.remotePeer.toString() })
  })
  return helia
}

async function stopHelia (helia) {
  let timer
  await Promise.race([
    helia.stop(),
    new Promise((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`helia did not stop within ${STOP_TIMEOUT_MS} ms`)), STOP_TIMEOUT_MS)
    })
  ]).finally(() => clearTimeout(timer))
}

function nodeInfo (helia) {
  return {
    peer_id: helia.libp2p.peerId.toString(),
    multiaddrs: helia.libp2p.getMultiaddrs().map(String)
  }
}

// ---------------------------------------------------------------- UnixFS

/**
 * Builds a UnixFS file exactly as ipfs-unixfs-importer does with helia's
 * defaults (CIDv1, raw leaves, fixed-size chunks, balanced layout with at most
 * maxLinks links per node, a single-chunk file is just its raw leaf), but with any
 * hasher: the importer only hashes with sha2-256. Blocks are written with
 * `put(cid, bytes)`. Returns the root CID.
 */
async function buildUnixfsFile (bytes, hasher, put, chunkSize = DEFAULT_CHUNK_SIZE, maxLinks = DEFAULT_MAX_LINKS) {
  const leaves = []
  const chunks = []
  for (let off = 0; off < bytes.length; off += chunkSize) {
    chunks.push(bytes.subarray(off, Math.min(off + chunkSize, bytes.length)))
  }
  if (chunks.length === 0) chunks.push(new Uint8Array(0))
  for (const chunk of chunks) {
    const cid = CID.createV1(RAW, await hasher.digest(chunk))
    await put(cid, chunk)
    leaves.push({ cid, size: chunk.length, fileSize: chunk.length })
  }
  if (leaves.length === 1) return leaves[0].cid

  let level = leaves
  while (level.length > 1) {
    const next = []
    for (let i = 0; i < level.length; i += maxLinks) {
      const group = level.slice(i, i + maxLinks).filter((n) => n.fileSize > 0)
      const file = new UnixFS({ type: 'file' })
      for (const n of group) file.addBlockSize(BigInt(n.fileSize))
      const node = {
        Data: file.marshal(),
        Links: group.map((n) => ({ Name: '', Tsize: n.size, Hash: n.cid }))
      }
      const block = dagPb.encode(dagPb.prepare(node))
      const cid = CID.createV1(DAG_PB, await hasher.digest(block))
      await put(cid, block)
      next.push({
        cid,
        size: block.length + group.reduce((acc, n) => acc + n.size, 0),
        fileSize: group.reduce((acc, n) => acc + n.fileSize, 0)
      })
    }
    level = next
  }
  return level[0].cid
}

/** helia's own importer settings, with the chunk size and links per node given. */
function importerOptions (chunkSize, maxLinks) {
  return {
    cidVersion: 1,
    rawLeaves: true,
    chunker: fixedSize({ chunkSize }),
    layout: balanced({ maxChildrenPerNode: maxLinks })
  }
}

// ---------------------------------------------------------------- fetch

async function cmdFetch (args) {
  const { values } = parseArgs({
    args,
    options: {
      peer: { type: 'string' },
      cid: { type: 'string' },
      out: { type: 'string' },
      'timeout-ms': { type: 'string' }
    },
    strict: true
  })
  if (!values.peer || !values.cid || !values.out) throw new UsageError('fetch needs --peer, --cid and --out')
  const timeoutMs = parsePositiveInt(values['timeout-ms'] ?? String(DEFAULT_FETCH_TIMEOUT_MS), '--timeout-ms')
  hardTimeout(timeoutMs + STOP_TIMEOUT_MS + 5_000, 'fetch')

  const cid = CID.parse(values.cid)
  const peerAddr = multiaddr(values.peer)
  const p2p = peerAddr.getComponents().find((c) => c.name === 'p2p')
  if (p2p == null) throw new UsageError(`--peer ${values.peer} has no /p2p/<peer id>`)
  if (!isLoopback(peerAddr)) throw new UsageError(`--peer ${values.peer} is not a loopback address`)
  if (cid.code !== RAW && cid.code !== DAG_PB) {
    throw new UsageError(`--cid codec 0x${cid.code.toString(16)} is neither raw (0x55) nor dag-pb (0x70)`)
  }
  if (cid.multihash.code !== sha256.code && cid.multihash.code !== BLAKE3) {
    throw new UsageError(`--cid multihash 0x${cid.multihash.code.toString(16)} is neither sha2-256 nor blake3`)
  }

  const helia = await startHelia()
  emit({ event: 'started', ...nodeInfo(helia) })
  const signal = AbortSignal.timeout(timeoutMs)
  let bytes = 0
  const b3 = blake3.create()
  const s256 = createHash('sha256')
  try {
    await helia.libp2p.dial(peerAddr, { signal })
    const out = createWriteStream(values.out)
    const write = async (chunk) => {
      bytes += chunk.length
      b3.update(chunk)
      s256.update(chunk)
      if (!out.write(chunk)) await new Promise((resolve) => out.once('drain', resolve))
    }
    try {
      if (cid.code === RAW) {
        for await (const chunk of helia.blockstore.get(cid, { signal })) await write(chunk)
      } else {
        for await (const chunk of unixfs(helia).cat(cid, { signal })) await write(chunk)
      }
    } finally {
      out.end()
      await finished(out)
    }
  } catch (err) {
    const summary = await remoteSummary(helia, p2p.value)
    await stopHelia(helia).catch(() => {})
    throw new Error(`fetching ${cid} from ${values.peer} failed: ${err.message}${summary}`)
  }
  emit({ event: 'fetched', cid: cid.toString(), bytes, blake3: hex(b3.digest()), sha256: s256.digest('hex') })
  await stopHelia(helia).catch((err) => process.stderr.write(`warning: ${err.message}\n`))
}

/** What the remote told us via identify: the usual reason a fetch times out. */
async function remoteSummary (helia, peerIdStr) {
  try {
    const conns = helia.libp2p.getConnections().filter((c) => c.remotePeer.toString() === peerIdStr)
    if (conns.length === 0) return ' (not connected to the peer)'
    const peer = (await helia.libp2p.peerStore.all()).find((p) => p.id.toString() === peerIdStr)
    if (peer == null) return ` (connections to peer: ${conns.length}; the peer store knows nothing about it)`
    const protocols = peer.protocols ?? []
    const hint = protocols.includes('/ipfs/bitswap/1.2.0')
      ? ''
      : ' — helia only sends its wantlist to peers whose identify lists /ipfs/bitswap/1.2.0'
    return ` (connections to peer: ${conns.length}; protocols from identify: [${protocols.join(', ')}]${hint})`
  } catch (err) {
    return ` (no identify information about the peer: ${err.message})`
  }
}

// ---------------------------------------------------------------- serve

async function cmdServe (args) {
  const { values } = parseArgs({
    args,
    options: {
      bytes: { type: 'string' },
      raw: { type: 'boolean', default: false },
      hash: { type: 'string', default: 'blake3' },
      'chunk-size': { type: 'string' },
      'max-links': { type: 'string' },
      'lifetime-ms': { type: 'string' },
      'ignore-stdin': { type: 'boolean', default: false }
    },
    strict: true
  })
  if (!values.bytes) throw new UsageError('serve needs --bytes <file>')
  const hasher = HASHERS[values.hash]
  if (hasher == null) throw new UsageError(`--hash must be sha256 or blake3, not ${values.hash}`)
  const chunkSize = parsePositiveInt(values['chunk-size'] ?? String(DEFAULT_CHUNK_SIZE), '--chunk-size')
  const maxLinks = parsePositiveInt(values['max-links'] ?? String(DEFAULT_MAX_LINKS), '--max-links')
  if (maxLinks < 2) throw new UsageError('--max-links must be at least 2')
  const lifetimeMs = parsePositiveInt(values['lifetime-ms'] ?? String(DEFAULT_LIFETIME_MS), '--lifetime-ms')
  hardTimeout(lifetimeMs, 'serve')

  const data = new Uint8Array(await readFile(values.bytes))
  const helia = await startHelia()
  let cid
  if (values.raw) {
    cid = CID.createV1(RAW, await hasher.digest(data))
    await helia.blockstore.put(cid, data)
  } else if (values.hash === 'sha256') {
    // the real importer; it only hashes with sha2-256
    cid = await unixfs(helia).addBytes(data, importerOptions(chunkSize, maxLinks))
  } else {
    cid = await buildUnixfsFile(data, hasher, (c, b) => helia.blockstore.put(c, b), chunkSize, maxLinks)
  }
  emit({ event: 'ready', cid: cid.toString(), ...nodeInfo(helia), bytes: data.length, blake3: hex(blake3(data)) })

  await new Promise((resolve) => {
    process.once('SIGTERM', resolve)
    process.once('SIGINT', resolve)
    if (!values['ignore-stdin']) {
      process.stdin.on('data', () => {})
      process.stdin.once('end', resolve)
      process.stdin.once('close', resolve)
      process.stdin.once('error', resolve)
      process.stdin.resume()
    }
  })
  process.stdin.pause()
  await stopHelia(helia)
  emit({ event: 'stopped' })
}

// ---------------------------------------------------------------- selftest

/** Offline checks: the blake3 hasher and the UnixFS builder against helia's importer. */
async function cmdSelftest () {
  hardTimeout(120_000, 'selftest')
  const empty = hex((await blake3Hasher.digest(new Uint8Array(0))).digest)
  if (empty !== 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262') {
    throw new Error(`blake3("") = ${empty}`)
  }
  const helia = createHeliaLight({ hashers: [blake3Hasher] })
  await helia.start()
  const fs = unixfs(helia)
  const cases = []
  try {
    // sizes around the chunk boundary, and more than 1024 chunks (a two-level tree)
    const cases_ = [[0, 1024, 1024], [1, 1024, 1024], [1024, 1024, 1024], [1025, 1024, 1024],
      [5 * 1024 * 1024 + 7, 1024 * 1024, 1024], [1024 * 1025 + 3, 1024, 1024], [174 * 175 * 64 + 1, 64, 174]]
    for (const [size, chunkSize, maxLinks] of cases_) {
      const data = new Uint8Array(size)
      for (let i = 0; i < size; i++) data[i] = (i * 31 + (i >> 10)) & 0xff
      const want = await fs.addBytes(data, importerOptions(chunkSize, maxLinks))
      const got = await buildUnixfsFile(data, sha256, async () => {}, chunkSize, maxLinks)
      if (!got.equals(want)) throw new Error(`builder gave ${got} for ${size} bytes / ${chunkSize} / ${maxLinks}, importer ${want}`)
      const b3 = await buildUnixfsFile(data, blake3Hasher, (c, b) => helia.blockstore.put(c, b), chunkSize, maxLinks)
      const back = []
      for await (const chunk of fs.cat(b3, { offline: true })) back.push(chunk)
      const joined = Buffer.concat(back)
      if (!joined.equals(Buffer.from(data))) throw new Error(`cat of blake3 file ${b3} differs (${size} bytes)`)
      cases.push({ bytes: size, chunk_size: chunkSize, max_links: maxLinks, sha256_cid: want.toString(), blake3_cid: b3.toString() })
    }
  } finally {
    await helia.stop()
  }
  emit({ event: 'selftest', ok: true, cases })
}

// ---------------------------------------------------------------- main

function parsePositiveInt (s, name) {
  const n = Number(s)
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`${name} must be a positive integer, not ${s}`)
  return n
}

function hardTimeout (ms, what) {
  // not unref'd: this bounds the whole process, whatever is still pending
  setTimeout(() => die(new Error(`${what}: hard timeout after ${ms} ms`)), ms)
}

async function main () {
  const [cmd, ...rest] = process.argv.slice(2)
  switch (cmd) {
    case 'fetch': await cmdFetch(rest); break
    case 'serve': await cmdServe(rest); break
    case 'selftest': await cmdSelftest(); break
    default: throw new UsageError(cmd == null ? 'no subcommand' : `unknown subcommand ${cmd}`)
  }
  process.exit(0)
}

process.on('unhandledRejection', die)
process.on('uncaughtException', die)
main().catch(die)
