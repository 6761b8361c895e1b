//! Verdicts, errors and timeouts: cheats fail, bad input is refused before Blender runs.

use super::*;

#[test]
fn plain_blender_renders_the_same_frame() {
    let Some(blender) = blender() else { return };
    let dir = tempfile::tempdir().unwrap();
    let scene = make_scene(&blender, dir.path(), "default");
    let request = small_frame(12);
    let direct = render_frame_direct(&blender, &scene, &request, LIMIT).unwrap();
    let mut session = start(&blender, &scene);
    let served = session.render_region(&request, LIMIT).unwrap();
    let c = compare(&direct, &served);
    assert!(c.pass, "{c:?}");
}

#[test]
fn cheats_fail_the_thresholds() {
    let Some(blender) = blender() else { return };
    let dir = tempfile::tempdir().unwrap();
    let scene = make_scene(&blender, dir.path(), "default");
    let moved = make_scene(&blender, dir.path(), "moved");
    let r = rect(24, 24, 96, 72);
    let request = small_frame(1).with_region(r);
    let mut session = start(&blender, &scene);
    let honest = session.render_region(&request, LIMIT).unwrap();

    // A tampered tile: one 12x12 block painted flat with its own mean colour.
    let mut tampered = honest.clone();
    let mut mean = [0u32; 3];
    for y in 30..42 {
        for x in 40..52 {
            for (c, m) in mean.iter_mut().enumerate() {
                *m += u32::from(honest.pixels[((y * r.w + x) * 3) as usize + c]);
            }
        }
    }
    for y in 30..42 {
        for x in 40..52 {
            for (c, m) in mean.iter().enumerate() {
                tampered.pixels[((y * r.w + x) * 3) as usize + c] = (m / 144) as u8;
            }
        }
    }
    let c = compare(&honest, &tampered);
    assert!(!c.pass, "tampered tile passed: {c:?}");

    // Fewer samples than asked for.
    let quarter = RegionRequest {
        samples: SAMPLES / 4,
        ..request.clone()
    };
    let cheap = session.render_region(&quarter, LIMIT).unwrap();
    let c = compare(&honest, &cheap);
    assert!(!c.pass, "a quarter of the samples passed: {c:?}");

    // Another scene.
    let mut other = start(&blender, &moved);
    let wrong = other.render_region(&request, LIMIT).unwrap();
    let c = compare(&honest, &wrong);
    assert!(!c.pass, "another scene passed: {c:?}");
}

#[test]
fn a_bad_blend_reports_blenders_error() {
    let Some(blender) = blender() else { return };
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.blend");
    std::fs::write(&junk, b"this is not a blend file, just junk bytes\n").unwrap();
    let e = BlenderSession::start(&blender, &junk, SessionOptions::default()).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, BlenderError::StartFailed { .. }), "{e:?}");
    assert!(text.contains("File format is not supported"), "{text}");
    assert!(!text.contains('\n'), "{text}");
    let e = render_frame_direct(&blender, &junk, &small_frame(1), LIMIT).unwrap_err();
    assert!(
        e.to_string().contains("File format is not supported"),
        "{e}"
    );
    let missing =
        BlenderSession::start(&blender, &dir.path().join("nope.blend"), Default::default());
    assert!(matches!(missing, Err(BlenderError::SceneNotFound { .. })));
}

#[test]
fn a_timeout_kills_blender_and_the_next_call_restarts_it() {
    let Some(blender) = blender() else { return };
    let dir = tempfile::tempdir().unwrap();
    let scene = make_scene(&blender, dir.path(), "default");
    let mut session = start(&blender, &scene);
    let slow = RegionRequest::full_frame(1, 640, 480, 4096);
    let began = Instant::now();
    let e = session
        .render_region(&slow, Duration::from_millis(1500))
        .unwrap_err();
    assert!(matches!(e, BlenderError::Timeout { .. }), "{e:?}");
    assert!(began.elapsed() < Duration::from_secs(20));
    assert!(!session.is_running());
    let tile = session
        .render_region(&small_frame(1).with_region(rect(0, 0, 16, 16)), LIMIT)
        .unwrap();
    assert_eq!(tile.pixels.len(), 16 * 16 * 3);
    assert_eq!(session.process_starts(), 2);
}

#[test]
fn invalid_requests_are_rejected_before_blender_runs() {
    // `/bin/sh` stands in for Blender: it must never be run.
    let fake = Blender::at("/bin/sh");
    let Ok(fake) = fake else {
        eprintln!("skipping: no /bin/sh");
        return;
    };
    let outside = small_frame(1).with_region(rect(150, 0, 20, 10));
    let e = render_frame_direct(&fake, Path::new("/nonexistent.blend"), &outside, LIMIT);
    assert!(matches!(e, Err(BlenderError::InvalidRequest(_))), "{e:?}");

    let Some(blender) = blender() else { return };
    let dir = tempfile::tempdir().unwrap();
    let scene = make_scene(&blender, dir.path(), "default");
    let mut session = start(&blender, &scene);
    session.stop();
    for r in [rect(150, 0, 20, 10), rect(0, 0, 0, 5), rect(0, 119, 5, 2)] {
        let e = session.render_region(&small_frame(1).with_region(r), LIMIT);
        assert!(matches!(e, Err(BlenderError::InvalidRequest(_))), "{e:?}");
    }
    // Rejected without starting Blender again.
    assert!(!session.is_running());
    assert_eq!(session.process_starts(), 1);
}

#[test]
fn an_unavailable_gpu_is_named() {
    let Some(blender) = blender() else { return };
    let dir = tempfile::tempdir().unwrap();
    let scene = make_scene(&blender, dir.path(), "default");
    let mut session = start(&blender, &scene);
    let region = rect(40, 30, 64, 48);
    let cpu_render = session
        .render_region(&small_frame(1).with_region(region), LIMIT)
        .unwrap();
    for device in [BlenderDevice::Cuda, BlenderDevice::Optix] {
        let request = RegionRequest {
            device,
            ..small_frame(1).with_region(region)
        };
        match session.render_region(&request, LIMIT) {
            Err(e @ BlenderError::DeviceUnavailable { .. }) => {
                assert!(e.to_string().contains(device.blender_name()), "{e}");
            }
            Err(e) => panic!("{device}: unexpected error {e}"),
            // This machine has the GPU: its result must pass the GPU thresholds.
            Ok(gpu) => {
                let t = Thresholds::for_blender(BlenderEngine::Cycles, DeviceClass::Gpu);
                let c = compare_region(&cpu_render.pixels, &gpu.pixels, 64, 48, t);
                assert!(c.pass, "{device} vs CPU: {c:?}");
            }
        }
    }
    // The session still works after the device errors.
    assert!(session
        .render_region(&small_frame(1).with_region(region), LIMIT)
        .is_ok());
    assert_eq!(session.process_starts(), 1);
}
