//! Hardware requirements a network sets for its workers, and the check a worker runs
//! against itself before it joins (and a checker runs against a worker's capability
//! record before it assigns work).
//!
//! Every field is optional; its default means "no requirement". In a network spec:
//!
//! ```toml
//! [requirements]
//! min_memory_bytes = 8589934592
//! engines = ["blender"]
//! min_benchmark_score = 1.5
//! gpu_required = false
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::device::{human_bytes, DeviceClass, DeviceInfo, EngineInfo, Inventory};

/// What a network asks of a worker's hardware.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HardwareRequirements {
    /// Least memory of one rendering device, in bytes: of a GPU when `gpu_required`, else
    /// of any device (system memory for the CPU).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_memory_bytes: Option<u64>,
    /// Engines the worker must have (`"builtin"`, `"blender"`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub engines: Vec<String>,
    /// Least start-up benchmark score, in Msamples/s (see [`crate::benchmark`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_benchmark_score: Option<f64>,
    /// Whether the worker must have an NVIDIA GPU (seen through NVML).
    pub gpu_required: bool,
}

/// What is checked: a worker's devices, engines and benchmark score, from its own
/// inventory or from its signed capability record.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CapabilityView {
    /// Its devices.
    pub devices: Vec<DeviceInfo>,
    /// Names of the engines it can run (`"builtin"`, `"blender"`).
    pub engines: Vec<String>,
    /// Its benchmark score in Msamples/s, if it measured one.
    pub benchmark_msamples_per_s: Option<f64>,
}

impl CapabilityView {
    /// This machine as probed: its devices, the engines available, its score.
    pub fn local(
        inventory: &Inventory,
        engines: &[EngineInfo],
        benchmark_msamples_per_s: Option<f64>,
    ) -> CapabilityView {
        CapabilityView {
            devices: inventory.devices(),
            engines: engines
                .iter()
                .filter(|e| e.is_available())
                .map(|e| e.engine.clone())
                .collect(),
            benchmark_msamples_per_s,
        }
    }
}

/// A requirements section that cannot be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RequirementsError {
    /// `min_benchmark_score` is negative, infinite or NaN.
    #[error("min_benchmark_score must be a finite number >= 0, got {0}")]
    BadScore(f64),
    /// An engine name is empty.
    #[error("engines must not contain an empty name")]
    EmptyEngine,
}

/// One requirement a worker does not meet.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Shortfall {
    /// No GPU where one is required.
    NoGpu,
    /// Not enough memory on any qualifying device.
    Memory {
        /// The most memory of one qualifying device (None: no qualifying device).
        have: Option<u64>,
        /// The minimum.
        need: u64,
        /// Whether only GPUs qualify.
        gpu: bool,
    },
    /// A required engine is missing.
    MissingEngine(String),
    /// The benchmark score is below the minimum.
    SlowBenchmark {
        /// The worker's score, Msamples/s.
        have: f64,
        /// The minimum.
        need: f64,
    },
    /// No benchmark score where a minimum is set.
    NoBenchmark {
        /// The minimum.
        need: f64,
    },
}

/// `value` rounded down to two decimals, so a score just under the bar never prints as
/// equal to it.
fn floor2(value: f64) -> f64 {
    (value * 100.0).floor() / 100.0
}

impl fmt::Display for Shortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shortfall::NoGpu => f.write_str("no NVIDIA GPU, and the network requires one"),
            Shortfall::Memory { have, need, gpu } => {
                let what = if *gpu { "GPU memory" } else { "memory" };
                match have {
                    Some(h) => write!(
                        f,
                        "{what} {} is below the minimum {}",
                        human_bytes(*h),
                        human_bytes(*need)
                    ),
                    None => write!(f, "{what} unknown, the minimum is {}", human_bytes(*need)),
                }
            }
            Shortfall::MissingEngine(e) => write!(f, "engine {e} is not available"),
            Shortfall::SlowBenchmark { have, need } => write!(
                f,
                "benchmark score {:.2} Msamples/s is below the minimum {need}",
                floor2(*have)
            ),
            Shortfall::NoBenchmark { need } => write!(
                f,
                "no benchmark score, and the minimum is {need} Msamples/s"
            ),
        }
    }
}

/// Every requirement a worker does not meet; its Display is one line for the worker.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct Unmet {
    /// What is missing, in the order the requirements list it.
    pub shortfalls: Vec<Shortfall>,
}

impl fmt::Display for Unmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("this worker does not meet the network's requirements: ")?;
        for (i, s) in self.shortfalls.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

impl HardwareRequirements {
    /// Whether nothing is required.
    pub fn is_empty(&self) -> bool {
        self == &HardwareRequirements::default()
    }

    /// Checks that the section makes sense (a network spec loader calls this).
    pub fn validate(&self) -> Result<(), RequirementsError> {
        if let Some(s) = self.min_benchmark_score {
            if !s.is_finite() || s < 0.0 {
                return Err(RequirementsError::BadScore(s));
            }
        }
        if self.engines.iter().any(|e| e.trim().is_empty()) {
            return Err(RequirementsError::EmptyEngine);
        }
        Ok(())
    }

    /// Checks a worker against these requirements; lists every shortfall.
    pub fn check(&self, worker: &CapabilityView) -> Result<(), Unmet> {
        let mut shortfalls = Vec::new();
        let has_gpu = worker.devices.iter().any(|d| d.kind == DeviceClass::Gpu);
        if self.gpu_required && !has_gpu {
            shortfalls.push(Shortfall::NoGpu);
        }
        if let Some(need) = self.min_memory_bytes {
            let have = worker
                .devices
                .iter()
                .filter(|d| !self.gpu_required || d.kind == DeviceClass::Gpu)
                .map(|d| d.memory_bytes)
                .max();
            // Without a GPU where one is required, NoGpu already says it all.
            let gpu_missing = self.gpu_required && !has_gpu;
            if !gpu_missing && have.is_none_or(|h| h < need) {
                shortfalls.push(Shortfall::Memory {
                    have,
                    need,
                    gpu: self.gpu_required,
                });
            }
        }
        for engine in &self.engines {
            let wanted = engine.trim();
            let present = worker
                .engines
                .iter()
                .any(|e| e.trim().eq_ignore_ascii_case(wanted));
            if !present {
                shortfalls.push(Shortfall::MissingEngine(wanted.to_ascii_lowercase()));
            }
        }
        if let Some(need) = self.min_benchmark_score {
            match worker.benchmark_msamples_per_s {
                // A NaN score is not a score: too slow.
                Some(have) if have.is_nan() || have < need => {
                    shortfalls.push(Shortfall::SlowBenchmark { have, need })
                }
                Some(_) => {}
                None => shortfalls.push(Shortfall::NoBenchmark { need }),
            }
        }
        if shortfalls.is_empty() {
            Ok(())
        } else {
            Err(Unmet { shortfalls })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * 1024 * 1024;

    fn cpu_worker(score: Option<f64>) -> CapabilityView {
        CapabilityView {
            devices: vec![DeviceInfo {
                kind: DeviceClass::Cpu,
                name: "AMD EPYC".into(),
                memory_bytes: 24 * GIB,
                compute_capability: None,
            }],
            engines: vec!["builtin".into()],
            benchmark_msamples_per_s: score,
        }
    }

    #[test]
    fn no_requirements_admit_anyone() {
        let none = HardwareRequirements::default();
        assert!(none.is_empty());
        assert_eq!(none.check(&CapabilityView::default()), Ok(()));
        assert_eq!(none.check(&cpu_worker(None)), Ok(()));
    }

    #[test]
    fn met_requirements_pass() {
        let req = HardwareRequirements {
            min_memory_bytes: Some(16 * GIB),
            engines: vec!["Builtin".into()],
            min_benchmark_score: Some(1.5),
            gpu_required: false,
        };
        assert_eq!(req.check(&cpu_worker(Some(1.5))), Ok(()));
    }

    #[test]
    fn every_shortfall_is_on_one_line() {
        let req = HardwareRequirements {
            min_memory_bytes: Some(32 * GIB),
            engines: vec!["blender".into(), "builtin".into()],
            min_benchmark_score: Some(2.0),
            gpu_required: false,
        };
        let unmet = req.check(&cpu_worker(Some(0.8))).unwrap_err();
        let line = unmet.to_string();
        assert_eq!(
            line,
            "this worker does not meet the network's requirements: memory 24.0 GiB is below \
             the minimum 32.0 GiB; engine blender is not available; benchmark score 0.80 \
             Msamples/s is below the minimum 2"
        );
        assert!(!line.contains('\n'));
        assert_eq!(unmet.shortfalls.len(), 3);
    }

    #[test]
    fn gpu_requirement() {
        let req = HardwareRequirements {
            gpu_required: true,
            min_memory_bytes: Some(8 * GIB),
            ..Default::default()
        };
        let unmet = req.check(&cpu_worker(None)).unwrap_err();
        assert_eq!(unmet.shortfalls, vec![Shortfall::NoGpu]);
        let mut gpu = cpu_worker(None);
        gpu.devices.push(DeviceInfo {
            kind: DeviceClass::Gpu,
            name: "NVIDIA RTX A2000".into(),
            memory_bytes: 6 * GIB,
            compute_capability: Some("8.6".into()),
        });
        // The CPU's 24 GiB do not count when a GPU is required.
        let unmet = req.check(&gpu).unwrap_err();
        assert!(unmet
            .to_string()
            .ends_with("GPU memory 6.0 GiB is below the minimum 8.0 GiB"));
        gpu.devices[1].memory_bytes = 12 * GIB;
        assert_eq!(req.check(&gpu), Ok(()));
    }

    #[test]
    fn scores_just_under_the_bar_and_missing_scores() {
        let req = HardwareRequirements {
            min_benchmark_score: Some(1.5),
            ..Default::default()
        };
        let line = req.check(&cpu_worker(Some(1.499))).unwrap_err().to_string();
        assert!(line.ends_with("benchmark score 1.49 Msamples/s is below the minimum 1.5"));
        assert!(req.check(&cpu_worker(Some(f64::NAN))).is_err());
        let none = req.check(&cpu_worker(None)).unwrap_err();
        assert_eq!(none.shortfalls, vec![Shortfall::NoBenchmark { need: 1.5 }]);
    }

    #[test]
    fn validation() {
        let bad = HardwareRequirements {
            min_benchmark_score: Some(f64::NAN),
            ..Default::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(RequirementsError::BadScore(_))
        ));
        let empty = HardwareRequirements {
            engines: vec![" ".into()],
            ..Default::default()
        };
        assert_eq!(empty.validate(), Err(RequirementsError::EmptyEngine));
        assert_eq!(HardwareRequirements::default().validate(), Ok(()));
    }

    #[test]
    fn reads_from_json_with_defaults_and_rejects_unknown_fields() {
        let req: HardwareRequirements =
            serde_json::from_str(r#"{"engines": ["blender"], "min_benchmark_score": 1.5}"#)
                .unwrap();
        assert_eq!(req.engines, vec!["blender".to_owned()]);
        assert_eq!(req.min_memory_bytes, None);
        assert!(!req.gpu_required);
        assert!(serde_json::from_str::<HardwareRequirements>(r#"{"gpu": true}"#).is_err());
        let none: HardwareRequirements = serde_json::from_str("{}").unwrap();
        assert!(none.is_empty());
    }
}
