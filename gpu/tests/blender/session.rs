//! One Blender process per session, regions and batches of them, and the pool.

use super::*;

#[test]
fn a_region_matches_the_same_region_of_the_full_frame() {
    let Some(blender) = blender() else { return };
    let dir = tempfile::tempdir().unwrap();
    let scene = make_scene(&blender, dir.path(), "default");
    let mut session = start(&blender, &scene);
    let full = session.render_region(&small_frame(1), LIMIT).unwrap();
    assert_eq!((full.width, full.height), (W, H));
    assert_eq!(full.pixels.len(), (W * H * 3) as usize);
    // A region touching no edge, one in the bottom-right corner, one spanning the width.
    for r in [
        rect(37, 21, 50, 40),
        rect(120, 90, 40, 30),
        rect(0, 57, W, 13),
    ] {
        let region = session
            .render_region(&small_frame(1).with_region(r), LIMIT)
            .unwrap();
        let cut = full.crop(r).unwrap();
        let c = compare(&region, &cut);
        assert!(c.pass, "{r:?}: {c:?}");
    }
    // The image is a real render: not flat.
    let (lo, hi) = full
        .pixels
        .iter()
        .fold((255u8, 0u8), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert!(hi - lo > 100, "flat image {lo}..{hi}");
}

#[test]
fn renders_with_the_same_seed_compare_as_honest_and_the_session_is_reused() {
    let Some(blender) = blender() else { return };
    let dir = tempfile::tempdir().unwrap();
    let scene = make_scene(&blender, dir.path(), "default");
    let request = small_frame(5).with_region(rect(20, 30, 96, 64));
    let mut one = start(&blender, &scene);
    let first = one.render_region(&request, LIMIT).unwrap();
    let again = one.render_region(&request, LIMIT).unwrap();
    let other = one
        .render_region(&request.with_region(rect(0, 0, 32, 32)), LIMIT)
        .unwrap();
    assert_eq!(other.pixels.len(), 32 * 32 * 3);
    // Three renders, one Blender process.
    assert_eq!(one.process_starts(), 1);
    assert!(one.is_running());
    let mut two = start(&blender, &scene);
    let elsewhere = two.render_region(&request, LIMIT).unwrap();
    assert!(compare(&first, &again).pass);
    assert!(compare(&first, &elsewhere).pass);
}

#[test]
fn a_batch_of_regions_comes_back_in_order_equal_to_the_frame() {
    let Some(blender) = blender() else { return };
    let dir = tempfile::tempdir().unwrap();
    let scene = make_scene(&blender, dir.path(), "default");
    let mut session = start(&blender, &scene);
    let full = session.render_region(&small_frame(2), LIMIT).unwrap();
    // More regions than the session keeps in flight, of different sizes, so that an answer
    // matched to the wrong region would show.
    let rects: Vec<Rect> = (0..20u32)
        .map(|i| {
            rect(
                (i * 37) % (W - 12),
                (i * 23) % (H - 9),
                4 + i % 9,
                3 + i % 7,
            )
        })
        .collect();
    let requests: Vec<RegionRequest> = rects
        .iter()
        .map(|&r| small_frame(2).with_region(r))
        .collect();
    let images = session.render_regions(&requests, LIMIT).unwrap();
    assert_eq!(images.len(), rects.len());
    for (image, &r) in images.iter().zip(&rects) {
        assert_eq!((image.width, image.height), (r.w, r.h));
        // Cycles on the CPU renders a region exactly as the same pixels of the whole frame.
        assert_eq!(image.pixels, full.crop(r).unwrap().pixels, "{r:?}");
    }
    assert_eq!(session.process_starts(), 1);
    // One bad request fails the whole batch before Blender sees any of it.
    let mut bad = requests.clone();
    bad[3].region = rect(W - 2, 0, 4, 4);
    let err = session.render_regions(&bad, LIMIT).unwrap_err();
    assert!(matches!(err, BlenderError::InvalidRequest(_)), "{err}");
    assert!(session.render_regions(&[], LIMIT).unwrap().is_empty());
    assert_eq!(session.process_starts(), 1);
}

#[test]
fn a_pool_reuses_its_processes_and_never_runs_more_than_its_limit() {
    let Some(blender) = blender() else { return };
    let dir = tempfile::tempdir().unwrap();
    let scene = make_scene(&blender, dir.path(), "default");
    let moved = make_scene(&blender, dir.path(), "moved");
    let pool = BlenderPool::new(2, SessionOptions::default());
    let request = small_frame(1);
    // Four threads render one scene through a pool of two processes.
    let images: Vec<RgbImage> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut session = pool.take(&blender, "default", &scene).unwrap();
                    assert!(pool.live() <= 2);
                    session.render_region(&request, LIMIT).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(pool.live() <= 2, "{} processes", pool.live());
    for image in &images[1..] {
        assert_eq!(image.pixels, images[0].pixels);
    }
    // The same scene again: an idle process is reused, none started.
    let live = pool.live();
    {
        let mut again = pool.take(&blender, "default", &scene).unwrap();
        assert_eq!(again.process_starts(), 1);
        assert_eq!(again.render_region(&request, LIMIT).unwrap(), images[0]);
    }
    assert_eq!(pool.live(), live);
    // Another scene while both slots are held by idle sessions of the first: one of them
    // is ended to make room, and the other scene's pixels come back.
    let a = pool.take(&blender, "default", &scene).unwrap();
    let b = pool.take(&blender, "default", &scene).unwrap();
    drop((a, b));
    assert_eq!(pool.live(), 2);
    let mut other = pool.take(&blender, "moved", &moved).unwrap();
    let moved_image = other.render_region(&request, LIMIT).unwrap();
    assert_ne!(
        moved_image.pixels, images[0].pixels,
        "the other scene rendered"
    );
    assert_eq!(pool.live(), 2);
    // A scene that cannot start leaves its slot free.
    drop(other);
    let missing = dir.path().join("missing.blend");
    assert!(matches!(
        pool.take(&blender, "missing", &missing),
        Err(BlenderError::SceneNotFound { .. })
    ));
    assert_eq!(
        pool.live(),
        1,
        "the failed start gave its slot back after ending an idle one"
    );
}
