//! Device inventory and telemetry: NVIDIA GPUs through NVML (loaded at run time), the CPU
//! and its memory, and the render engines this machine can run.
//!
//! [`Inventory::probe`] never fails. A machine without the NVIDIA driver library gets a
//! CPU-only inventory and a plain-words reason why there is no GPU telemetry.

use std::ffi::OsStr;
use std::io::Read;

use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::{cuda_driver_version_major, cuda_driver_version_minor, Nvml};
use serde::{Deserialize, Serialize};

use crate::blender::BlenderError;

/// The file name of the NVIDIA management library that NVML loads.
#[cfg(windows)]
pub const NVML_LIBRARY: &str = "nvml.dll";
/// The file name of the NVIDIA management library that NVML loads.
#[cfg(not(windows))]
pub const NVML_LIBRARY: &str = "libnvidia-ml.so.1";

/// Longest `/proc` file read, in bytes (a many-core `/proc/cpuinfo` is well under this).
const MAX_PROC_FILE: u64 = 4 * 1024 * 1024;

/// What kind of device renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceClass {
    /// A CPU (the built-in engine, or Blender's CPU device).
    Cpu,
    /// A GPU.
    Gpu,
}

impl std::fmt::Display for DeviceClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeviceClass::Cpu => "cpu",
            DeviceClass::Gpu => "gpu",
        })
    }
}

/// A compact description of one device, as a capability record carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// CPU or GPU.
    pub kind: DeviceClass,
    /// The model name.
    pub name: String,
    /// Its memory (system memory for the CPU), in bytes; 0 when unknown.
    pub memory_bytes: u64,
    /// CUDA compute capability (`"8.9"`) of an NVIDIA GPU.
    pub compute_capability: Option<String>,
}

/// One NVIDIA GPU as NVML reports it. Every reading is optional: NVML answers
/// `NotSupported` for some of them on some boards.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuInfo {
    /// NVML's index of the device.
    pub index: u32,
    /// The product name (`"NVIDIA GeForce RTX 4090"`).
    pub name: String,
    /// The device's UUID (`"GPU-…"`).
    pub uuid: Option<String>,
    /// Installed memory, in bytes.
    pub memory_total_bytes: Option<u64>,
    /// Unallocated memory, in bytes.
    pub memory_free_bytes: Option<u64>,
    /// CUDA compute capability, `major.minor`.
    pub compute_capability: Option<String>,
    /// Percent of the last sample period a kernel was running.
    pub utilization_gpu_percent: Option<u32>,
    /// Percent of the last sample period device memory was read or written.
    pub utilization_memory_percent: Option<u32>,
    /// GPU die temperature, °C.
    pub temperature_c: Option<u32>,
    /// Current board power draw, W.
    pub power_draw_w: Option<f64>,
    /// Enforced power limit, W.
    pub power_limit_w: Option<f64>,
}

/// The CPU and system memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CpuInfo {
    /// The model name from `/proc/cpuinfo` (or the architecture when it cannot be read).
    pub model: String,
    /// Logical cores this process may use.
    pub logical_cores: usize,
    /// Total system memory, in bytes, from `/proc/meminfo`.
    pub memory_total_bytes: Option<u64>,
    /// Operating system (`"linux"`).
    pub os: String,
    /// CPU architecture (`"x86_64"`).
    pub arch: String,
}

/// Everything this machine offers for rendering.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inventory {
    /// The CPU.
    pub cpu: CpuInfo,
    /// NVIDIA GPUs (empty without NVML).
    pub gpus: Vec<GpuInfo>,
    /// The NVIDIA driver version (`"550.54.14"`).
    pub driver_version: Option<String>,
    /// The CUDA version the driver supports (`"12.4"`).
    pub cuda_driver_version: Option<String>,
    /// Why there is no GPU telemetry, in plain words; `None` when GPUs were listed.
    pub no_gpu_reason: Option<String>,
}

impl Inventory {
    /// Probes the machine. Never fails: without NVML (no driver, no library, no
    /// permission) the inventory lists only the CPU and says why.
    pub fn probe() -> Inventory {
        let cpu = CpuInfo::probe();
        match Nvml::init() {
            Ok(nvml) => Inventory::from_nvml(cpu, &nvml),
            Err(e) => Inventory {
                cpu,
                gpus: Vec::new(),
                driver_version: None,
                cuda_driver_version: None,
                no_gpu_reason: Some(nvml_init_reason(&e)),
            },
        }
    }

    fn from_nvml(cpu: CpuInfo, nvml: &Nvml) -> Inventory {
        let driver_version = reading(nvml.sys_driver_version(), "driver version");
        let cuda_driver_version = reading(nvml.sys_cuda_driver_version(), "CUDA driver version")
            .map(|v| {
                format!(
                    "{}.{}",
                    cuda_driver_version_major(v),
                    cuda_driver_version_minor(v)
                )
            });
        let (gpus, no_gpu_reason) = match nvml.device_count() {
            Ok(0) => (
                Vec::new(),
                Some("the NVIDIA driver is loaded but reports no GPU".to_owned()),
            ),
            Ok(n) => {
                let gpus: Vec<GpuInfo> = (0..n).filter_map(|i| gpu_info(nvml, i)).collect();
                let reason = gpus.is_empty().then(|| {
                    format!("the NVIDIA driver reports {n} GPU(s) but none could be opened")
                });
                (gpus, reason)
            }
            Err(e) => (
                Vec::new(),
                Some(format!("the NVIDIA driver cannot count its GPUs ({e})")),
            ),
        };
        Inventory {
            cpu,
            gpus,
            driver_version,
            cuda_driver_version,
            no_gpu_reason,
        }
    }

    /// The devices in compact form: every GPU, then the CPU.
    pub fn devices(&self) -> Vec<DeviceInfo> {
        let mut devices: Vec<DeviceInfo> = self
            .gpus
            .iter()
            .map(|g| DeviceInfo {
                kind: DeviceClass::Gpu,
                name: g.name.clone(),
                memory_bytes: g.memory_total_bytes.unwrap_or(0),
                compute_capability: g.compute_capability.clone(),
            })
            .collect();
        devices.push(DeviceInfo {
            kind: DeviceClass::Cpu,
            name: self.cpu.model.clone(),
            memory_bytes: self.cpu.memory_total_bytes.unwrap_or(0),
            compute_capability: None,
        });
        devices
    }
}

/// A reading that NVML may not support: `None` on any error, logged unless it is
/// `NotSupported` (which is normal on many boards).
fn reading<T>(r: Result<T, NvmlError>, what: &str) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(NvmlError::NotSupported) => None,
        Err(e) => {
            tracing::debug!(error = %e, "NVML: cannot read {what}");
            None
        }
    }
}

fn milliwatts(mw: u32) -> f64 {
    f64::from(mw) / 1000.0
}

fn gpu_info(nvml: &Nvml, index: u32) -> Option<GpuInfo> {
    let device = match nvml.device_by_index(index) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(index, error = %e, "NVML: cannot open GPU");
            return None;
        }
    };
    let memory = reading(device.memory_info(), "memory");
    let utilization = reading(device.utilization_rates(), "utilization");
    Some(GpuInfo {
        index,
        name: reading(device.name(), "name").unwrap_or_else(|| format!("NVIDIA GPU {index}")),
        uuid: reading(device.uuid(), "uuid"),
        memory_total_bytes: memory.as_ref().map(|m| m.total),
        memory_free_bytes: memory.as_ref().map(|m| m.free),
        compute_capability: reading(device.cuda_compute_capability(), "compute capability")
            .map(|c| format!("{}.{}", c.major, c.minor)),
        utilization_gpu_percent: utilization.as_ref().map(|u| u.gpu),
        utilization_memory_percent: utilization.as_ref().map(|u| u.memory),
        temperature_c: reading(device.temperature(TemperatureSensor::Gpu), "temperature"),
        power_draw_w: reading(device.power_usage(), "power draw").map(milliwatts),
        power_limit_w: reading(device.enforced_power_limit(), "power limit").map(milliwatts),
    })
}

/// Why NVML did not start, in words a worker's operator can act on.
fn nvml_init_reason(e: &NvmlError) -> String {
    match e {
        NvmlError::LibloadingError(_) | NvmlError::LibraryNotFound => {
            format!("NVIDIA driver library ({NVML_LIBRARY}) not found")
        }
        NvmlError::DriverNotLoaded => {
            "the NVIDIA driver library is installed but the driver is not loaded".to_owned()
        }
        NvmlError::NoPermission => "no permission to talk to the NVIDIA driver".to_owned(),
        NvmlError::FailedToLoadSymbol(s) => {
            format!("the NVIDIA driver library ({NVML_LIBRARY}) is too old: {s}")
        }
        other => format!("NVML did not start: {other}"),
    }
}

impl CpuInfo {
    /// Reads the CPU model, cores and memory of this machine.
    pub fn probe() -> CpuInfo {
        let arch = std::env::consts::ARCH.to_owned();
        let model = read_proc("/proc/cpuinfo")
            .and_then(|s| parse_cpu_model(&s))
            .unwrap_or_else(|| format!("{arch} CPU"));
        CpuInfo {
            model,
            logical_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_total_bytes: read_proc("/proc/meminfo").and_then(|s| parse_mem_total(&s)),
            os: std::env::consts::OS.to_owned(),
            arch,
        }
    }
}

fn read_proc(path: &str) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    file.take(MAX_PROC_FILE).read_to_string(&mut text).ok()?;
    Some(text)
}

/// The first CPU model name in `/proc/cpuinfo` text (`model name` on x86, `Model`,
/// `Hardware` or `cpu` elsewhere).
fn parse_cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "Model", "Hardware", "cpu model", "cpu"]
        .iter()
        .find_map(|key| {
            cpuinfo.lines().find_map(|line| {
                let (k, v) = line.split_once(':')?;
                let v = v.trim();
                (k.trim() == *key && !v.is_empty()).then(|| v.to_owned())
            })
        })
}

/// `MemTotal` from `/proc/meminfo` text, in bytes.
fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let rest = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
    let mut words = rest.split_whitespace();
    let n: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => n.checked_mul(1024),
        Some(_) => None,
    }
}

/// A render engine this machine can run, and its version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineInfo {
    /// The engine's name as jobs and requirements name it (`"builtin"`, `"blender"`).
    pub engine: String,
    /// Its version; `None` when it is not available.
    pub version: Option<String>,
    /// Why it is not available, when it is not.
    pub unavailable: Option<String>,
}

impl EngineInfo {
    /// The built-in path tracer: always available, versioned with this crate.
    pub fn builtin() -> EngineInfo {
        EngineInfo {
            engine: "builtin".to_owned(),
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            unavailable: None,
        }
    }

    /// Blender, asked for its version with `<program> --version` (20 s at most).
    pub fn blender(program: &OsStr) -> EngineInfo {
        let found = crate::blender::Blender::find(program).and_then(|b| b.version());
        let (version, unavailable) = match found {
            Ok(v) => (Some(v.to_string()), None),
            Err(BlenderError::NotFound | BlenderError::NotExecutable { .. }) => {
                (None, Some("not installed".to_owned()))
            }
            Err(e) => (None, Some(e.to_string())),
        };
        EngineInfo {
            engine: "blender".to_owned(),
            version,
            unavailable,
        }
    }

    /// Whether the engine can render here.
    pub fn is_available(&self) -> bool {
        self.version.is_some()
    }

    /// The built-in engine and Blender (run as `blender_program`).
    pub fn probe_all(blender_program: &OsStr) -> Vec<EngineInfo> {
        vec![EngineInfo::builtin(), EngineInfo::blender(blender_program)]
    }
}

/// Bytes in binary units with one decimal (`"23.5 GiB"`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_without_nvidia_reports_cpu_and_reason() {
        let inv = Inventory::probe();
        assert!(!inv.cpu.model.is_empty());
        assert!(inv.cpu.logical_cores >= 1);
        assert!(!inv.cpu.os.is_empty() && !inv.cpu.arch.is_empty());
        // Either NVML listed GPUs, or it says why not.
        assert_eq!(inv.gpus.is_empty(), inv.no_gpu_reason.is_some());
        let devices = inv.devices();
        assert_eq!(devices.len(), inv.gpus.len() + 1);
        assert_eq!(devices.last().map(|d| d.kind), Some(DeviceClass::Cpu));
        let json = serde_json::to_value(&inv).unwrap();
        assert!(json["cpu"]["model"].is_string());
    }

    #[test]
    fn missing_library_is_said_in_plain_words() {
        let reason = nvml_init_reason(&NvmlError::LibraryNotFound);
        assert_eq!(
            reason,
            format!("NVIDIA driver library ({NVML_LIBRARY}) not found")
        );
        assert!(nvml_init_reason(&NvmlError::DriverNotLoaded).contains("not loaded"));
    }

    #[test]
    fn cpuinfo_and_meminfo_parse() {
        let x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel\t\t: 1\n\
                   model name\t: AMD EPYC 7B13\nflags\t\t: fpu\n";
        assert_eq!(parse_cpu_model(x86).as_deref(), Some("AMD EPYC 7B13"));
        let arm = "processor\t: 0\nBogoMIPS\t: 48.00\nModel\t\t: Raspberry Pi 4\n";
        assert_eq!(parse_cpu_model(arm).as_deref(), Some("Raspberry Pi 4"));
        assert_eq!(parse_cpu_model("processor: 0\nmodel name\t:\n"), None);
        assert_eq!(parse_cpu_model(""), None);
        let mem = "MemTotal:       24684084 kB\nMemFree:        22630088 kB\n";
        assert_eq!(parse_mem_total(mem), Some(24_684_084 * 1024));
        assert_eq!(parse_mem_total("MemTotal: lots kB\n"), None);
        assert_eq!(parse_mem_total("MemTotal: 99999999999999999999 kB\n"), None);
        assert_eq!(parse_mem_total("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn missing_blender_is_not_installed() {
        let e = EngineInfo::blender(OsStr::new("/nonexistent/pictor-test/blender"));
        assert!(!e.is_available());
        assert_eq!(e.unavailable.as_deref(), Some("not installed"));
        assert!(EngineInfo::builtin().is_available());
    }

    #[test]
    fn bytes_read_as_people_write_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(24 * 1024 * 1024 * 1024), "24.0 GiB");
        assert_eq!(human_bytes(u64::MAX), "16777216.0 TiB");
    }
}
