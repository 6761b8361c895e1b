# Pictor's render server, run inside Blender:
#
#   blender -b --factory-startup -noaudio --disable-autoexec SCENE.blend --python server.py
#
# It answers render requests for the loaded scene, one JSON object per line on stdin, with
# one JSON object per line on stdout. Blender prints its own messages on stdout too, so every
# answer is a single line that starts with PREFIX (the reader looks for PREFIX anywhere in a
# line, in case Blender's buffered output lands just before it). The first answer, sent
# once the scene is loaded, is {"ready": true, ...}.
#
# Request:  {"id": 7, "cmd": "render", "frame": 1, "width": 512, "height": 384,
#            "region": [x, y, w, h],  (pixels, top-left origin)
#            "samples": 32, "seed": 0, "engine": "CYCLES" | "BLENDER_EEVEE",
#            "device": "CPU" | "CUDA" | "OPTIX", "threads": 0 (= automatic) or n,
#            "persistent_data": true, "output": "/abs/path/tile.png"}
#           {"id": 8, "cmd": "quit"}
# Answer:   {"id": 7, "ok": true, "path": "...", "seconds": 1.25, "width": w, "height": h}
#           {"id": 7, "error": "text", "kind": "request" | "device" | "render"}
#
# With `-- --apply JSON` after Blender's own arguments, the script applies one request's
# settings (output path included) and returns, so that Blender's own `-f FRAME` that
# follows renders it: plain Blender, for baselines.

import json
import os
import sys
import time

import bpy

PREFIX = "@@PICTOR-BLENDER-7f3a@@ "
ENGINES = ("CYCLES", "BLENDER_EEVEE")
DEVICES = ("CPU", "CUDA", "OPTIX")
MAX_SIZE = 65536


class RequestError(Exception):
    def __init__(self, kind, message):
        Exception.__init__(self, message)
        self.kind = kind


def answer(obj):
    sys.stdout.write(PREFIX + json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def need_int(req, key, low, high):
    value = req.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RequestError("request", "%s must be an integer in %d..=%d, got %r"
                           % (key, low, high, value))
    return value


def parse(req):
    if not isinstance(req, dict):
        raise RequestError("request", "a request must be a JSON object")
    frame = need_int(req, "frame", -1048574, 1048574)
    width = need_int(req, "width", 1, MAX_SIZE)
    height = need_int(req, "height", 1, MAX_SIZE)
    region = req.get("region")
    if not isinstance(region, list) or len(region) != 4:
        raise RequestError("request", "region must be [x, y, w, h]")
    for v in region:
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise RequestError("request", "region values must be non-negative integers")
    x, y, w, h = region
    if w == 0 or h == 0 or x + w > width or y + h > height:
        raise RequestError("request", "region %r is not inside the %dx%d frame"
                           % (region, width, height))
    engine = req.get("engine")
    if engine not in ENGINES:
        raise RequestError("request", "engine must be one of %s, got %r" % (ENGINES, engine))
    device = req.get("device")
    if device not in DEVICES:
        raise RequestError("request", "device must be one of %s, got %r" % (DEVICES, device))
    output = req.get("output")
    if not isinstance(output, str) or not os.path.isabs(output) or "#" in output:
        raise RequestError("request", "output must be an absolute path without '#'")
    return {
        "frame": frame, "width": width, "height": height, "region": (x, y, w, h),
        "samples": need_int(req, "samples", 1, 1 << 24),
        "seed": need_int(req, "seed", 0, (1 << 31) - 1),
        "threads": need_int(req, "threads", 0, 1024),
        "engine": engine, "device": device, "output": output,
        "persistent_data": bool(req.get("persistent_data", False)),
    }


def put(obj, name, value):
    """Sets obj.name to value unless it already has it: writing a render setting, even its
    own value, makes Cycles reset its session and sync the scene again on the next render
    (a few milliseconds each time, most of the cost of a checker's small region)."""
    if getattr(obj, name) != value:
        setattr(obj, name, value)


def use_device(scene, device):
    """Point Cycles at `device`, or raise a "device" error naming it."""
    if device == "CPU":
        put(scene.cycles, "device", "CPU")
        return
    prefs = bpy.context.preferences.addons["cycles"].preferences
    built = [item[0] for item in prefs.get_device_types(bpy.context)]
    if device not in built:
        raise RequestError("device", "%s is not available: this Blender build supports %s"
                           % (device, ", ".join(t for t in built if t != "NONE") or "no GPU"))
    if prefs.compute_device_type != device or not prefs.devices:
        prefs.compute_device_type = device
        prefs.refresh_devices()
    found = [d for d in prefs.devices if d.type == device]
    if not found:
        raise RequestError("device", "%s is not available: Blender found no %s device on "
                           "this machine" % (device, device))
    for d in prefs.devices:
        put(d, "use", d.type == device)
    put(scene.cycles, "device", "GPU")


def set_border(render, width, height, region):
    """Top-left pixel region -> Blender's normalised border (bottom-left origin).

    Blender turns the border back into pixels by truncating border * size; the quarter
    pixel keeps float rounding from moving an edge, and 1.0 stays exact at the far edges."""
    x, y, w, h = region
    put(render, "use_border", True)
    put(render, "use_crop_to_border", True)
    render.border_min_x = min(1.0, (x + 0.25) / width)
    render.border_max_x = 1.0 if x + w == width else (x + w + 0.25) / width
    render.border_min_y = min(1.0, (height - y - h + 0.25) / height)
    render.border_max_y = 1.0 if y == 0 else (height - y + 0.25) / height


def apply(scene, req):
    """Sets everything that decides the pixels (only what differs from the scene's current
    value, see put)."""
    if scene.camera is None:
        raise RequestError("render", "the scene has no active camera")
    render = scene.render
    put(render, "engine", req["engine"])
    put(render, "resolution_x", req["width"])
    put(render, "resolution_y", req["height"])
    put(render, "resolution_percentage", 100)
    set_border(render, req["width"], req["height"], req["region"])
    if req["threads"] > 0:
        put(render, "threads_mode", "FIXED")
        put(render, "threads", req["threads"])
    else:
        put(render, "threads_mode", "AUTO")
    put(render, "use_persistent_data", req["persistent_data"])
    # The compositor and sequencer could change pixels across tile edges or write files
    # (File Output nodes); the stamp burns the render time into the image.
    put(render, "use_compositing", False)
    put(render, "use_sequencer", False)
    put(render, "use_stamp", False)
    put(render, "dither_intensity", 0.0)
    put(render, "use_file_extension", True)
    put(render, "filepath", req["output"])
    image = render.image_settings
    put(image, "file_format", "PNG")
    put(image, "color_mode", "RGB")
    put(image, "color_depth", "8")
    put(image, "compression", 15)
    view = scene.view_settings
    put(view, "view_transform", "Standard")
    put(view, "look", "None")
    put(view, "exposure", 0.0)
    put(view, "gamma", 1.0)
    put(view, "use_curve_mapping", False)
    put(scene.display_settings, "display_device", "sRGB")
    if req["engine"] == "CYCLES":
        cycles = scene.cycles
        use_device(scene, req["device"])
        put(cycles, "samples", req["samples"])
        put(cycles, "use_adaptive_sampling", False)
        put(cycles, "use_denoising", False)
        put(cycles, "seed", req["seed"])
        put(cycles, "use_animated_seed", False)
        put(cycles, "time_limit", 0.0)
        if hasattr(cycles, "sample_offset"):
            put(cycles, "sample_offset", 0)
    else:
        put(scene.eevee, "taa_render_samples", req["samples"])
    if scene.frame_current != req["frame"] or scene.frame_subframe != 0.0:
        scene.frame_set(req["frame"])


def render(scene, req):
    apply(scene, req)
    output = req["output"]
    # A still render writes to the output path itself; should a Blender version number the
    # file like an animation frame instead, look there too.
    candidates = [output, scene.render.frame_path(frame=scene.frame_current)]
    for path in candidates:
        if os.path.exists(path):
            os.remove(path)
    start = time.monotonic()
    try:
        bpy.ops.render.render(write_still=True)
    except RuntimeError as e:
        raise RequestError("render", str(e).strip())
    seconds = time.monotonic() - start
    written = [path for path in candidates if os.path.exists(path)]
    if not written:
        raise RequestError("render", "Blender wrote no image (expected %s)" % output)
    if written[0] != output:
        os.replace(written[0], output)
    _, _, w, h = req["region"]
    return {"ok": True, "path": output, "seconds": seconds, "width": w, "height": h}


def serve(scene):
    answer({"ready": True, "version": bpy.app.version_string, "file": bpy.data.filepath,
            "scene": scene.name})
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        line = line.strip()
        if not line:
            continue
        ident = None
        try:
            req = json.loads(line)
            ident = req.get("id") if isinstance(req, dict) else None
            cmd = req.get("cmd") if isinstance(req, dict) else None
            if cmd == "quit":
                answer({"id": ident, "ok": True})
                return
            if cmd != "render":
                raise RequestError("request", "unknown command %r" % (cmd,))
            reply = render(scene, parse(req))
            reply["id"] = ident
            answer(reply)
        except RequestError as e:
            answer({"id": ident, "error": str(e), "kind": e.kind})
        except Exception as e:  # noqa: BLE001 - any failure becomes an answer
            answer({"id": ident, "error": "%s: %s" % (type(e).__name__, e), "kind": "render"})


def main():
    scene = bpy.context.scene
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    if not bpy.data.filepath:
        answer({"error": "no .blend file was loaded", "kind": "request"})
        return
    if len(argv) == 2 and argv[0] == "--apply":
        try:
            apply(scene, parse(json.loads(argv[1])))
        except Exception as e:  # noqa: BLE001
            answer({"error": str(e), "kind": getattr(e, "kind", "request")})
            # Stop Blender before it renders with half-applied settings.
            sys.stdout.flush()
            os._exit(3)
        answer({"applied": True})
        return
    serve(scene)


main()
