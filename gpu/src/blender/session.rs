//! A persistent Blender process that renders regions of one scene on request.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::blender::process::{Answer, BlenderProcess, NoAnswer, WorkDir};
use crate::blender::{Blender, BlenderError, RegionRequest, RgbImage, SERVER_PY};

/// Requests a session keeps in flight at once when it pipelines a batch: enough to hide
/// the round trip, few enough that neither pipe can fill while the other waits.
const PIPELINE_DEPTH: usize = 8;

/// How a [`BlenderSession`] runs Blender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOptions {
    /// How long Blender may take to start and load the scene (also on a restart).
    pub start_timeout: Duration,
    /// Keep Cycles' scene data between renders of the session (`use_persistent_data`):
    /// later renders of the same frame skip the scene export and BVH build. It changes no
    /// pixel (measured); it costs memory while the session lives.
    pub persistent_data: bool,
    /// Where the session's work folder goes (default: the system's temporary directory).
    pub work_parent: Option<PathBuf>,
}

impl Default for SessionOptions {
    fn default() -> SessionOptions {
        SessionOptions {
            start_timeout: Duration::from_secs(120),
            persistent_data: true,
            work_parent: None,
        }
    }
}

/// One Blender process that keeps one scene loaded and renders regions of it on request,
/// so that a worker rendering many tiles (or a checker re-rendering sampled regions) pays
/// Blender's start-up and the scene load once.
///
/// Blender runs as `blender -b --factory-startup -noaudio --disable-autoexec SCENE
/// --python server.py`: no user preferences or add-ons, and no Python embedded in the
/// .blend (scripts, drivers) runs. A call that fails inside Blender leaves the process
/// running; a call that times out kills it, and the next call starts a new one. Dropping
/// the session ends the process and removes its work folder.
#[derive(Debug)]
pub struct BlenderSession {
    blender: Blender,
    scene: PathBuf,
    options: SessionOptions,
    // Declared before `work`: the process ends before its folder is removed.
    process: Option<BlenderProcess>,
    work: WorkDir,
    starts: u32,
    next_id: u64,
}

impl BlenderSession {
    /// Starts Blender on `scene` and waits until the scene is loaded.
    pub fn start(
        blender: &Blender,
        scene: &Path,
        options: SessionOptions,
    ) -> Result<BlenderSession, BlenderError> {
        if !scene.is_file() {
            return Err(BlenderError::SceneNotFound {
                path: scene.to_path_buf(),
            });
        }
        let scene = std::path::absolute(scene)
            .map_err(|e| BlenderError::io(format!("cannot resolve {}", scene.display()), e))?;
        let work = WorkDir::new(options.work_parent.as_deref())?;
        let server = work.path().join("server.py");
        std::fs::write(&server, SERVER_PY)
            .map_err(|e| BlenderError::io(format!("cannot write {}", server.display()), e))?;
        let mut session = BlenderSession {
            blender: blender.clone(),
            scene,
            options,
            process: None,
            work,
            starts: 0,
            next_id: 1,
        };
        session.restart()?;
        Ok(session)
    }

    /// The scene this session renders.
    pub fn scene(&self) -> &Path {
        &self.scene
    }

    /// How many Blender processes this session has started (1 unless one was killed or
    /// died).
    pub fn process_starts(&self) -> u32 {
        self.starts
    }

    /// Whether a Blender process is running now.
    pub fn is_running(&mut self) -> bool {
        self.process
            .as_mut()
            .is_some_and(BlenderProcess::is_running)
    }

    /// Renders `request`'s region and returns its pixels (8-bit RGB, top row first).
    ///
    /// `timeout` bounds the render (not a restart, which [`SessionOptions::start_timeout`]
    /// bounds); past it the process is killed and [`BlenderError::Timeout`] returned. An
    /// invalid request is rejected before Blender sees it.
    pub fn render_region(
        &mut self,
        request: &RegionRequest,
        timeout: Duration,
    ) -> Result<RgbImage, BlenderError> {
        self.render_regions(std::slice::from_ref(request), timeout)?
            .pop()
            .ok_or_else(|| BlenderError::Protocol("no image for the region".to_owned()))
    }

    /// Renders several regions in one exchange and returns their pixels in order.
    ///
    /// The requests are pipelined (a few in flight at a time), so a checker's many small
    /// regions pay one round trip's latency rather than one each. `timeout` bounds the whole
    /// batch; past it the process is killed. The first failing region fails the batch (the
    /// process keeps running unless it died or timed out).
    pub fn render_regions(
        &mut self,
        requests: &[RegionRequest],
        timeout: Duration,
    ) -> Result<Vec<RgbImage>, BlenderError> {
        for request in requests {
            request.validate()?;
        }
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        if !self.is_running() {
            self.restart()?;
        }
        let deadline = Instant::now() + timeout;
        let first = self.next_id;
        self.next_id += requests.len() as u64;
        let outputs: Vec<PathBuf> = (0..requests.len() as u64)
            .map(|i| self.work.path().join(format!("region-{}.png", first + i)))
            .collect();
        let lines: Vec<String> = requests
            .iter()
            .zip(&outputs)
            .enumerate()
            .map(|(i, (request, output))| {
                request.to_wire(first + i as u64, output, self.options.persistent_data)
            })
            .collect();
        let result = self
            .pipeline(&lines, first, deadline, timeout)
            .and_then(|answers| {
                let seconds: f64 = answers.iter().filter_map(|a| a.seconds).sum();
                tracing::debug!(regions = answers.len(), seconds, "Blender rendered regions");
                let tail = || {
                    self.process
                        .as_ref()
                        .map(|p| p.tail().quote())
                        .unwrap_or_default()
                };
                answers
                    .iter()
                    .zip(requests)
                    .zip(&outputs)
                    .map(|((answer, request), output)| read_region(answer, output, request, tail))
                    .collect()
            });
        for output in &outputs {
            let _ = std::fs::remove_file(output);
        }
        result
    }

    /// Sends `lines` (ids `first`, `first + 1`, …) with at most [`PIPELINE_DEPTH`] in
    /// flight and collects their answers in order.
    fn pipeline(
        &mut self,
        lines: &[String],
        first: u64,
        deadline: Instant,
        limit: Duration,
    ) -> Result<Vec<Answer>, BlenderError> {
        let Some(mut process) = self.process.take() else {
            return Err(BlenderError::Protocol("no Blender process".to_owned()));
        };
        let mut answers: Vec<Option<Answer>> = lines.iter().map(|_| None).collect();
        let mut sent = 0;
        let mut received = 0;
        while received < lines.len() {
            while sent < lines.len() && sent - received < PIPELINE_DEPTH {
                if process.send(&lines[sent]).is_err() {
                    return Err(dead(&mut process));
                }
                sent += 1;
            }
            match process.next_answer(deadline) {
                Ok(answer) => {
                    let slot = answer
                        .id
                        .and_then(|id| id.checked_sub(first))
                        .and_then(|i| usize::try_from(i).ok())
                        .filter(|&i| i < sent);
                    match slot {
                        Some(i) if answers[i].is_none() => {
                            answers[i] = Some(answer);
                            received += 1;
                        }
                        _ => tracing::debug!(?answer, "ignoring an answer to another request"),
                    }
                }
                Err(NoAnswer::Timeout) => {
                    process.kill();
                    return Err(BlenderError::Timeout {
                        during: "render",
                        limit,
                    });
                }
                Err(NoAnswer::Closed) => return Err(dead(&mut process)),
                Err(NoAnswer::Garbled(text)) => {
                    process.kill();
                    return Err(BlenderError::Protocol(text));
                }
            }
        }
        self.process = Some(process);
        Ok(answers.into_iter().flatten().collect())
    }

    /// Ends the Blender process now (it is restarted by the next render).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.shut_down(Duration::from_secs(2));
        }
    }

    fn restart(&mut self) -> Result<(), BlenderError> {
        self.stop();
        let server = self.work.path().join("server.py");
        let args: [&OsStr; 8] = [
            OsStr::new("-b"),
            OsStr::new("--factory-startup"),
            OsStr::new("-noaudio"),
            OsStr::new("--disable-autoexec"),
            self.scene.as_os_str(),
            OsStr::new("--python"),
            server.as_os_str(),
            OsStr::new("--"),
        ];
        let mut process = BlenderProcess::spawn(&self.blender, &args, self.work.path(), true)?;
        self.starts += 1;
        let limit = self.options.start_timeout;
        let deadline = Instant::now() + limit;
        match process.next_answer(deadline) {
            Ok(Answer {
                ready: Some(true),
                version,
                ..
            }) => {
                tracing::debug!(scene = %self.scene.display(), ?version, "Blender is ready");
                self.process = Some(process);
                Ok(())
            }
            Ok(Answer {
                error: Some(message),
                ..
            }) => {
                process.kill();
                Err(BlenderError::StartFailed {
                    scene: self.scene.clone(),
                    status: process.status_text(),
                    tail: format!("{message}; {}", process.tail().quote()),
                })
            }
            Ok(other) => {
                process.kill();
                Err(BlenderError::Protocol(format!(
                    "expected the ready message, got {other:?}"
                )))
            }
            Err(NoAnswer::Garbled(line)) => {
                process.kill();
                Err(BlenderError::Protocol(line))
            }
            Err(NoAnswer::Timeout) => {
                process.kill();
                Err(BlenderError::Timeout {
                    during: "start",
                    limit,
                })
            }
            Err(NoAnswer::Closed) => {
                if process
                    .wait_exit(Instant::now() + Duration::from_secs(5))
                    .is_none()
                {
                    process.kill();
                }
                Err(BlenderError::StartFailed {
                    scene: self.scene.clone(),
                    status: process.status_text(),
                    tail: process.tail().quote(),
                })
            }
        }
    }
}

impl Drop for BlenderSession {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The error for a process that went away: how it ended and what it said last.
fn dead(process: &mut BlenderProcess) -> BlenderError {
    if process
        .wait_exit(Instant::now() + Duration::from_secs(5))
        .is_none()
    {
        process.kill();
    }
    BlenderError::Exited {
        status: process.status_text(),
        tail: process.tail().quote(),
    }
}

/// Turns a render answer into pixels.
fn read_region(
    answer: &Answer,
    output: &Path,
    request: &RegionRequest,
    tail: impl FnOnce() -> String,
) -> Result<RgbImage, BlenderError> {
    if let Some(message) = &answer.error {
        return Err(match answer.kind.as_deref() {
            Some("device") => BlenderError::DeviceUnavailable {
                device: request.device.blender_name(),
                message: message.clone(),
            },
            Some("request") => BlenderError::InvalidRequest(message.clone()),
            _ => BlenderError::Render {
                message: message.clone(),
                tail: tail(),
            },
        });
    }
    if answer.ok != Some(true) {
        return Err(BlenderError::Protocol(format!(
            "expected a render answer, got {answer:?}"
        )));
    }
    RgbImage::read_png(output, request.region.w, request.region.h)
}
