//! A `pictor node` process a test started, killed when the test ends however it ends.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::{sys::signal, unistd::Pid};

pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// `pictor args…`, its stderr piped for the test to read.
    pub(crate) fn start(args: &[&str]) -> Running {
        Running::start_with(args, Stdio::piped())
    }

    /// `pictor args…`, its logs dropped.
    pub(crate) fn start_quiet(args: &[&str]) -> Running {
        Running::start_with(args, Stdio::null())
    }

    fn start_with(args: &[&str], stderr: Stdio) -> Running {
        let child = Command::new(env!("CARGO_BIN_EXE_pictor"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("pictor node starts");
        Running(child)
    }

    /// Sends SIGTERM and waits (up to 20 s) for the exit code.
    pub(crate) fn terminate(&mut self) -> i32 {
        let pid = Pid::from_raw(self.0.id() as i32);
        signal::kill(pid, signal::Signal::SIGTERM).expect("SIGTERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.0.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "the node did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
