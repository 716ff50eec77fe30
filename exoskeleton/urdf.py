"""A URDF of the sagittal human model, loadable by Pinocchio and PyBullet alike.

Links: feet (root, fixed to the world by the loader), shanks, thighs, pelvis, trunk, head (fixed
``neck`` joint at cervicale), upper_arms, forearms_hands and, when ``load_kg > 0``, a ``load`` box
fixed at the grip point. Revolute joints ``ankle, knee, hip, l5s1, shoulder, elbow`` about the
medio-lateral axis with the signs of :data:`officina.exoskeleton.model.AXIS_SIGN` (positive =
flexion / dorsiflexion). No collision geometry: the model is for dynamics, not contact.
"""

from __future__ import annotations

from officina.exoskeleton.model import AXIS_SIGN, HumanModel, LinkInertia

__all__ = ["BOX_SIZE_M", "human_urdf"]

BOX_SIZE_M = (0.30, 0.40, 0.25)  # depth (x), width (y), height (z) of the default box


def _inertial(li: LinkInertia) -> str:
    x, y, z = li.com
    return (
        f'    <inertial><origin xyz="{x:.10g} {y:.10g} {z:.10g}" rpy="0 0 0"/><mass value="{li.mass:.10g}"/>'
        f'<inertia ixx="{li.ixx:.10g}" ixy="0" ixz="0" iyy="{li.iyy:.10g}" iyz="0" izz="{li.izz:.10g}"/></inertial>\n'
    )


def _visual(length: float, z0: float, radius: float, rgba: str) -> str:
    zc = z0 + length / 2.0
    return (
        f'    <visual><origin xyz="0 0 {zc:.4f}" rpy="0 0 0"/><geometry><cylinder radius="{radius:.3f}" '
        f'length="{abs(length):.4f}"/></geometry><material name="m"><color rgba="{rgba}"/></material></visual>\n'
    )


def human_urdf(model: HumanModel, load_kg: float = 0.0, box_size_m: tuple[float, float, float] = BOX_SIZE_M) -> str:
    """URDF text of ``model`` holding a box of ``load_kg`` at the hands (uniform box inertia)."""
    if not (load_kg >= 0.0):
        raise ValueError(f"load: expected a non-negative mass in kg, got {load_kg!r}")
    L = model.links
    skin = "0.85 0.7 0.6 1"
    parts = ['<?xml version="1.0"?>\n<robot name="officina_human">\n']

    def link(name: str, li: LinkInertia | None, visual: str = "") -> None:
        parts.append(f'  <link name="{name}">\n')
        if li is not None:
            parts.append(_inertial(li))
        parts.append(visual)
        parts.append("  </link>\n")

    def joint(name: str, parent: str, child: str, xyz: tuple[float, float, float], sign: float | None) -> None:
        x, y, z = xyz
        if sign is None:
            parts.append(f'  <joint name="{name}" type="fixed"><parent link="{parent}"/><child link="{child}"/>'
                         f'<origin xyz="{x:.10g} {y:.10g} {z:.10g}" rpy="0 0 0"/></joint>\n')
        else:
            parts.append(
                f'  <joint name="{name}" type="revolute"><parent link="{parent}"/><child link="{child}"/>'
                f'<origin xyz="{x:.10g} {y:.10g} {z:.10g}" rpy="0 0 0"/><axis xyz="0 {sign:.0f} 0"/>'
                f'<limit lower="-3.1" upper="3.1" effort="10000" velocity="50"/></joint>\n'
            )

    link("feet", L["feet"], _visual(model.ankle_height, 0.0, 0.04, skin))
    joint("ankle", "feet", "shanks", (0.0, 0.0, model.ankle_height), AXIS_SIGN[0])
    link("shanks", L["shanks"], _visual(model.shank, 0.0, 0.05, skin))
    joint("knee", "shanks", "thighs", (0.0, 0.0, model.shank), AXIS_SIGN[1])
    link("thighs", L["thighs"], _visual(model.thigh, 0.0, 0.07, skin))
    joint("hip", "thighs", "pelvis", (0.0, 0.0, model.thigh), AXIS_SIGN[2])
    link("pelvis", L["pelvis"], _visual(model.l5s1_above_hip, 0.0, 0.12, skin))
    joint("l5s1", "pelvis", "trunk", (0.0, 0.0, model.l5s1_above_hip), AXIS_SIGN[3])
    link("trunk", L["trunk"], _visual(model.cervicale_above_l5s1, 0.0, 0.13, skin))
    joint("neck", "trunk", "head", (0.0, 0.0, model.cervicale_above_l5s1), None)
    link("head", L["head"], _visual(model.anthro.segments["head"].length, 0.0, 0.09, skin))
    joint("shoulder", "trunk", "upper_arms", (0.0, 0.0, model.shoulder_above_l5s1), AXIS_SIGN[4])
    link("upper_arms", L["upper_arms"], _visual(-model.upper_arm, 0.0, 0.04, skin))
    joint("elbow", "upper_arms", "forearms_hands", (0.0, 0.0, -model.upper_arm), AXIS_SIGN[5])
    link("forearms_hands", L["forearms_hands"], _visual(-model.grip_below_elbow, 0.0, 0.035, skin))
    if load_kg > 0.0:
        dx, dy, dz = box_size_m
        box = LinkInertia(
            mass=float(load_kg),
            com=(0.0, 0.0, 0.0),
            ixx=load_kg * (dy**2 + dz**2) / 12.0,
            iyy=load_kg * (dx**2 + dz**2) / 12.0,
            izz=load_kg * (dx**2 + dy**2) / 12.0,
        )
        vis = (f'    <visual><geometry><box size="{dx:.3f} {dy:.3f} {dz:.3f}"/></geometry>'
               f'<material name="box"><color rgba="0.6 0.45 0.25 1"/></material></visual>\n')
        joint("grip", "forearms_hands", "load", (0.0, 0.0, -model.grip_below_elbow), None)
        link("load", box, vis)
    parts.append("</robot>\n")
    return "".join(parts)
