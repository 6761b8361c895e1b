#!/usr/bin/env python3
"""Writes the project's example scenes (cornell-box.gltf, textured-crate.gltf + crate.png).

Standard library only. Run from anywhere: python3 examples/scenes/generate.py
The output is deterministic; the committed files are exactly what this script writes.
"""
import base64
import json
import math
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


class Builder:
    """Accumulates one binary buffer plus bufferViews/accessors/meshes."""

    def __init__(self):
        self.bin = bytearray()
        self.views = []
        self.accessors = []
        self.meshes = []

    def _view(self, data):
        while len(self.bin) % 4:
            self.bin.append(0)
        self.views.append({"buffer": 0, "byteOffset": len(self.bin), "byteLength": len(data)})
        self.bin.extend(data)
        return len(self.views) - 1

    def floats(self, rows, kind, minmax=False):
        data = b"".join(struct.pack("<%df" % len(r), *r) for r in rows)
        acc = {"bufferView": self._view(data), "componentType": 5126, "count": len(rows), "type": kind}
        if minmax:
            acc["min"] = [min(r[i] for r in rows) for i in range(len(rows[0]))]
            acc["max"] = [max(r[i] for r in rows) for i in range(len(rows[0]))]
        self.accessors.append(acc)
        return len(self.accessors) - 1

    def indices(self, idx):
        data = struct.pack("<%dH" % len(idx), *idx)
        self.accessors.append({"bufferView": self._view(data), "componentType": 5123, "count": len(idx), "type": "SCALAR"})
        return len(self.accessors) - 1

    def primitive(self, geom, material):
        pos, nrm, uv, idx = geom
        attrs = {"POSITION": self.floats(pos, "VEC3", True), "NORMAL": self.floats(nrm, "VEC3")}
        if uv:
            attrs["TEXCOORD_0"] = self.floats(uv, "VEC2")
        return {"attributes": attrs, "indices": self.indices(idx), "material": material}

    def mesh(self, name, prims):
        self.meshes.append({"name": name, "primitives": prims})
        return len(self.meshes) - 1

    def buffer(self, uri_name=None):
        data = "data:application/octet-stream;base64," + base64.b64encode(bytes(self.bin)).decode()
        return [{"byteLength": len(self.bin), "uri": data}]


def quad(corners, normal, geom=None, uv_scale=1.0):
    """Appends a quad (4 corners, counter-clockwise seen from the normal side)."""
    pos, nrm, uv, idx = geom if geom else ([], [], [], [])
    base = len(pos)
    pos.extend(corners)
    nrm.extend([normal] * 4)
    uv.extend([[0, uv_scale], [uv_scale, uv_scale], [uv_scale, 0], [0, 0]])
    idx.extend([base, base + 1, base + 2, base, base + 2, base + 3])
    return (pos, nrm, uv, idx)


def cube(geom=None):
    """Unit cube centred at the origin, 24 vertices with face normals and UVs."""
    g = geom if geom else ([], [], [], [])
    h = 0.5
    faces = [
        ([1, 0, 0], [[h, -h, h], [h, -h, -h], [h, h, -h], [h, h, h]]),
        ([-1, 0, 0], [[-h, -h, -h], [-h, -h, h], [-h, h, h], [-h, h, -h]]),
        ([0, 1, 0], [[-h, h, h], [h, h, h], [h, h, -h], [-h, h, -h]]),
        ([0, -1, 0], [[-h, -h, -h], [h, -h, -h], [h, -h, h], [-h, -h, h]]),
        ([0, 0, 1], [[-h, -h, h], [h, -h, h], [h, h, h], [-h, h, h]]),
        ([0, 0, -1], [[h, -h, -h], [-h, -h, -h], [-h, h, -h], [h, h, -h]]),
    ]
    for n, c in faces:
        quad(c, n, g)
    return g


def sphere(radius, seg=32, rings=16):
    pos, nrm, uv, idx = [], [], [], []
    for r in range(rings + 1):
        th = math.pi * r / rings
        for s in range(seg + 1):
            ph = 2 * math.pi * s / seg
            n = [math.sin(th) * math.cos(ph), math.cos(th), -math.sin(th) * math.sin(ph)]
            pos.append([round(radius * c, 6) for c in n])
            nrm.append([round(c, 6) for c in n])
            uv.append([s / seg, r / rings])
    for r in range(rings):
        for s in range(seg):
            a, b = r * (seg + 1) + s, (r + 1) * (seg + 1) + s
            idx.extend([a, b, a + 1, a + 1, b, b + 1])
    return (pos, nrm, uv, idx)


def quat_y(deg):
    a = math.radians(deg) / 2
    return [0.0, round(math.sin(a), 7), 0.0, round(math.cos(a), 7)]


def material(name, color, metallic=0.0, roughness=1.0, **extra):
    m = {"name": name, "pbrMetallicRoughness": {"baseColorFactor": color + [1.0], "metallicFactor": metallic, "roughnessFactor": roughness}}
    m.update(extra)
    return m


def write(name, doc):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def cornell_box():
    b = Builder()
    white, red, green, light = 0, 1, 2, 3
    materials = [
        material("white", [0.73, 0.73, 0.73]),
        material("red", [0.63, 0.065, 0.05]),
        material("green", [0.14, 0.45, 0.091]),
        material("light", [0.0, 0.0, 0.0], emissiveFactor=[1.0, 0.85, 0.65],
                 extensions={"KHR_materials_emissive_strength": {"emissiveStrength": 14.0}}),
    ]
    # Room: x in [-1, 1], y in [0, 2], z in [-1, 1]; open towards +z, normals face inwards.
    g = quad([[-1, 0, 1], [1, 0, 1], [1, 0, -1], [-1, 0, -1]], [0, 1, 0])  # floor
    quad([[-1, 2, -1], [1, 2, -1], [1, 2, 1], [-1, 2, 1]], [0, -1, 0], g)  # ceiling
    quad([[-1, 0, -1], [1, 0, -1], [1, 2, -1], [-1, 2, -1]], [0, 0, 1], g)  # back wall
    left = quad([[-1, 0, 1], [-1, 0, -1], [-1, 2, -1], [-1, 2, 1]], [1, 0, 0])
    right = quad([[1, 0, -1], [1, 0, 1], [1, 2, 1], [1, 2, -1]], [-1, 0, 0])
    room = b.mesh("room", [b.primitive(g, white), b.primitive(left, red), b.primitive(right, green)])
    s = 0.28
    panel = quad([[-s, 1.995, -s], [s, 1.995, -s], [s, 1.995, s], [-s, 1.995, s]], [0, -1, 0])
    lamp = b.mesh("ceiling light", [b.primitive(panel, light)])
    box = b.mesh("box", [b.primitive(cube(), white)])
    nodes = [
        {"name": "camera", "camera": 0, "translation": [0, 1, 3.9]},
        {"name": "room", "mesh": room},
        {"name": "ceiling light", "mesh": lamp},
        {"name": "short box", "mesh": box, "translation": [0.36, 0.3, 0.32], "rotation": quat_y(-18), "scale": [0.6, 0.6, 0.6]},
        {"name": "tall box", "mesh": box, "translation": [-0.33, 0.6, -0.3], "rotation": quat_y(17), "scale": [0.6, 1.2, 0.6]},
    ]
    # The tall box turns by 90 degrees and slides a little over frames 1..=24 (t = 0 .. 23/24 s).
    end = 23 / 24
    times = b.floats([[0.0], [end / 2], [end]], "SCALAR", True)
    rots = b.floats([quat_y(17), quat_y(62), quat_y(107)], "VEC4")
    moves = b.floats([[-0.33, 0.6, -0.3], [-0.3, 0.6, -0.22], [-0.27, 0.6, -0.14]], "VEC3")
    animation = {
        "name": "tall box turns",
        "samplers": [
            {"input": times, "output": rots, "interpolation": "LINEAR"},
            {"input": times, "output": moves, "interpolation": "LINEAR"},
        ],
        "channels": [
            {"sampler": 0, "target": {"node": 4, "path": "rotation"}},
            {"sampler": 1, "target": {"node": 4, "path": "translation"}},
        ],
    }
    doc = {
        "asset": {"version": "2.0", "generator": "pictor examples/scenes/generate.py",
                  "copyright": "Pictor contributors, Apache-2.0 OR MIT"},
        "extensionsUsed": ["KHR_materials_emissive_strength"],
        "scene": 0,
        "scenes": [{"name": "Cornell box", "nodes": [0, 1, 2, 3, 4]}],
        "nodes": nodes,
        "cameras": [{"type": "perspective", "perspective": {"yfov": 0.62, "znear": 0.05}}],
        "materials": materials,
        "meshes": b.meshes,
        "animations": [animation],
        "accessors": b.accessors,
        "bufferViews": b.views,
        "buffers": b.buffer(),
    }
    write("cornell-box.gltf", doc)


def png_rgb(w, h, pixel):
    raw = b"".join(b"\x00" + bytes(c for x in range(w) for c in pixel(x, y)) for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def crate_texel(x, y):
    """64x64 wooden crate face: a dark frame, planks, and one diagonal brace."""
    n = 64
    frame = x < 7 or y < 7 or x >= n - 7 or y >= n - 7
    brace = abs(x - y) < 5
    plank_edge = (y % 12) == 0
    grain = ((x * 7 + y * 3) % 11) * 3
    if frame or brace:
        return (120 + grain // 2, 72 + grain // 3, 30)
    if plank_edge:
        return (70, 42, 18)
    return (196 - grain, 150 - grain, 88 - grain // 2)


def textured_crate():
    b = Builder()
    with open(os.path.join(HERE, "crate.png"), "wb") as f:
        f.write(png_rgb(64, 64, crate_texel))
    materials = [
        material("crate", [1.0, 1.0, 1.0], roughness=0.8, pbrMetallicRoughness={
            "baseColorTexture": {"index": 0}, "metallicFactor": 0.0, "roughnessFactor": 0.8}),
        material("floor", [0.55, 0.57, 0.6], roughness=0.9),
        material("gold", [1.0, 0.78, 0.34], metallic=1.0, roughness=0.25),
        material("blue plastic", [0.1, 0.2, 0.7], roughness=0.35),
    ]
    floor = b.mesh("floor", [b.primitive(quad([[-4, 0, 4], [4, 0, 4], [4, 0, -4], [-4, 0, -4]], [0, 1, 0]), 1)])
    crate = b.mesh("crate", [b.primitive(cube(), 0)])
    ball = b.mesh("sphere", [b.primitive(sphere(0.45), 2)])
    ball2 = b.mesh("small sphere", [b.primitive(sphere(0.3, 24, 12), 3)])
    nodes = [
        {"name": "camera", "camera": 0, "translation": [1.6, 1.9, 4.2], "rotation": [-0.179, 0.172, 0.0318, 0.968]},
        {"name": "floor", "mesh": floor},
        {"name": "crate", "mesh": crate, "translation": [-0.35, 0.5, 0], "rotation": quat_y(25)},
        {"name": "gold sphere", "mesh": ball, "translation": [0.95, 0.45, 0.35]},
        {"name": "blue sphere", "mesh": ball2, "translation": [0.3, 0.3, 1.25]},
        {"name": "key light", "translation": [2.5, 4.0, 2.5], "extensions": {"KHR_lights_punctual": {"light": 0}}},
        {"name": "spot", "translation": [-2.5, 3.0, 1.5], "rotation": [-0.33, -0.42, -0.17, 0.83],
         "extensions": {"KHR_lights_punctual": {"light": 1}}},
        {"name": "sky fill", "rotation": [-0.5, 0.3, 0.2, 0.79], "extensions": {"KHR_lights_punctual": {"light": 2}}},
    ]
    doc = {
        "asset": {"version": "2.0", "generator": "pictor examples/scenes/generate.py",
                  "copyright": "Pictor contributors, Apache-2.0 OR MIT"},
        "extensionsUsed": ["KHR_lights_punctual"],
        "extensions": {"KHR_lights_punctual": {"lights": [
            {"name": "key", "type": "point", "color": [1.0, 0.92, 0.8], "intensity": 40.0},
            {"name": "spot", "type": "spot", "color": [0.7, 0.8, 1.0], "intensity": 30.0,
             "spot": {"innerConeAngle": 0.3, "outerConeAngle": 0.6}},
            {"name": "fill", "type": "directional", "color": [0.6, 0.7, 1.0], "intensity": 0.35},
        ]}},
        "scene": 0,
        "scenes": [{"name": "textured crate", "nodes": list(range(len(nodes)))}],
        "nodes": nodes,
        "cameras": [{"type": "perspective", "perspective": {"yfov": 0.7, "znear": 0.05}}],
        "materials": materials,
        "textures": [{"source": 0, "sampler": 0}],
        "samplers": [{"magFilter": 9729, "minFilter": 9729, "wrapS": 10497, "wrapT": 10497}],
        "images": [{"uri": "crate.png", "mimeType": "image/png"}],
        "meshes": b.meshes,
        "accessors": b.accessors,
        "bufferViews": b.views,
        "buffers": b.buffer(),
    }
    write("textured-crate.gltf", doc)


if __name__ == "__main__":
    cornell_box()
    textured_crate()
