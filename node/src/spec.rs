//! Network spec files (TOML): the parts a node reads today.
//!
//! A network spec names a network's id, genesis checkers, bootnodes and parameters. This
//! module reads its `[requirements]` table, the hardware a network asks of its workers
//! ([`HardwareRequirements`]); other tables and keys are left to the parts of the node
//! that read them, so one file serves all of them.
//!
//! ```toml
//! [requirements]
//! min_memory_bytes = 8589934592
//! engines = ["blender"]
//! min_benchmark_score = 1.5
//! gpu_required = false
//! ```

use std::path::Path;

use pictor_gpu::HardwareRequirements;
use serde::Deserialize;

use crate::NodeError;

/// Largest spec file read (a spec is a few kilobytes).
pub const MAX_SPEC_BYTES: u64 = 1 << 20;

/// The tables of a network spec this node reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct NetworkSpec {
    /// What a worker must bring; a missing table means no requirement.
    #[serde(default)]
    pub requirements: HardwareRequirements,
}

impl NetworkSpec {
    /// Parses a spec from TOML text and checks its requirements for sense. Errors are one
    /// line with the line and column of the problem.
    pub fn from_toml(text: &str) -> Result<NetworkSpec, NodeError> {
        let spec: NetworkSpec = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_owned();
            let place = e
                .span()
                .map(|span| {
                    let (line, column) = line_column(text, span.start);
                    format!(" at line {line}, column {column}")
                })
                .unwrap_or_default();
            NodeError::Config(format!("network spec{place}: {message}"))
        })?;
        spec.requirements
            .validate()
            .map_err(|e| NodeError::Config(format!("network spec: requirements: {e}")))?;
        Ok(spec)
    }

    /// Reads and parses the spec file at `path`.
    pub fn load(path: &Path) -> Result<NetworkSpec, NodeError> {
        let shown = path.display();
        let size = std::fs::metadata(path)
            .map_err(|e| NodeError::Config(format!("cannot read network spec {shown}: {e}")))?
            .len();
        if size > MAX_SPEC_BYTES {
            return Err(NodeError::Config(format!(
                "network spec {shown} is {size} bytes; a spec is at most {MAX_SPEC_BYTES}"
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| NodeError::Config(format!("cannot read network spec {shown}: {e}")))?;
        NetworkSpec::from_toml(&text).map_err(|e| match e {
            NodeError::Config(message) => NodeError::Config(format!("{shown}: {message}")),
            other => other,
        })
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(1, |l| l.chars().count() + 1);
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_requirements_and_leaves_other_tables_alone() {
        let spec = NetworkSpec::from_toml(
            r#"
            network_id = "pictor-testnet"
            [params]
            committee_size = 4
            [requirements]
            min_memory_bytes = 8589934592
            engines = ["blender"]
            min_benchmark_score = 1.5
            "#,
        )
        .unwrap();
        assert_eq!(spec.requirements.min_memory_bytes, Some(8 << 30));
        assert_eq!(spec.requirements.engines, vec!["blender".to_owned()]);
        assert_eq!(spec.requirements.min_benchmark_score, Some(1.5));
        assert!(!spec.requirements.gpu_required);
        assert_eq!(NetworkSpec::from_toml("").unwrap(), NetworkSpec::default());
    }

    #[test]
    fn mistakes_are_named_with_their_place() {
        let typo = NetworkSpec::from_toml("[requirements]\nmin_memory = 8\n").unwrap_err();
        let text = typo.to_string();
        assert!(
            text.contains("line 2") && text.contains("min_memory"),
            "{text}"
        );
        let negative =
            NetworkSpec::from_toml("[requirements]\nmin_benchmark_score = -1.0\n").unwrap_err();
        assert!(negative.to_string().contains("requirements"), "{negative}");
        let broken = NetworkSpec::from_toml("[requirements\n").unwrap_err();
        assert!(broken.to_string().contains("line 1"), "{broken}");
        for e in [typo, negative, broken] {
            assert!(!e.to_string().contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn a_missing_or_huge_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = NetworkSpec::load(&dir.path().join("none.toml")).unwrap_err();
        assert!(missing.to_string().contains("none.toml"), "{missing}");
        let huge = dir.path().join("huge.toml");
        std::fs::write(&huge, vec![b'#'; (MAX_SPEC_BYTES + 1) as usize]).unwrap();
        assert!(NetworkSpec::load(&huge)
            .unwrap_err()
            .to_string()
            .contains("at most"));
        let good = dir.path().join("net.toml");
        std::fs::write(&good, "[requirements]\ngpu_required = true\n").unwrap();
        assert!(NetworkSpec::load(&good).unwrap().requirements.gpu_required);
    }
}
