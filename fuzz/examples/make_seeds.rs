//! Writes the seed corpus of the file-based fuzz targets into `fuzz/seeds/` from real
//! inputs: the example scenes, the shared glTF models, a node home's files, the RPC calls
//! of docs/rpc.md. The network targets' seeds are recorded from a real local network
//! (`scripts/fuzz.sh seeds` does both).
//!
//! Usage: `cargo run -p pictor-fuzz --example make_seeds -- <repository root>`

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let seeds = root.join("fuzz/seeds");
    let mut scenes: Vec<PathBuf> = Vec::new();
    for dir in [
        root.join("examples/scenes"),
        root.join("../shared/assets/gltf"),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!(
                "make_seeds: {} is missing; its scenes are left out",
                dir.display()
            );
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if matches!(ext(&p).as_str(), "gltf" | "glb") {
                scenes.push(p);
            }
        }
    }
    scenes.sort();
    let mut written = BTreeMap::<&str, usize>::new();
    let mut put = |target: &'static str, bytes: &[u8]| -> std::io::Result<()> {
        let dir = seeds.join(target);
        std::fs::create_dir_all(&dir)?;
        let name = blake3_hex(bytes);
        std::fs::write(dir.join(name), bytes)?;
        *written.entry(target).or_default() += 1;
        Ok(())
    };

    let mut pngs = Vec::new();
    for scene in &scenes {
        let bytes = std::fs::read(scene)?;
        put("scene_gltf", &bytes)?;
        put("upload", &bytes[..bytes.len().min(64 * 1024)])?;
        for chunk in [256, 4096] {
            put("unixfs", &pictor_ipfs::fuzzing::unixfs_seed(&bytes, chunk)?)?;
        }
        pngs.extend(data_uri_images(&bytes));
        match pictor_gpu::SceneBundle::from_path(scene) {
            Ok(bundle) => {
                put("scene_bundle", &bundle.to_bytes())?;
                for (name, file) in &bundle.files {
                    if name.ends_with(".png") || name.ends_with(".jpg") || name.ends_with(".jpeg") {
                        pngs.push(file.clone());
                    }
                }
            }
            Err(e) => eprintln!("make_seeds: {}: {e}", scene.display()),
        }
    }
    for png in &pngs {
        put("texture", png)?;
        let (w, h, rgb) = pictor_gpu::decode_png(png)?;
        // The same image as a JPEG, and a small PNG as Blender would write one.
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80).encode(
            &rgb,
            w,
            h,
            image::ExtendedColorType::Rgb8,
        )?;
        put("texture", &jpeg)?;
        let (sw, sh) = (w.min(32), h.min(24));
        let small: Vec<u8> = (0..sh)
            .flat_map(|y| {
                let start = (y * w * 3) as usize;
                rgb[start..start + (sw * 3) as usize].to_vec()
            })
            .collect();
        put("blender_png", &pictor_gpu::encode_png(sw, sh, &small)?)?;
    }
    put(
        "blender_png",
        &pictor_gpu::encode_png(2, 1, &[0, 0, 0, 255, 255, 255])?,
    )?;

    // A home made as `pictor init` makes it: its config and network spec.
    let home = tempdir()?;
    pictor_node::Home::init(&home, &pictor_node::home::InitNetwork::Devnet)?;
    put("home_config", &std::fs::read(home.join("config.toml"))?)?;
    put("network_spec", &std::fs::read(home.join("network.toml"))?)?;
    std::fs::remove_dir_all(&home)?;
    for doc in ["docs/network-spec.md", "docs/operations.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap_or_default();
        for block in toml_blocks(&text) {
            put("network_spec", block.as_bytes())?;
            put("home_config", block.as_bytes())?;
        }
    }

    // Every JSON-RPC call that docs/rpc.md shows.
    let rpc = std::fs::read_to_string(root.join("docs/rpc.md")).unwrap_or_default();
    for line in rpc.lines() {
        if let Some(start) = line.find(r#"{"jsonrpc""#) {
            let call = line[start..].trim_end_matches(['\'', '`']);
            if serde_json::from_str::<serde_json::Value>(call).is_ok() {
                put("rpc", call.as_bytes())?;
            }
        }
    }
    for (method, params) in [
        ("node_info", "[]"),
        ("job_list", r#"{"state":"running"}"#),
        (
            "job_status",
            r#"["0000000000000000000000000000000000000000000000000000000000000000"]"#,
        ),
        (
            "job_submit",
            r#"{"scene_cid":"bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy","frames":"1-2","width":64,"height":48}"#,
        ),
        ("job_cancel", r#"{"job":"00"}"#),
        ("job_frames", r#"["ab"]"#),
        ("rpc.discover", "[]"),
    ] {
        let call = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#);
        put("rpc", call.as_bytes())?;
    }
    for (target, n) in written {
        println!("{target:>14}  {n} seeds");
    }
    Ok(())
}

/// The images a glTF file carries as `data:` URIs.
fn data_uri_images(bytes: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Vec::new();
    };
    let images = json["images"].as_array().cloned().unwrap_or_default();
    images
        .iter()
        .filter_map(|image| image["uri"].as_str())
        .filter_map(|uri| uri.strip_prefix("data:image/png;base64,"))
        .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .collect()
}

fn ext(p: &Path) -> String {
    p.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn blake3_hex(bytes: &[u8]) -> String {
    pictor_protocol::ContentId::of(bytes).to_string()
}

fn tempdir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("pictor-seeds-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(dir)
}

/// The ```toml blocks of a Markdown text.
fn toml_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```toml") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}
