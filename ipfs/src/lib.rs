//! IPFS interop: Bitswap 1.2, UnixFS files, the trustless gateway.
