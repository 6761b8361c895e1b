//! A running Blender process: its pipes, the threads that drain them, its work folder.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::blender::{Blender, BlenderError};

/// Marks the render server's answers on Blender's stdout (must match `server.py`).
pub(crate) const PREFIX: &str = "@@PICTOR-BLENDER-7f3a@@ ";
/// Lines of Blender's output kept for error messages.
const TAIL_LINES: usize = 32;
/// Longest line kept (characters).
const MAX_LINE_CHARS: usize = 400;
/// Longest answer line read from the server (bytes).
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// Lines of Blender's output quoted in an error.
const QUOTED_LINES: usize = 6;

/// One answer of the render server (`server.py`); fields absent from an answer are `None`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Answer {
    pub(crate) id: Option<u64>,
    pub(crate) ready: Option<bool>,
    pub(crate) applied: Option<bool>,
    pub(crate) ok: Option<bool>,
    pub(crate) error: Option<String>,
    pub(crate) kind: Option<String>,
    pub(crate) path: Option<String>,
    pub(crate) seconds: Option<f64>,
    pub(crate) width: Option<u32>,
    pub(crate) height: Option<u32>,
    pub(crate) version: Option<String>,
}

#[derive(Debug)]
enum Event {
    Answer(Answer),
    Garbled(String),
}

/// Why no answer came.
#[derive(Debug)]
pub(crate) enum NoAnswer {
    /// The deadline passed.
    Timeout,
    /// Blender closed its stdout (it exited or is exiting).
    Closed,
    /// A prefixed line that is not a valid answer.
    Garbled(String),
}

/// The last lines Blender printed on stdout and stderr (render progress lines left out).
#[derive(Debug, Clone, Default)]
pub(crate) struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    fn push(&self, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        let line = text.trim();
        if line.is_empty() || line.starts_with("Fra:") || line == "Blender quit" {
            return;
        }
        let line: String = line.chars().take(MAX_LINE_CHARS).collect();
        let mut lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// All kept lines, oldest first.
    pub(crate) fn lines(&self) -> Vec<String> {
        let lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().cloned().collect()
    }

    /// The last few lines on one line, for an error message.
    pub(crate) fn quote(&self) -> String {
        let lines = self.lines();
        let start = lines.len().saturating_sub(QUOTED_LINES);
        let quoted = lines[start..].join(" | ");
        if quoted.is_empty() {
            "(Blender printed nothing)".to_owned()
        } else {
            quoted
        }
    }
}

/// A folder of our own under the temporary directory, removed on drop. Blender's own
/// temporary files go there too (`TMPDIR`), so a killed Blender leaves nothing behind.
#[derive(Debug)]
pub(crate) struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    pub(crate) fn new(parent: Option<&Path>) -> Result<WorkDir, BlenderError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut last = None;
        for _ in 0..16 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = parent.join(format!(
                "pictor-blender-{}-{n}-{nanos:08x}",
                std::process::id()
            ));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(WorkDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => {
                    return Err(BlenderError::io(
                        format!("cannot create {}", path.display()),
                        e,
                    ))
                }
            }
        }
        Err(BlenderError::io(
            format!("cannot create a work folder in {}", parent.display()),
            last.unwrap_or_else(|| std::io::Error::other("name collisions")),
        ))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::debug!(path = %self.path.display(), error = %e, "cannot remove Blender work folder");
        }
    }
}

/// A running Blender: stdin for requests, answers from stdout, both outputs drained on
/// their own threads into a [`Tail`] so that Blender never blocks on a full pipe.
#[derive(Debug)]
pub(crate) struct BlenderProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    events: Receiver<Event>,
    tail: Tail,
    /// Disconnects when both output threads are done (Blender closed stdout and stderr).
    drained: Receiver<()>,
    exited: Option<ExitStatus>,
}

impl BlenderProcess {
    /// Starts `blender args…` with its temporary and user folders inside `work`.
    pub(crate) fn spawn(
        blender: &Blender,
        args: &[&std::ffi::OsStr],
        work: &Path,
        with_stdin: bool,
    ) -> Result<BlenderProcess, BlenderError> {
        let mut cmd = Command::new(blender.path());
        cmd.args(args)
            .env("TMPDIR", work)
            .env("BLENDER_USER_CONFIG", work.join("config"))
            .env("BLENDER_USER_SCRIPTS", work.join("scripts"))
            .env("BLENDER_USER_DATAFILES", work.join("datafiles"))
            .stdin(if with_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| BlenderError::Spawn {
            path: blender.path().to_path_buf(),
            source,
        })?;
        let tail = Tail::default();
        let (event_tx, events) = sync_channel(16);
        let (drained_tx, drained) = sync_channel::<()>(0);
        let stdin = child.stdin.take();
        if let Some(out) = child.stdout.take() {
            let (tail, done) = (tail.clone(), drained_tx.clone());
            spawn_reader("pictor-blender-stdout", move || {
                read_stdout(out, &tail, &event_tx);
                drop(done);
            })?;
        }
        if let Some(err) = child.stderr.take() {
            let (tail, done) = (tail.clone(), drained_tx);
            spawn_reader("pictor-blender-stderr", move || {
                read_lines(err, |line| tail.push(line));
                drop(done);
            })?;
        }
        Ok(BlenderProcess {
            child,
            stdin,
            events,
            tail,
            drained,
            exited: None,
        })
    }

    /// Sends one request line.
    pub(crate) fn send(&mut self, line: &str) -> std::io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stdin closed"))?;
        stdin.write_all(line.as_bytes())?;
        stdin.write_all(b"\n")?;
        stdin.flush()
    }

    /// Waits for the next answer until `deadline`.
    pub(crate) fn next_answer(&mut self, deadline: Instant) -> Result<Answer, NoAnswer> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.events.recv_timeout(left) {
            Ok(Event::Answer(a)) => Ok(a),
            Ok(Event::Garbled(line)) => Err(NoAnswer::Garbled(line)),
            Err(RecvTimeoutError::Timeout) => Err(NoAnswer::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(NoAnswer::Closed),
        }
    }

    /// Blender's recent output.
    pub(crate) fn tail(&self) -> &Tail {
        &self.tail
    }

    /// Whether the process is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        if self.exited.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.exited = Some(status);
                false
            }
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// Waits until the process exits or `deadline` passes; then waits (at most a second)
    /// for its last output to reach the tail. Returns how it ended, if it did.
    pub(crate) fn wait_exit(&mut self, deadline: Instant) -> Option<ExitStatus> {
        while self.is_running() {
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
        self.wait_drained(Duration::from_secs(1));
        self.exited
    }

    fn wait_drained(&self, limit: Duration) {
        // Nothing is ever sent: this returns when both readers have dropped their senders.
        let _ = self.drained.recv_timeout(limit);
    }

    /// Kills the process (if it still runs) and reaps it.
    pub(crate) fn kill(&mut self) {
        if self.is_running() {
            if let Err(e) = self.child.kill() {
                tracing::debug!(error = %e, "cannot kill Blender");
            }
            match self.child.wait() {
                Ok(status) => self.exited = Some(status),
                Err(e) => tracing::debug!(error = %e, "cannot reap Blender"),
            }
        }
        self.wait_drained(Duration::from_millis(500));
    }

    /// Closes stdin (the server's loop ends), gives Blender `grace` to quit, then kills it.
    pub(crate) fn shut_down(&mut self, grace: Duration) {
        self.stdin = None;
        if self.wait_exit(Instant::now() + grace).is_none() {
            self.kill();
        }
    }

    /// A description of how the process ended, for errors.
    pub(crate) fn status_text(&self) -> String {
        match self.exited {
            Some(status) => status.to_string(),
            None => "still running".to_owned(),
        }
    }
}

impl Drop for BlenderProcess {
    fn drop(&mut self) {
        if self.exited.is_none() {
            self.kill();
        }
    }
}

fn spawn_reader(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), BlenderError> {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map(drop)
        .map_err(|e| BlenderError::io("cannot start a thread to read Blender's output", e))
}

/// Calls `f` with every line of `r` (without the line break) until end of file; lines
/// longer than [`MAX_ANSWER_BYTES`] are cut (the rest is dropped).
fn read_lines(r: impl Read, mut f: impl FnMut(&[u8])) {
    let mut reader = BufReader::new(r);
    let mut line = Vec::new();
    loop {
        line.clear();
        let mut limited = (&mut reader).take(MAX_ANSWER_BYTES as u64);
        match limited.read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) => {
                let overlong = line.last() != Some(&b'\n') && line.len() >= MAX_ANSWER_BYTES;
                let end = line.len() - usize::from(line.last() == Some(&b'\n'));
                f(&line[..end]);
                if overlong && skip_line(&mut reader).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Discards input up to and including the next line break.
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            reader.consume(i + 1);
            return Ok(());
        }
        let n = buf.len();
        reader.consume(n);
    }
}

fn read_stdout(out: impl Read, tail: &Tail, events: &SyncSender<Event>) {
    let mut open = true;
    read_lines(out, |line| {
        let Some(answer) = find_answer(line) else {
            tail.push(line);
            return;
        };
        let event = match serde_json::from_slice::<Answer>(answer) {
            Ok(a) => Event::Answer(a),
            Err(e) => Event::Garbled(format!(
                "{e}: {}",
                String::from_utf8_lossy(&answer[..answer.len().min(MAX_LINE_CHARS)])
            )),
        };
        // Keep draining even when nobody listens any more.
        if open && events.send(event).is_err() {
            open = false;
        }
    });
}

/// The JSON after [`PREFIX`], wherever the prefix is in the line (Blender's own buffered
/// output may land in front of it).
fn find_answer(line: &[u8]) -> Option<&[u8]> {
    let prefix = PREFIX.as_bytes();
    line.windows(prefix.len())
        .position(|w| w == prefix)
        .map(|i| &line[i + prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_found_anywhere_in_a_line() {
        let line = format!("Fra:1 Mem:3M {PREFIX}{{\"id\":4,\"ok\":true}}");
        assert_eq!(
            find_answer(line.as_bytes()),
            Some(&b"{\"id\":4,\"ok\":true}"[..])
        );
        assert_eq!(find_answer(b"Saved: 'x.png'"), None);
    }

    #[test]
    fn the_tail_keeps_the_last_meaningful_lines() {
        let tail = Tail::default();
        for i in 0..40 {
            tail.push(format!("line {i}\n").as_bytes());
        }
        tail.push(b"Fra:1 Mem:1M | Sample 3/8");
        tail.push(b"   ");
        tail.push(b"Blender quit");
        assert_eq!(tail.lines().len(), TAIL_LINES);
        assert_eq!(
            tail.quote(),
            "line 34 | line 35 | line 36 | line 37 | line 38 | line 39"
        );
        assert_eq!(Tail::default().quote(), "(Blender printed nothing)");
    }

    #[test]
    fn long_lines_are_cut_and_the_rest_skipped() {
        let mut input = vec![b'a'; MAX_ANSWER_BYTES + 10];
        input.extend_from_slice(b"\nnext\nlast");
        let mut seen = Vec::new();
        read_lines(&input[..], |l| seen.push(l.len()));
        assert_eq!(seen, vec![MAX_ANSWER_BYTES, 4, 4]);
    }

    #[test]
    fn work_folders_are_unique_and_removed() {
        let a = WorkDir::new(None).ok();
        let b = WorkDir::new(None).ok();
        let (pa, pb) = (
            a.as_ref().map(|d| d.path().to_path_buf()),
            b.as_ref().map(|d| d.path().to_path_buf()),
        );
        assert!(pa.is_some() && pa != pb);
        drop(a);
        assert!(pa.is_some_and(|p| !p.exists()));
    }
}
