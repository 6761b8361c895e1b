//! Plain Blender: one process renders one frame with `-f`, the way a user renders from the
//! command line. The baseline that network rendering is measured against.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::blender::process::{BlenderProcess, NoAnswer, WorkDir};
use crate::blender::{Blender, BlenderError, RegionRequest, RgbImage, SERVER_PY};

/// Renders `request` (normally a whole frame: [`RegionRequest::full_frame`]) with a fresh
/// Blender process and Blender's own `-f FRAME` command-line render, start-up and scene
/// load included:
///
/// `blender -b --factory-startup -noaudio --disable-autoexec SCENE --python server.py
/// -f FRAME -- --apply REQUEST`
///
/// The render server only applies the request's settings (the same ones a
/// [`crate::blender::BlenderSession`] applies) and returns; Blender then renders as usual.
/// `timeout` bounds the whole run; past it the process is killed.
pub fn render_frame_direct(
    blender: &Blender,
    scene: &Path,
    request: &RegionRequest,
    timeout: Duration,
) -> Result<RgbImage, BlenderError> {
    request.validate()?;
    if !scene.is_file() {
        return Err(BlenderError::SceneNotFound {
            path: scene.to_path_buf(),
        });
    }
    let scene = std::path::absolute(scene)
        .map_err(|e| BlenderError::io(format!("cannot resolve {}", scene.display()), e))?;
    let work = WorkDir::new(None)?;
    let server = work.path().join("server.py");
    std::fs::write(&server, SERVER_PY)
        .map_err(|e| BlenderError::io(format!("cannot write {}", server.display()), e))?;
    let out_dir = work.path().join("out");
    std::fs::create_dir(&out_dir)
        .map_err(|e| BlenderError::io(format!("cannot create {}", out_dir.display()), e))?;
    // Blender numbers the file itself: out/frame_0001.png.
    let settings = request.to_wire(0, &out_dir.join("frame_"), false);
    let frame = OsString::from(request.frame.to_string());
    let args: [&OsStr; 12] = [
        OsStr::new("-b"),
        OsStr::new("--factory-startup"),
        OsStr::new("-noaudio"),
        OsStr::new("--disable-autoexec"),
        scene.as_os_str(),
        OsStr::new("--python"),
        server.as_os_str(),
        OsStr::new("-f"),
        &frame,
        OsStr::new("--"),
        OsStr::new("--apply"),
        OsStr::new(&settings),
    ];
    let deadline = Instant::now() + timeout;
    let mut process = BlenderProcess::spawn(blender, &args, work.path(), false)?;
    let timed_out = |process: &mut BlenderProcess| {
        process.kill();
        BlenderError::Timeout {
            during: "render",
            limit: timeout,
        }
    };
    match process.next_answer(deadline) {
        Ok(answer) if answer.applied == Some(true) => {}
        Ok(answer) => {
            process.kill();
            let kind = answer.kind.clone();
            let message = match answer.error {
                Some(message) => message,
                None => format!("expected the applied message, got {answer:?}"),
            };
            return Err(match kind.as_deref() {
                Some("device") => BlenderError::DeviceUnavailable {
                    device: request.device.blender_name(),
                    message,
                },
                Some("request") => BlenderError::InvalidRequest(message),
                _ => BlenderError::Render {
                    message,
                    tail: process.tail().quote(),
                },
            });
        }
        Err(NoAnswer::Timeout) => return Err(timed_out(&mut process)),
        Err(NoAnswer::Garbled(text)) => {
            process.kill();
            return Err(BlenderError::Protocol(text));
        }
        Err(NoAnswer::Closed) => {
            if process.wait_exit(deadline).is_none() {
                process.kill();
            }
            return Err(BlenderError::StartFailed {
                scene,
                status: process.status_text(),
                tail: process.tail().quote(),
            });
        }
    }
    let Some(status) = process.wait_exit(deadline) else {
        return Err(timed_out(&mut process));
    };
    let written = std::fs::read_dir(&out_dir)
        .map_err(|e| BlenderError::io(format!("cannot list {}", out_dir.display()), e))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|p| p.extension() == Some(OsStr::new("png")));
    match written {
        Some(path) => RgbImage::read_png(&path, request.region.w, request.region.h),
        None if status.success() => Err(BlenderError::Render {
            message: "Blender wrote no image".to_owned(),
            tail: process.tail().quote(),
        }),
        None => Err(BlenderError::Exited {
            status: status.to_string(),
            tail: process.tail().quote(),
        }),
    }
}
