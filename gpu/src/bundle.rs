//! [`SceneBundle`]: a scene and every file it references, as one canonical byte string.

use std::collections::BTreeMap;
use std::path::Path;

use crate::container::{normalize_relative, resolve_uri, split_glb, truncate, UriTarget};
use crate::error::SceneError;

/// Largest accepted bundle (and sum of scene files), in bytes.
pub const MAX_BUNDLE_BYTES: u64 = 256 * 1024 * 1024;
/// Largest number of files in a bundle.
pub const MAX_BUNDLE_FILES: usize = 4096;
const BUNDLE_VERSION: u8 = 1;

/// A scene file plus every external file it references, keyed by relative path.
///
/// `main` is the key of the `.gltf`/`.glb` file; other keys are the paths its buffer and
/// image URIs name, relative to it (normalized, `/`-separated). `data:` URIs stay inside
/// the scene file. The content id of a scene is the blake3 hash of [`SceneBundle::to_bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SceneBundle {
    /// Key of the scene file in `files`.
    pub main: String,
    /// Every file of the scene, by normalized relative path.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl SceneBundle {
    /// Reads a `.gltf` or `.glb` file and every file its buffers and images reference.
    pub fn from_path(path: &Path) -> Result<SceneBundle, SceneError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let display = path.display().to_string();
        if !matches!(ext.as_deref(), Some("gltf" | "glb")) {
            return Err(SceneError::UnsupportedFormat { path: display });
        }
        let main = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| SceneError::UnsupportedFormat {
                path: display.clone(),
            })?
            .to_owned();
        normalize_relative(&main).map_err(|reason| SceneError::UnsafeUri {
            uri: main.clone(),
            reason,
        })?;
        let dir = path.parent().unwrap_or(Path::new(""));
        let mut total = 0u64;
        let main_bytes = read_limited(path, &mut total)?;
        let mut files = BTreeMap::new();
        for key in referenced_files(&main, &main_bytes)? {
            if key == main || files.contains_key(&key) {
                continue;
            }
            let file_path = key.split('/').fold(dir.to_path_buf(), |p, c| p.join(c));
            if !file_path.is_file() {
                return Err(SceneError::MissingFile {
                    path: file_path.display().to_string(),
                });
            }
            let bytes = read_limited(&file_path, &mut total)?;
            files.insert(key, bytes);
            if files.len() >= MAX_BUNDLE_FILES {
                return Err(too_many_files(files.len() + 1));
            }
        }
        files.insert(main.clone(), main_bytes);
        Ok(SceneBundle { main, files })
    }

    /// Canonical, deterministic encoding: CBOR `[1, main, {path: bytes}]` with keys in
    /// sorted order and definite lengths.
    pub fn to_bytes(&self) -> Vec<u8> {
        let files: BTreeMap<&str, &serde_bytes::Bytes> = self
            .files
            .iter()
            .map(|(k, v)| (k.as_str(), serde_bytes::Bytes::new(v)))
            .collect();
        let mut out = Vec::new();
        // Writing into a Vec cannot fail, and every value here is serializable.
        if let Err(e) = ciborium::into_writer(&(BUNDLE_VERSION, &self.main, files), &mut out) {
            tracing::error!("encoding a scene bundle failed: {e}");
        }
        out
    }

    /// Strict inverse of [`SceneBundle::to_bytes`]: rejects trailing bytes, non-canonical
    /// encodings, unsafe paths and bundles over [`MAX_BUNDLE_BYTES`].
    pub fn from_bytes(bytes: &[u8]) -> Result<SceneBundle, SceneError> {
        if bytes.len() as u64 > MAX_BUNDLE_BYTES {
            return Err(SceneError::TooLarge {
                what: "scene bundle bytes",
                actual: bytes.len() as u64,
                limit: MAX_BUNDLE_BYTES,
            });
        }
        let bad = |m: String| SceneError::Bundle(m);
        let mut rest = bytes;
        let (version, main, files): (u8, String, BTreeMap<String, serde_bytes::ByteBuf>) =
            ciborium::from_reader(&mut rest).map_err(|e| bad(format!("not a bundle: {e}")))?;
        if !rest.is_empty() {
            return Err(bad(format!(
                "{} trailing bytes after the bundle",
                rest.len()
            )));
        }
        if version != BUNDLE_VERSION {
            return Err(bad(format!("unsupported bundle version {version}")));
        }
        if files.len() > MAX_BUNDLE_FILES {
            return Err(too_many_files(files.len()));
        }
        for key in files.keys() {
            match normalize_relative(key) {
                Ok(n) if &n == key => {}
                Ok(_) => return Err(bad(format!("path {:?} is not normalized", truncate(key)))),
                Err(reason) => {
                    return Err(SceneError::UnsafeUri {
                        uri: truncate(key),
                        reason,
                    })
                }
            }
        }
        let lower = main.to_ascii_lowercase();
        if !(lower.ends_with(".gltf") || lower.ends_with(".glb")) {
            // Escaped: the name comes from the bundle, and an error is one line.
            return Err(SceneError::UnsupportedFormat {
                path: truncate(&main).escape_debug().to_string(),
            });
        }
        if !files.contains_key(&main) {
            return Err(bad(format!(
                "main file {:?} is not in the bundle",
                truncate(&main)
            )));
        }
        let bundle = SceneBundle {
            main,
            files: files.into_iter().map(|(k, v)| (k, v.into_vec())).collect(),
        };
        if bundle.to_bytes() != bytes {
            return Err(bad("non-canonical encoding".to_owned()));
        }
        Ok(bundle)
    }
}

fn too_many_files(actual: usize) -> SceneError {
    SceneError::TooLarge {
        what: "number of files",
        actual: actual as u64,
        limit: MAX_BUNDLE_FILES as u64,
    }
}

fn read_limited(path: &Path, total: &mut u64) -> Result<Vec<u8>, SceneError> {
    let io = |reason| SceneError::Io {
        path: path.to_path_buf(),
        reason,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    *total = total.saturating_add(len);
    if *total > MAX_BUNDLE_BYTES {
        return Err(SceneError::TooLarge {
            what: "scene size in bytes",
            actual: *total,
            limit: MAX_BUNDLE_BYTES,
        });
    }
    std::fs::read(path).map_err(io)
}

/// Parses the glTF JSON of a scene file (`name` is used in messages).
pub(crate) fn parse_json(name: &str, bytes: &[u8]) -> Result<gltf::json::Root, SceneError> {
    let json = if crate::container::is_glb(bytes) {
        split_glb(name, bytes)?.json
    } else {
        bytes
    };
    gltf::json::Root::from_slice(json)
        .map_err(|e| SceneError::Gltf(format!("{name}: invalid glTF: {e}")))
}

/// The bundle keys of every external file the scene's buffers and images reference.
fn referenced_files(name: &str, bytes: &[u8]) -> Result<Vec<String>, SceneError> {
    let root = parse_json(name, bytes)?;
    let uris = root
        .buffers
        .iter()
        .filter_map(|b| b.uri.as_deref())
        .chain(root.images.iter().filter_map(|i| i.uri.as_deref()));
    let mut out = Vec::new();
    for uri in uris {
        if uri.starts_with("data:") {
            continue;
        }
        if let UriTarget::File(key) = resolve_uri(uri)? {
            out.push(key);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SceneBundle {
        let mut files = BTreeMap::new();
        files.insert("a.gltf".to_owned(), b"{}".to_vec());
        files.insert("tex/b.png".to_owned(), vec![1, 2, 3]);
        SceneBundle {
            main: "a.gltf".into(),
            files,
        }
    }

    #[test]
    fn round_trip_is_exact_and_strict() {
        let b = sample();
        let bytes = b.to_bytes();
        assert_eq!(SceneBundle::from_bytes(&bytes).ok(), Some(b.clone()));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            SceneBundle::from_bytes(&longer),
            Err(SceneError::Bundle(_))
        ));
        assert!(SceneBundle::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn unsafe_keys_are_rejected() {
        let mut b = sample();
        b.files.insert("../x".into(), vec![]);
        assert!(matches!(
            SceneBundle::from_bytes(&b.to_bytes()),
            Err(SceneError::UnsafeUri { .. })
        ));
        let mut b = sample();
        b.main = "missing.gltf".into();
        assert!(matches!(
            SceneBundle::from_bytes(&b.to_bytes()),
            Err(SceneError::Bundle(_))
        ));
    }
}
