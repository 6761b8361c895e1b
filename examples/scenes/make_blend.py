"""Build a small animated Cycles scene for Pictor's Blender engine and save it as a .blend.

Run with Blender (3.x or later):

    blender -b --factory-startup --python examples/scenes/make_blend.py -- OUT.blend [--variant VARIANT]

VARIANT is `default` (the example scene) or `moved` (the same scene with the sphere moved
and the cube's material changed: a "different scene" for verification tests).

The scene: a grey ground plane, a red glossy sphere that moves over frames 1-24, a gold
metallic cube that turns a quarter turn, a blue diffuse cylinder, one area light and one
sun, a camera, a dim grey world. Cycles at 512x384 and 32 samples, no adaptive sampling,
no denoising, a fixed seed, the "Standard" view transform, 8-bit RGB PNG output. A frame
renders in a few seconds on two CPU cores.
"""

import math
import os
import sys

import bpy


def parse_args():
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    out = None
    variant = "default"
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--variant" and i + 1 < len(argv):
            variant = argv[i + 1]
            i += 2
            continue
        if out is None and not arg.startswith("--"):
            out = arg
            i += 1
            continue
        sys.exit("make_blend.py: unexpected argument %r" % arg)
    if out is None:
        sys.exit("usage: blender -b --factory-startup --python make_blend.py -- OUT.blend "
                 "[--variant default|moved]")
    if variant not in ("default", "moved"):
        sys.exit("make_blend.py: unknown variant %r (default or moved)" % variant)
    return os.path.abspath(out), variant


def principled(name, color, roughness, metallic=0.0):
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    bsdf = mat.node_tree.nodes.get("Principled BSDF")
    bsdf.inputs["Base Color"].default_value = (color[0], color[1], color[2], 1.0)
    bsdf.inputs["Roughness"].default_value = roughness
    bsdf.inputs["Metallic"].default_value = metallic
    return mat


def add_object(obj, material):
    obj.data.materials.append(material)
    return obj


def build(variant):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.name = "Pictor"

    # Ground.
    bpy.ops.mesh.primitive_plane_add(size=20.0, location=(0.0, 0.0, 0.0))
    ground = add_object(bpy.context.active_object, principled("Ground", (0.45, 0.45, 0.42), 0.8))
    ground.name = "Ground"

    # A red glossy sphere that moves from left to right.
    bpy.ops.mesh.primitive_uv_sphere_add(segments=48, ring_count=24, radius=0.8,
                                         location=(-1.6, 0.0, 0.8))
    sphere = bpy.context.active_object
    sphere.name = "Sphere"
    bpy.ops.object.shade_smooth()
    add_object(sphere, principled("Red", (0.8, 0.08, 0.05), 0.3))
    start_x, end_x = (-1.6, -0.4) if variant == "default" else (-0.6, 0.9)
    sphere.location = (start_x, 0.0, 0.8)
    sphere.keyframe_insert(data_path="location", frame=1)
    sphere.location = (end_x, -0.3, 0.8)
    sphere.keyframe_insert(data_path="location", frame=24)

    # A metallic cube that turns a quarter turn.
    bpy.ops.mesh.primitive_cube_add(size=1.2, location=(1.4, 0.6, 0.6))
    cube = bpy.context.active_object
    cube.name = "Cube"
    if variant == "default":
        add_object(cube, principled("Gold", (0.9, 0.65, 0.2), 0.25, metallic=1.0))
    else:
        add_object(cube, principled("Green", (0.1, 0.7, 0.2), 0.6))
    cube.rotation_euler = (0.0, 0.0, 0.0)
    cube.keyframe_insert(data_path="rotation_euler", frame=1)
    cube.rotation_euler = (0.0, 0.0, math.radians(90.0))
    cube.keyframe_insert(data_path="rotation_euler", frame=24)

    # A blue diffuse cylinder at the back.
    bpy.ops.mesh.primitive_cylinder_add(vertices=32, radius=0.5, depth=1.6,
                                        location=(0.2, 2.2, 0.8))
    cylinder = bpy.context.active_object
    cylinder.name = "Cylinder"
    bpy.ops.object.shade_smooth()
    add_object(cylinder, principled("Blue", (0.1, 0.2, 0.8), 0.6))

    # Lights: a warm area light and a cool sun.
    bpy.ops.object.light_add(type="AREA", location=(-2.5, -2.5, 4.0))
    area = bpy.context.active_object
    area.name = "Area"
    area.data.energy = 200.0
    area.data.size = 2.0
    area.data.color = (1.0, 0.92, 0.8)
    area.rotation_euler = (math.radians(40.0), 0.0, math.radians(-45.0))

    bpy.ops.object.light_add(type="SUN", location=(0.0, 0.0, 6.0))
    sun = bpy.context.active_object
    sun.name = "Sun"
    sun.data.energy = 1.5
    sun.data.angle = math.radians(5.0)
    sun.data.color = (0.85, 0.9, 1.0)
    sun.rotation_euler = (math.radians(35.0), math.radians(15.0), math.radians(60.0))

    # Camera.
    bpy.ops.object.camera_add(location=(0.0, -7.5, 3.2))
    camera = bpy.context.active_object
    camera.name = "Camera"
    camera.rotation_euler = (math.radians(72.0), 0.0, 0.0)
    camera.data.lens = 35.0
    scene.camera = camera

    # World: dim grey.
    world = bpy.data.worlds.new("World")
    world.use_nodes = True
    background = world.node_tree.nodes.get("Background")
    background.inputs["Color"].default_value = (0.05, 0.05, 0.06, 1.0)
    background.inputs["Strength"].default_value = 1.0
    scene.world = world

    # Render settings.
    scene.frame_start = 1
    scene.frame_end = 24
    scene.frame_set(1)
    scene.render.engine = "CYCLES"
    scene.render.resolution_x = 512
    scene.render.resolution_y = 384
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.render.image_settings.color_depth = "8"
    scene.render.dither_intensity = 0.0
    scene.cycles.device = "CPU"
    scene.cycles.samples = 32
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = False
    scene.cycles.seed = 0
    scene.cycles.use_animated_seed = False
    scene.cycles.max_bounces = 6
    scene.cycles.diffuse_bounces = 3
    scene.cycles.glossy_bounces = 3
    scene.cycles.transmission_bounces = 4
    scene.cycles.transparent_max_bounces = 4
    scene.cycles.volume_bounces = 0
    scene.cycles.caustics_reflective = False
    scene.cycles.caustics_refractive = False
    scene.cycles.sample_clamp_indirect = 10.0
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.view_settings.exposure = 0.0
    scene.view_settings.gamma = 1.0
    scene.display_settings.display_device = "sRGB"


def main():
    out, variant = parse_args()
    build(variant)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=out, check_existing=False)
    print("make_blend.py: wrote %s (variant %s)" % (out, variant))


main()
