//! Bit-exactness: pixels, tiles and frames agree, across runs and thread counts, and a
//! few pixels of the Cornell box are pinned to guard cross-machine determinism.

mod common;

use common::*;
use pictor_gpu::{render_frame, render_pixel, render_tile, Rect, RenderError};

#[test]
fn pixels_tiles_and_frames_agree() {
    let scene = load(&example_scene("cornell-box.gltf"));
    let s = settings(40, 30, 3, 5);
    let full = render(&scene, s);
    let rect = Rect {
        x: 7,
        y: 11,
        w: 13,
        h: 9,
    };
    let tile = render_tile(&scene, &s, rect).unwrap_or_else(|e| panic!("{e}"));
    for (x, y) in [(0, 0), (39, 29), (20, 15), (7, 11), (19, 19), (12, 13)] {
        let px = render_pixel(&scene, &s, x, y).unwrap_or_else(|e| panic!("{e}"));
        let i = ((y * s.width + x) * 3) as usize;
        assert_eq!(px[..], full[i..i + 3], "pixel {x},{y} vs frame");
        if (rect.x..rect.x + rect.w).contains(&x) && (rect.y..rect.y + rect.h).contains(&y) {
            let j = (((y - rect.y) * rect.w + (x - rect.x)) * 3) as usize;
            assert_eq!(px[..], tile[j..j + 3], "pixel {x},{y} vs tile");
        }
    }
    assert_eq!(render(&scene, s), full, "rendering twice differs");
}

#[test]
fn thread_count_does_not_change_the_image() {
    let scene = load(&example_scene("textured-crate.gltf"));
    let s = settings(24, 18, 2, 1);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let many = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let a = one
        .install(|| render_frame(&scene, &s))
        .unwrap_or_else(|e| panic!("{e}"));
    let b = many
        .install(|| render_frame(&scene, &s))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a, b);
}

/// Computed once on x86_64 and hard-coded: any machine must produce these bytes.
#[test]
fn cornell_box_pinned_pixels() {
    let scene = load(&example_scene("cornell-box.gltf"));
    let s = settings(64, 64, 8, 1);
    let got: Vec<[u8; 3]> = [(32, 12), (5, 32), (58, 32), (32, 60), (22, 36)]
        .iter()
        .map(|&(x, y)| render_pixel(&scene, &s, x, y).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let pinned: Vec<[u8; 3]> = vec![
        [73, 76, 54],
        [118, 41, 32],
        [63, 97, 42],
        [64, 39, 33],
        [88, 76, 59],
    ];
    assert_eq!(got, pinned);
}

#[test]
fn bad_settings_are_rejected() {
    let scene = load(&example_scene("cornell-box.gltf"));
    let r = render_tile(
        &scene,
        &settings(16, 16, 1, 1),
        Rect {
            x: 10,
            y: 0,
            w: 7,
            h: 1,
        },
    );
    assert!(matches!(r, Err(RenderError::RectOutOfBounds { .. })));
    for bad in [
        settings(16, 16, 0, 1),
        settings(0, 16, 1, 1),
        settings(16, 20_000, 1, 1),
    ] {
        match render_pixel(&scene, &bad, 0, 0) {
            Err(e @ RenderError::InvalidSettings(_)) => assert!(!e.to_string().is_empty()),
            other => panic!("expected InvalidSettings, got {other:?}"),
        }
    }
    assert!(matches!(
        render_pixel(&scene, &settings(16, 16, 1, 1), 16, 0),
        Err(RenderError::RectOutOfBounds { .. })
    ));
}
