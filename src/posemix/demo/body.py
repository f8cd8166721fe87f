"""The demo's articulated body: proportions, pose sampling, and posing into image space.

Why 3D: a skeleton posed in 3D and projected orthographically gives side and back views,
foreshortened limbs and self-occlusion for free, so left and right differ only the way
they do in photos (the face marks and the hair tell front from back; no colour per side).
The body is a set of capsules (cylinders with round ends) and spheres, which project to
simple 2D shapes with a closed-form depth, so :mod:`posemix.demo.render` can z-buffer
them per pixel.

Frames: the person frame has x towards the person's left, y down and z backwards (the
person faces -z, towards the camera); lengths are fractions of the body height. The
camera frame is the same at yaw 0: x right, y down, z into the image. Joints are the 19
of MMPose's ``coco_aic`` union: COCO's 17 followed by head_top and neck.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posemix.keypoints import load_schema

COCO_NAMES: tuple[str, ...] = load_schema("coco").keypoints
AIC_NAMES: tuple[str, ...] = load_schema("aic").keypoints
JOINT_NAMES: tuple[str, ...] = COCO_NAMES + ("head_top", "neck")
COCO_INDICES = np.array([JOINT_NAMES.index(n) for n in COCO_NAMES])
AIC_INDICES = np.array([JOINT_NAMES.index(n) for n in AIC_NAMES])
FACE_MARKS = frozenset(JOINT_NAMES.index(n) for n in COCO_NAMES[:5])

# Surface materials; render.py gives each a colour from the person's style.
SKIN, TOP, UPPER_ARM, LOWER_ARM, BOTTOM, LOWER_LEG, SHOE, HEAD = range(8)

SIDES = (("left", 1.0), ("right", -1.0))  # name prefix and the sign of x in the person frame


def _rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


@dataclass(frozen=True)
class BodyShape:
    """Proportions (fractions of the body height) of one person."""

    head_radius: float
    neck_length: float
    spine_length: float
    shoulder_half_width: float
    hip_half_width: float
    upper_arm: float
    forearm: float
    thigh: float
    shin: float
    girth: float  # multiplies every limb and torso radius

    @property
    def standing_height(self) -> float:
        """Sole to crown when standing straight (used to scale a person to pixels)."""
        return (self.thigh + self.shin + 0.03 + self.spine_length + self.neck_length
                + 2 * self.head_radius)


def sample_shape(rng: np.random.Generator) -> BodyShape:
    """Plausible adult-like proportions with about ±10% variation."""
    def vary(value: float, spread: float = 0.08) -> float:
        return float(value * rng.uniform(1 - spread, 1 + spread))

    return BodyShape(
        head_radius=vary(0.072, 0.1), neck_length=vary(0.045), spine_length=vary(0.32),
        shoulder_half_width=vary(0.115), hip_half_width=vary(0.072), upper_arm=vary(0.165),
        forearm=vary(0.145), thigh=vary(0.235), shin=vary(0.225), girth=vary(1.0, 0.15))


@dataclass(frozen=True)
class Pose:
    """Joint angles in radians.

    ``arms[i]`` (i = 0 left, 1 right): elevation of the upper arm from hanging down,
    its azimuth (0 sideways, +pi/2 forwards, -pi/2 backwards), elbow flexion, and the
    direction the elbow bends in (0 forwards, positive towards the body's midline).
    ``legs[i]``: hip flexion (positive forwards), abduction, knee flexion, ankle angle.
    """

    torso: tuple[float, float, float]  # forward lean, sideways bend, twist
    head: tuple[float, float, float]  # turn, nod (positive looks down), tilt
    arms: np.ndarray  # (2, 4)
    legs: np.ndarray  # (2, 4)


POSE_FAMILIES = ("stand", "walk", "arms_up", "crouch", "free")
POSE_FAMILY_WEIGHTS = (0.3, 0.3, 0.15, 0.1, 0.15)


def sample_pose(rng: np.random.Generator) -> Pose:
    """A pose from one of the families standing, walking, arms up, crouching, free."""
    deg = np.deg2rad
    family = POSE_FAMILIES[rng.choice(len(POSE_FAMILIES), p=POSE_FAMILY_WEIGHTS)]
    lean, bend = rng.normal(0.0, deg(4)), rng.uniform(-deg(6), deg(6))
    twist = rng.uniform(-deg(15), deg(15))
    head = (rng.uniform(-deg(45), deg(45)), rng.uniform(-deg(20), deg(25)),
            rng.uniform(-deg(12), deg(12)))

    def arm_hanging() -> list[float]:
        return [rng.uniform(deg(3), deg(35)), rng.uniform(-deg(30), deg(70)),
                rng.uniform(0, deg(45)), rng.normal(0, 0.6)]

    def arm_free() -> list[float]:
        return [rng.uniform(0, deg(175)), rng.uniform(-deg(45), deg(120)),
                rng.uniform(0, deg(145)), rng.normal(0, 1.0)]

    def leg_standing() -> list[float]:
        return [rng.uniform(-deg(5), deg(10)), rng.uniform(0, deg(15)),
                rng.uniform(0, deg(12)), rng.uniform(-deg(10), deg(15))]

    if family == "walk":
        phase, amp = rng.uniform(0, 2 * np.pi), rng.uniform(deg(15), deg(35))
        arm_amp = rng.uniform(deg(10), deg(40))
        arms, legs = [], []
        for sign in (1.0, -1.0):
            flex = sign * amp * np.sin(phase)
            knee = rng.uniform(0, deg(15)) + max(0.0, -flex) * rng.uniform(0.5, 1.5)
            legs.append([flex, rng.uniform(0, deg(8)), knee, rng.uniform(-deg(10), deg(25))])
            swing = -sign * arm_amp * np.sin(phase)
            elevation = min(abs(swing), deg(50)) + rng.uniform(deg(3), deg(10))
            azimuth = deg(90) if swing > 0 else -deg(80)
            arms.append([elevation, azimuth, rng.uniform(deg(10), deg(60)), rng.normal(0, 0.4)])
    elif family == "arms_up":
        arms = [[rng.uniform(deg(100), deg(175)), rng.uniform(-deg(20), deg(100)),
                 rng.uniform(0, deg(100)), rng.normal(0, 0.6)]
                if rng.random() < 0.75 else arm_hanging() for _ in range(2)]
        legs = [leg_standing() for _ in range(2)]
    elif family == "crouch":
        lean = rng.uniform(deg(10), deg(40))
        arms = [[rng.uniform(deg(10), deg(90)), rng.uniform(deg(20), deg(100)),
                 rng.uniform(deg(10), deg(120)), rng.normal(0, 0.6)] for _ in range(2)]
        legs = [[rng.uniform(deg(60), deg(110)), rng.uniform(deg(5), deg(30)),
                 rng.uniform(deg(70), deg(135)), rng.uniform(deg(0), deg(30))]
                for _ in range(2)]
    elif family == "free":
        lean, bend = rng.uniform(-deg(10), deg(45)), rng.uniform(-deg(20), deg(20))
        arms = [arm_free() for _ in range(2)]
        legs = [[rng.uniform(-deg(25), deg(95)), rng.uniform(0, deg(45)),
                 rng.uniform(0, deg(120)), rng.uniform(-deg(10), deg(40))] for _ in range(2)]
    else:  # stand
        arms = [arm_hanging() for _ in range(2)]
        legs = [leg_standing() for _ in range(2)]
    return Pose(torso=(float(lean), float(bend), float(twist)),
                head=tuple(float(h) for h in head),
                arms=np.array(arms, dtype=np.float64), legs=np.array(legs, dtype=np.float64))


@dataclass(frozen=True)
class View:
    """Where the camera looks from: turn about the vertical, elevation, in-plane roll."""

    yaw: float
    pitch: float
    roll: float

    def rotation(self) -> np.ndarray:
        """Camera-from-person rotation."""
        return _rot_z(self.roll) @ _rot_x(self.pitch) @ _rot_y(self.yaw)


def sample_view(rng: np.random.Generator) -> View:
    """Mostly frontal views, but every direction (side, back) occurs; mostly upright."""
    deg = np.deg2rad
    yaw = rng.uniform(-deg(50), deg(50)) if rng.random() < 0.6 else rng.uniform(-np.pi, np.pi)
    roll = (rng.uniform(-deg(10), deg(10)) if rng.random() < 0.8
            else rng.uniform(-deg(40), deg(40)))
    return View(yaw=float(yaw), pitch=float(rng.uniform(-deg(8), deg(25))), roll=float(roll))


@dataclass(frozen=True)
class Capsule:
    """A body part in camera pixels: a cone-capped cylinder from ``a`` to ``b`` (x, y, depth)
    with radii ``ra`` and ``rb`` (a sphere when a == b)."""

    a: np.ndarray
    b: np.ndarray
    ra: float
    rb: float
    material: int


@dataclass(frozen=True)
class PosedBody:
    """One person posed and projected, in pixels relative to the pelvis.

    ``keypoints`` (19, 3) hold x, y and depth; a keypoint counts as seen when whatever is
    in front of it at its pixel is one of ``keypoint_parts[j]`` or lies less than
    ``keypoint_depth[j]`` in front of it (how deep it sits inside its own part).
    ``head_rotation`` maps head-frame directions to the camera frame (for the face marks).
    """

    parts: tuple[Capsule, ...]
    keypoints: np.ndarray
    keypoint_depth: np.ndarray
    keypoint_parts: tuple[frozenset[int], ...]
    head_parts: frozenset[int]  # the head and what is attached to it (nose, ears)
    head_rotation: np.ndarray


# Face marks on the unit head sphere (head frame: x left, y down, z back).
EYE_DIRECTION = _unit(np.array([0.36, -0.08, -0.93]))
NOSE_DIRECTION = _unit(np.array([0.0, 0.3, -1.0]))
EAR_OFFSET = np.array([0.97, 0.1, 0.12])
NOSE_RADIUS, EAR_RADIUS = 0.24, 0.28  # fractions of the head radius
EAR_SIGHT_DEPTH = 0.95  # head radii an ear may sit behind the head's surface and show
MOUTH_DIRECTION = _unit(np.array([0.0, 0.62, -0.8]))


def pose_body(shape: BodyShape, pose: Pose, view: View, scale: float) -> PosedBody:
    """Forward kinematics, then the camera rotation and ``scale`` pixels per body height."""
    g = shape.girth
    parts: list[Capsule] = []
    names: dict[str, np.ndarray] = {}
    camera = view.rotation()

    def to_px(p: np.ndarray) -> np.ndarray:
        return scale * (camera @ p)

    def add(a: np.ndarray, b: np.ndarray, ra: float, rb: float, material: int) -> int:
        parts.append(Capsule(to_px(a), to_px(b), scale * ra, scale * rb, material))
        return len(parts) - 1

    lean, bend, twist = pose.torso
    torso = _rot_y(twist) @ _rot_x(lean) @ _rot_z(bend)
    up = torso @ np.array([0.0, -1.0, 0.0])
    neck = up * shape.spine_length
    names["neck"] = neck
    pelvis = np.zeros(3)
    hips = {side: np.array([sx * shape.hip_half_width, 0.0, 0.0]) for side, sx in SIDES}
    shoulders = {side: torso @ np.array([sx * shape.shoulder_half_width,
                                         -0.9 * shape.spine_length, 0.0])
                 for side, sx in SIDES}
    part_of: dict[str, set[int]] = {name: set() for name in JOINT_NAMES}
    depth: dict[str, float] = {}

    # Torso: a central capsule and one down each flank, then the pelvis across the hips.
    torso_centre = add(pelvis + up * 0.09, neck, 0.085 * g, 0.08 * g, TOP)
    for name in ("neck", "left_shoulder", "right_shoulder", "left_hip", "right_hip"):
        part_of[name].add(torso_centre)
    depth["neck"] = 0.08 * g
    for side, sx in SIDES:
        inner = torso @ np.array([sx * 0.6 * shape.shoulder_half_width,
                                  -0.85 * shape.spine_length, 0.0])
        flank = add(hips[side] * 0.8 + up * 0.04, inner, 0.07 * g, 0.075 * g, TOP)
        part_of[f"{side}_shoulder"].add(flank)
        part_of[f"{side}_hip"].add(flank)
    pelvis_part = add(hips["left"], hips["right"], 0.075 * g, 0.075 * g, BOTTOM)

    for i, (side, sx) in enumerate(SIDES):
        elevation, azimuth, elbow_flex, bend_dir = pose.arms[i]
        arm = torso @ np.array([sx * np.sin(elevation) * np.cos(azimuth), np.cos(elevation),
                                -np.sin(elevation) * np.sin(azimuth)])
        reference = torso @ np.array([0.0, 0.0, -1.0])
        if abs(arm @ reference) > 0.95:
            reference = up
        across = _unit(reference - (reference @ arm) * arm)
        bend = np.cos(sx * bend_dir) * across + np.sin(sx * bend_dir) * np.cross(arm, across)
        forearm = np.cos(elbow_flex) * arm + np.sin(elbow_flex) * bend
        shoulder = shoulders[side]
        elbow = shoulder + shape.upper_arm * arm
        wrist = elbow + shape.forearm * forearm
        upper = add(shoulder, elbow, 0.05 * g, 0.038 * g, UPPER_ARM)
        knob = add(elbow, elbow, 0.043 * g, 0.043 * g, LOWER_ARM)  # the elbow shows
        lower = add(elbow, wrist, 0.036 * g, 0.029 * g, LOWER_ARM)
        hand = add(wrist + 0.035 * forearm, wrist + 0.035 * forearm, 0.032, 0.032, SKIN)
        names.update({f"{side}_shoulder": shoulder, f"{side}_elbow": elbow,
                      f"{side}_wrist": wrist})
        part_of[f"{side}_shoulder"].add(upper)
        part_of[f"{side}_elbow"].update((upper, knob, lower))
        part_of[f"{side}_wrist"].update((lower, hand))
        depth.update({f"{side}_shoulder": 0.05 * g, f"{side}_elbow": 0.043 * g,
                      f"{side}_wrist": 0.029 * g})

        flex, abduction, knee_flex, ankle = pose.legs[i]
        leg = _rot_z(-sx * abduction) @ _rot_x(-flex)
        shin_frame = leg @ _rot_x(knee_flex)
        hip = hips[side]
        knee = hip + shape.thigh * (leg @ np.array([0.0, 1.0, 0.0]))
        ankle_point = knee + shape.shin * (shin_frame @ np.array([0.0, 1.0, 0.0]))
        heel = ankle_point + 0.02 * (shin_frame @ np.array([0.0, 1.0, 0.0]))
        toe = heel + 0.085 * (shin_frame @ np.array([0.0, np.sin(ankle), -np.cos(ankle)]))
        thigh = add(hip, knee, 0.066 * g, 0.048 * g, BOTTOM)
        kneecap = add(knee, knee, 0.054 * g, 0.054 * g, LOWER_LEG)  # the knee shows
        shin = add(knee, ankle_point, 0.046 * g, 0.034 * g, LOWER_LEG)
        foot = add(heel, toe, 0.03, 0.026, SHOE)
        names.update({f"{side}_hip": hip, f"{side}_knee": knee, f"{side}_ankle": ankle_point})
        part_of[f"{side}_hip"].update((thigh, pelvis_part))
        part_of[f"{side}_knee"].update((thigh, kneecap, shin))
        part_of[f"{side}_ankle"].update((shin, foot))
        depth.update({f"{side}_hip": 0.075 * g, f"{side}_knee": 0.054 * g,
                      f"{side}_ankle": 0.034 * g})

    # Head: a sphere on a short neck, turned relative to the torso, with nose and ears.
    yaw, nod, tilt = pose.head
    head_frame = torso @ _rot_y(yaw) @ _rot_x(nod) @ _rot_z(tilt)
    r = shape.head_radius
    centre = neck + head_frame @ np.array([0.0, -(shape.neck_length + r), 0.0])
    neck_part = add(neck, centre, 0.036 * g, 0.036 * g, SKIN)
    part_of["neck"].add(neck_part)
    head = add(centre, centre, r, r, HEAD)
    nose = centre + r * (head_frame @ NOSE_DIRECTION)
    nose_part = add(nose, nose, NOSE_RADIUS * r, NOSE_RADIUS * r, SKIN)
    names.update({"head_top": centre + head_frame @ np.array([0.0, -0.93 * r, 0.0]),
                  "nose": nose})
    depth.update({"head_top": r, "nose": NOSE_RADIUS * r})
    part_of["nose"].add(nose_part)
    ear_parts = []
    for side, sx in SIDES:
        eye = centre + r * (head_frame @ (EYE_DIRECTION * [sx, 1.0, 1.0]))
        ear = centre + r * (head_frame @ (EAR_OFFSET * [sx, 1.0, 1.0]))
        ear_parts.append(add(ear, ear, EAR_RADIUS * r, EAR_RADIUS * r, SKIN))
        names.update({f"{side}_eye": eye, f"{side}_ear": ear})
        part_of[f"{side}_ear"].add(ear_parts[-1])
        # An ear counts as seen while it still sticks out past the head's outline.
        depth.update({f"{side}_eye": 0.05 * r, f"{side}_ear": EAR_SIGHT_DEPTH * r})

    keypoints = np.stack([to_px(names[n]) for n in JOINT_NAMES])
    return PosedBody(
        parts=tuple(parts), keypoints=keypoints,
        keypoint_depth=scale * np.array([depth[n] for n in JOINT_NAMES]),
        keypoint_parts=tuple(frozenset(part_of[n]) for n in JOINT_NAMES),
        head_parts=frozenset([head, nose_part, *ear_parts]),
        head_rotation=camera @ head_frame)
