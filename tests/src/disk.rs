//! Disks that fill up: a small tmpfs a test mounts (root needed) and files that take its
//! room.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted on a fresh directory, unmounted when dropped (a failed test too).
#[derive(Debug)]
pub struct Tmpfs {
    _dir: Option<tempfile::TempDir>,
    /// Where it is mounted.
    pub mount: PathBuf,
}

impl Tmpfs {
    /// A tmpfs of `size_mib` on a fresh temporary directory; an error (not root, say)
    /// when it cannot be mounted.
    pub fn mount(size_mib: u64) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut disk = Tmpfs::mount_on(&dir.path().join("disk"), size_mib)?;
        disk._dir = Some(dir);
        Ok(disk)
    }

    /// A tmpfs on a new directory `mount`.
    pub fn mount_on(mount: &Path, size_mib: u64) -> Result<Tmpfs, String> {
        let mount = mount.to_path_buf();
        std::fs::create_dir(&mount).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(&mount)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { _dir: None, mount })
    }

    /// Grows (or shrinks) the file system in place: what it holds stays.
    pub fn resize(&self, size_mib: u64) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size_mib}m")])
            .arg(&self.mount)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount to {size_mib} MiB failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.mount)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Still busy (a node that did not stop): detach it now, free it when unused.
            let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
        }
    }
}

/// Writes a file on `dir` until the file system has no byte left.
pub fn fill_up(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("filler");
    let chunk = vec![0xa5u8; 1024 * 1024];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    let _ = file.sync_all();
    path
}

/// Fills `dir`'s file system up, then gives `leave` bytes back: the disk has exactly that
/// much room left.
pub fn fill_leaving(dir: &Path, leave: u64) -> PathBuf {
    let path = fill_up(dir);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("the filler");
    let len = file.metadata().expect("its size").len();
    file.set_len(len.saturating_sub(leave)).expect("shrink it");
    path
}
