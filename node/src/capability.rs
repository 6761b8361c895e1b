//! A worker's capabilities: what it measured at start (devices, engines, benchmark score),
//! checked against the network's hardware requirements and gossiped as a signed record.

use std::str::FromStr;

use pictor_gpu::{
    benchmark, CapabilityView, DeviceClass, EngineInfo, HardwareRequirements, Inventory,
};
use pictor_protocol::{
    capability::{MAX_DEVICES, MAX_NAME_LEN},
    ksamples_from_msamples, CapabilityRecord, Device, DeviceKind, Engine, EngineVersion, PublicKey,
};

use crate::NodeError;

/// What a worker measured about itself at start.
#[derive(Debug, Clone)]
pub struct LocalCapability {
    /// Devices, engines and score, as the requirements check reads them.
    pub view: CapabilityView,
    devices: Vec<Device>,
    engines: Vec<EngineVersion>,
    benchmark_ksamples_per_s: u32,
    threads: u32,
    /// blake3 of this node's admission render (the node fills it in at start).
    render_digest: Option<[u8; 32]>,
    /// Its price, credits per benchmark-normalised render-second (the home's config).
    price: u64,
}

impl LocalCapability {
    /// Probes this machine: devices (NVML, else the CPU), engines (built-in; Blender if
    /// installed) and the benchmark score on `threads` threads. Takes about a second.
    pub fn probe(threads: usize) -> Result<LocalCapability, NodeError> {
        LocalCapability::probe_with(threads, true, true)
    }

    /// Probes this machine; with `benchmark` false the benchmark is not run and the record
    /// states no score (for a network that asks for none: a local network of one machine),
    /// with `blender` false only the built-in engine is looked for.
    pub fn probe_with(
        threads: usize,
        benchmark: bool,
        blender: bool,
    ) -> Result<LocalCapability, NodeError> {
        let program = pictor_gpu::Blender::program();
        // Blender's `--version` (about half a second, mostly waiting on one core) runs
        // beside the benchmark.
        let (inventory, engines, score) = std::thread::scope(|s| {
            let probes = s.spawn(|| {
                let engines = if blender {
                    EngineInfo::probe_all(&program)
                } else {
                    vec![EngineInfo::builtin()]
                };
                (Inventory::probe(), engines)
            });
            let score = if benchmark {
                benchmark::run(threads).map(Some)
            } else {
                Ok(None)
            };
            let (inventory, engines) = probes
                .join()
                .map_err(|_| NodeError::Config("the device probe panicked".into()))?;
            Ok::<_, NodeError>((inventory, engines, score))
        })?;
        let score = score.map_err(|e| NodeError::Config(format!("benchmark: {e}")))?;
        let msamples_per_s = score.as_ref().map(|s| s.msamples_per_s);
        let view = CapabilityView::local(&inventory, &engines, msamples_per_s);
        let devices = inventory
            .devices()
            .into_iter()
            .take(MAX_DEVICES)
            .map(|d| Device {
                kind: match d.kind {
                    DeviceClass::Gpu => DeviceKind::Gpu,
                    _ => DeviceKind::Cpu,
                },
                name: truncate(&d.name, MAX_NAME_LEN),
                memory_bytes: d.memory_bytes,
                compute_capability: d.compute_capability,
            })
            .collect();
        let mut record_engines: Vec<EngineVersion> = Vec::new();
        for info in engines.iter().filter(|e| e.is_available()) {
            let version = info.version.clone().unwrap_or_default();
            let names: &[&str] = if info.engine == "blender" {
                &["blender", "blender-eevee"]
            } else {
                &[info.engine.as_str()]
            };
            for name in names {
                if let Ok(engine) = Engine::from_str(name) {
                    record_engines.push(EngineVersion {
                        engine,
                        version: version.clone(),
                    });
                }
            }
        }
        Ok(LocalCapability {
            view,
            devices,
            engines: record_engines,
            benchmark_ksamples_per_s: msamples_per_s.map_or(0, ksamples_from_msamples),
            threads: u32::try_from(score.map_or(threads, |s| s.threads)).unwrap_or(u32::MAX),
            render_digest: None,
            price: 0,
        })
    }

    /// Refuses a worker that does not meet `requirements`, in one line.
    pub fn check(&self, requirements: &HardwareRequirements) -> Result<(), NodeError> {
        requirements
            .check(&self.view)
            .map_err(|unmet| NodeError::Requirements(unmet.to_string()))
    }

    /// The record a worker with key `node` signs and gossips.
    pub fn record(&self, node: PublicKey, now_ms: u64) -> CapabilityRecord {
        CapabilityRecord {
            node,
            devices: self.devices.clone(),
            engines: self.engines.clone(),
            benchmark_ksamples_per_s: self.benchmark_ksamples_per_s,
            threads: self.threads,
            issued_ms: now_ms,
            render_digest: self.render_digest,
            price: self.price,
        }
    }

    /// The same capability at `price` credits per benchmark-normalised render-second.
    pub fn with_price(mut self, price: u64) -> LocalCapability {
        self.price = price;
        self
    }

    /// The same capability stating `digest` as its admission render's.
    pub fn with_render_digest(mut self, digest: Option<[u8; 32]>) -> LocalCapability {
        self.render_digest = digest;
        self
    }
}

fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}
