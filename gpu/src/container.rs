//! The glTF container formats: GLB chunk splitting and URI resolution.
//!
//! Written by hand (rather than through the `gltf` crate's importer) so that every length
//! read from untrusted bytes is checked, and so that URIs are resolved only inside a
//! [`SceneBundle`](crate::SceneBundle), never against the file system.

use base64::Engine as _;

use crate::error::SceneError;

const GLB_MAGIC: &[u8; 4] = b"glTF";
const CHUNK_JSON: u32 = 0x4E4F_534A;
const CHUNK_BIN: u32 = 0x004E_4942;

/// The two chunks of a `.glb` file.
#[derive(Debug)]
pub(crate) struct Glb<'a> {
    pub(crate) json: &'a [u8],
    pub(crate) bin: Option<&'a [u8]>,
}

/// Whether the bytes start like a binary glTF file.
pub(crate) fn is_glb(bytes: &[u8]) -> bool {
    bytes.starts_with(GLB_MAGIC)
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Splits a GLB file into its JSON and (optional) BIN chunks.
pub(crate) fn split_glb<'a>(name: &str, bytes: &'a [u8]) -> Result<Glb<'a>, SceneError> {
    let bad = |what: &str| SceneError::Gltf(format!("{name}: invalid glb: {what}"));
    if !is_glb(bytes) {
        return Err(bad("missing 'glTF' magic"));
    }
    let version = read_u32(bytes, 4).ok_or_else(|| bad("truncated header"))?;
    if version != 2 {
        return Err(bad(&format!("unsupported version {version} (expected 2)")));
    }
    let total = read_u32(bytes, 8).ok_or_else(|| bad("truncated header"))? as usize;
    if total > bytes.len() || total < 12 {
        return Err(bad(&format!(
            "header says {total} bytes but the file has {}",
            bytes.len()
        )));
    }
    let bytes = &bytes[..total];
    let mut at = 12usize;
    let mut chunk = |expect: u32| -> Result<Option<&'a [u8]>, SceneError> {
        if at >= bytes.len() {
            return Ok(None);
        }
        let len = read_u32(bytes, at).ok_or_else(|| bad("truncated chunk header"))? as usize;
        let ty = read_u32(bytes, at + 4).ok_or_else(|| bad("truncated chunk header"))?;
        let start = at + 8;
        let end = start
            .checked_add(len)
            .ok_or_else(|| bad("chunk length overflows"))?;
        let data = bytes
            .get(start..end)
            .ok_or_else(|| bad("truncated chunk"))?;
        if ty != expect {
            return Err(bad(&format!("unexpected chunk type {ty:#010x}")));
        }
        at = end;
        Ok(Some(data))
    };
    let json = chunk(CHUNK_JSON)?.ok_or_else(|| bad("missing JSON chunk"))?;
    let bin = chunk(CHUNK_BIN)?;
    Ok(Glb { json, bin })
}

/// Where a URI in the scene points.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum UriTarget {
    /// Inline `data:` bytes.
    Data(Vec<u8>),
    /// A file of the bundle: its normalized relative path (`/`-separated).
    File(String),
}

/// Resolves a glTF URI. Files are relative to the main scene file, which sits at the root
/// of the bundle; absolute paths, `..` components and non-file schemes are rejected.
pub(crate) fn resolve_uri(uri: &str) -> Result<UriTarget, SceneError> {
    let unsafe_uri = |reason| SceneError::UnsafeUri {
        uri: truncate(uri),
        reason,
    };
    if let Some(rest) = uri.strip_prefix("data:") {
        let (meta, payload) = rest
            .split_once(',')
            .ok_or(unsafe_uri("data uri without a ',' separator"))?;
        if !meta.ends_with(";base64") {
            return Err(unsafe_uri("only base64 data uris are supported"));
        }
        let data = base64::engine::general_purpose::STANDARD
            .decode(payload.trim_end())
            .map_err(|_| unsafe_uri("data uri is not valid base64"))?;
        return Ok(UriTarget::Data(data));
    }
    let path = percent_decode(uri).ok_or(unsafe_uri("invalid percent-encoding"))?;
    Ok(UriTarget::File(
        normalize_relative(&path).map_err(unsafe_uri)?,
    ))
}

/// Checks that `path` is a plain relative path below the bundle root and normalizes it.
pub(crate) fn normalize_relative(path: &str) -> Result<String, &'static str> {
    if path.is_empty() {
        return Err("empty path");
    }
    if path.contains(':') {
        return Err("only relative file paths are allowed (no schemes or drive letters)");
    }
    if path.contains('\\') {
        return Err("backslashes are not allowed in paths");
    }
    if path.starts_with('/') {
        return Err("absolute paths are not allowed");
    }
    if path.chars().any(char::is_control) {
        return Err("control character in path");
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("'..' components are not allowed"),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err("path names no file");
    }
    Ok(parts.join("/"))
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Keeps error messages one short line even for a hostile multi-megabyte URI.
pub(crate) fn truncate(s: &str) -> String {
    const MAX: usize = 120;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_confined() {
        assert_eq!(
            resolve_uri("a/./b%20c.bin").ok(),
            Some(UriTarget::File("a/b c.bin".into()))
        );
        for bad in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "file:///etc/passwd",
            "http://x/y",
            "C:\\x",
            "",
        ] {
            assert!(
                matches!(resolve_uri(bad), Err(SceneError::UnsafeUri { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            resolve_uri("data:application/octet-stream;base64,AAEC").ok(),
            Some(UriTarget::Data(vec![0, 1, 2]))
        );
    }

    #[test]
    fn truncated_glb_is_an_error() {
        let mut glb = b"glTF\x02\0\0\0\x40\0\0\0".to_vec();
        assert!(split_glb("x.glb", &glb).is_err());
        glb.extend_from_slice(&[0xff; 52]);
        assert!(split_glb("x.glb", &glb).is_err());
        assert!(split_glb("x.glb", b"glTF").is_err());
    }
}
