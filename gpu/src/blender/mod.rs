//! The Blender engine: the real Blender binary as a subprocess, for `.blend` scenes.
//!
//! - [`Blender::locate`] finds the binary (`$PICTOR_BLENDER`, then `blender` on `PATH`);
//!   without one, every entry point fails with [`BlenderError::NotFound`], one line that
//!   says how to install it.
//! - [`BlenderSession`] keeps one Blender process per scene and renders regions of frames
//!   on request ([`RegionRequest`]): a worker's shard tiles, a checker's sampled regions.
//!   Start-up and scene load (about a second) are paid once per session, not per tile.
//! - [`render_frame_direct`] is plain Blender (`blender -b SCENE -f FRAME`), the baseline
//!   network rendering is measured against.
//!
//! # Safety
//! A `.blend` comes from a creator and is untrusted. Blender always runs with
//! `--disable-autoexec` (no Python embedded in the file runs: no registered scripts, no
//! Python drivers), `--factory-startup` (no user preferences or add-ons), `-noaudio`, its
//! temporary and user folders inside a work folder of ours, and the compositor and
//! sequencer off (File Output nodes cannot write files). Blender is still a large C++
//! program reading an untrusted file: run workers in a sandbox or an unprivileged account.
//!
//! # Determinism
//! Every render sets everything that decides pixels explicitly (see [`RegionRequest`]).
//! Cycles on the CPU then gives the same bytes for the same request, whether the region is
//! rendered alone or cut from a larger render, and with any thread count. Other devices
//! (and other Blender versions or CPUs) can differ slightly, which is why Blender results
//! are compared with [`crate::compare`]'s thresholds, not bit for bit.
//!
//! # Protocol
//! `server.py` (embedded in this crate) runs inside Blender: one JSON request per line on
//! stdin, one JSON answer per line on stdout behind a unique prefix (Blender's own output
//! shares stdout). Both of Blender's outputs are drained on threads; the last lines are
//! kept and quoted in errors.

mod direct;
mod error;
mod image;
mod pool;
mod process;
mod request;
mod session;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use direct::render_frame_direct;
pub use error::BlenderError;
pub use image::RgbImage;
pub use pool::{BlenderPool, PooledSession, PROCESSES_ENV};
pub use request::{
    BlenderDevice, BlenderEngine, RegionRequest, MAX_BLENDER_FRAME, MAX_BLENDER_SAMPLES,
    MAX_BLENDER_SIZE, MAX_BLENDER_THREADS,
};
pub use session::{BlenderSession, SessionOptions};

use process::{BlenderProcess, WorkDir};

/// The render server that runs inside Blender.
pub(crate) const SERVER_PY: &str = include_str!("server.py");

/// Environment variable naming the Blender binary (overrides `PATH`).
pub const BLENDER_ENV: &str = "PICTOR_BLENDER";

/// How long `blender --version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(30);

/// `$PICTOR_BLENDER`, unless unset or empty.
fn env_program() -> Option<OsString> {
    std::env::var_os(BLENDER_ENV).filter(|p| !p.is_empty())
}

/// A Blender binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blender {
    path: PathBuf,
}

impl Blender {
    /// Finds Blender: `$PICTOR_BLENDER` if set (it must then be an executable), else
    /// `blender` on `PATH`.
    pub fn locate() -> Result<Blender, BlenderError> {
        if let Some(path) = env_program() {
            let path = PathBuf::from(path);
            return if is_executable(&path) {
                Ok(Blender { path })
            } else {
                Err(BlenderError::NotExecutable {
                    path,
                    origin: "$PICTOR_BLENDER",
                })
            };
        }
        Blender::find(OsStr::new("blender"))
    }

    /// The program [`Blender::locate`] looks for: `$PICTOR_BLENDER` if set (and not
    /// empty), else `blender`.
    pub fn program() -> OsString {
        env_program().unwrap_or_else(|| OsString::from("blender"))
    }

    /// Blender as `program`: a path (with a `/`) that must be an executable, or a name
    /// looked up on `PATH`.
    pub fn find(program: &OsStr) -> Result<Blender, BlenderError> {
        let named = Path::new(program);
        if named.components().count() > 1 || named.is_absolute() {
            return Blender::at(named);
        }
        let path = std::env::var_os("PATH").ok_or(BlenderError::NotFound)?;
        std::env::split_paths(&path)
            .map(|dir| dir.join(named))
            .find(|p| is_executable(p))
            .map(|path| Blender { path })
            .ok_or(BlenderError::NotFound)
    }

    /// Blender at `path`, which must be an executable file.
    pub fn at(path: impl Into<PathBuf>) -> Result<Blender, BlenderError> {
        let path = path.into();
        if is_executable(&path) {
            Ok(Blender { path })
        } else {
            Err(BlenderError::NotExecutable {
                path,
                origin: "given path",
            })
        }
    }

    /// The binary.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Asks the binary for its version (`blender --version`).
    pub fn version(&self) -> Result<BlenderVersion, BlenderError> {
        let work = WorkDir::new(None)?;
        let mut process =
            BlenderProcess::spawn(self, &[OsStr::new("--version")], work.path(), false)?;
        if process
            .wait_exit(Instant::now() + VERSION_TIMEOUT)
            .is_none()
        {
            process.kill();
            return Err(BlenderError::Timeout {
                during: "print its version",
                limit: VERSION_TIMEOUT,
            });
        }
        let lines = process.tail().lines();
        lines
            .iter()
            .find_map(|line| BlenderVersion::parse(line))
            .ok_or_else(|| BlenderError::Version {
                output: process.tail().quote(),
            })
    }
}

/// A Blender version, such as 3.4.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlenderVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch level.
    pub patch: u32,
}

impl BlenderVersion {
    /// Parses the first line of `blender --version` (`"Blender 3.4.1"`, `"Blender 4.2.0
    /// LTS"`).
    pub fn parse(line: &str) -> Option<BlenderVersion> {
        let number = line
            .trim()
            .strip_prefix("Blender ")?
            .split_whitespace()
            .next()?;
        let mut parts = number.split('.').map(|p| p.parse::<u32>().ok());
        let major = parts.next()??;
        let minor = parts.next()??;
        let patch = parts.next().unwrap_or(Some(0))?;
        Some(BlenderVersion {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for BlenderVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        let v = |s| BlenderVersion::parse(s).map(|v| v.to_string());
        assert_eq!(v("Blender 3.4.1").as_deref(), Some("3.4.1"));
        assert_eq!(v("  Blender 4.2.0 LTS").as_deref(), Some("4.2.0"));
        assert_eq!(v("Blender 2.93").as_deref(), Some("2.93.0"));
        assert_eq!(v("Blender quit"), None);
        assert_eq!(v("Read prefs: x"), None);
    }

    #[test]
    fn not_found_is_one_actionable_line() {
        let text = BlenderError::NotFound.to_string();
        assert!(!text.contains('\n'));
        assert!(text.contains("PICTOR_BLENDER") && text.contains("apt-get install blender"));
    }

    #[test]
    fn a_missing_path_is_not_executable() {
        let e = Blender::at("/nonexistent/pictor/blender");
        assert!(matches!(e, Err(BlenderError::NotExecutable { .. })));
    }

    #[test]
    fn the_server_and_the_reader_agree_on_the_prefix() {
        assert!(SERVER_PY.contains(&format!("PREFIX = \"{}\"", process::PREFIX)));
    }
}
