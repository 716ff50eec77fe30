"""Inverse dynamics (Pinocchio RNEA) against the static model and against a PyBullet forward simulation."""

from __future__ import annotations

import numpy as np
import pytest
from officina.exoskeleton.dynamics import exo_forces, inverse_dynamics, summary
from officina.exoskeleton.exo import PRESETS, spring_exo
from officina.exoskeleton.lifts import Lift, parametric_lift
from officina.exoskeleton.model import G, human_model, static_l5s1_q


def _static_lift(q, load):
    q = np.atleast_2d(q)
    z = np.zeros_like(q)
    return Lift("static", np.arange(len(q)) * 0.01, q, z, z, load)


def test_rnea_at_zero_velocity_equals_static_model():
    m = human_model(82, 1.80)
    rng = np.random.default_rng(7)
    q = rng.uniform(-0.4, 1.4, size=(20, 6))
    ID = inverse_dynamics(m, _static_lift(q, 9.0))
    s = static_l5s1_q(m, q, 9.0)
    np.testing.assert_allclose(ID.l5s1_moment, s.moment, rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(ID.compression, s.compression, rtol=1e-7, atol=1e-5)
    np.testing.assert_allclose(ID.shear, s.shear, rtol=1e-7, atol=1e-5)


def test_hip_moment_static_by_hand():
    # standing upright, trunk horizontal by hip flexion only: the hip carries everything above it
    m = human_model(75, 1.75)
    q = np.array([0.0, 0.0, np.pi / 2, 0.0, np.pi / 2, 0.0])
    ID = inverse_dynamics(m, _static_lift(q, 0.0))
    L = m.links
    lever = {"pelvis": L["pelvis"].com[2], "trunk": m.l5s1_above_hip + L["trunk"].com[2],
             "head": m.l5s1_above_hip + m.cervicale_above_l5s1 + L["head"].com[2]}
    arms = m.l5s1_above_hip + m.shoulder_above_l5s1
    expected = G * (sum(L[k].mass * v for k, v in lever.items()) + (L["upper_arms"].mass + L["forearms_hands"].mass) * arms)
    assert ID.hip_moment[0] == pytest.approx(expected, rel=1e-7)


def test_dynamic_lift_differs_from_quasi_static_and_load_inertia_counts():
    m = human_model()
    fast = parametric_lift(m, "stoop", 10.0, duration_s=0.8)
    ID = inverse_dynamics(m, fast)
    qs = static_l5s1_q(m, fast.q, 10.0)
    # accelerating the trunk upwards early in the lift adds to the extensor moment
    assert np.max(ID.l5s1_moment) > np.max(qs.moment) + 10.0
    s = summary(ID)
    assert set(s) == {"peak_l5s1_moment_nm", "mean_l5s1_moment_nm", "peak_compression_n", "mean_compression_n"}
    assert s["peak_compression_n"] > 3400  # a fast 10 kg stoop lift from the floor exceeds the action limit


def test_exo_forces_are_an_equilibrated_system():
    exo = spring_exo(40, 0, 0, 60)
    p_hip = np.array([0.1, 0.0, 0.9])
    p_l5 = p_hip + 0.09 * np.array([np.sin(0.5), 0, np.cos(0.5)])
    z_tr = np.array([np.sin(1.0), 0, np.cos(1.0)])
    z_th = np.array([np.sin(-0.2), 0, np.cos(-0.2)])
    (fc, pc), (ft, pt), (fp, _p_belt) = exo_forces(exo, 30.0, p_hip, p_l5, z_tr, z_th)
    np.testing.assert_allclose(fc + ft + fp, 0.0, atol=1e-12)
    m_about_hip = np.cross(pc - p_hip, fc) + np.cross(pt - p_hip, ft)
    np.testing.assert_allclose(m_about_hip, 0.0, atol=1e-12)
    assert np.cross(pc - p_hip, fc)[1] == pytest.approx(-30.0)  # extends the trunk (flexion is +y)
    assert fc[0] < 0  # the chest pad pushes the trunk backwards


def test_exo_leaves_knee_and_ankle_moments_unchanged():
    m = human_model()
    lift = parametric_lift(m, "squat", 10.0)
    a = inverse_dynamics(m, lift)
    b = inverse_dynamics(m, lift, PRESETS["spexor"])
    np.testing.assert_allclose(b.knee_moment, a.knee_moment, atol=1e-6)
    np.testing.assert_allclose(b.tau[:, 0], a.tau[:, 0], atol=1e-6)
    assert np.max(a.hip_moment - b.hip_moment) > 20  # the hip is unloaded too


def test_rnea_agrees_with_pybullet_forward_simulation():
    from officina.sim.human import simulate_lift

    for sex, mass, stature, style, load in (("male", 75, 1.75, "stoop", 10.0), ("female", 60, 1.62, "squat", 12.0)):
        m = human_model(mass, stature, sex)
        lift = parametric_lift(m, style, load, dt=0.001, duration_s=1.2, hold_s=0.2)
        ID = inverse_dynamics(m, lift)
        sim = simulate_lift(m, lift)
        peak = np.max(np.abs(ID.l5s1_moment))
        err = np.max(np.abs(sim.l5s1_moment - ID.l5s1_moment))
        assert err < 0.05 * peak, (style, err, peak)
        # the sensor's forces agree as well, more loosely: they are sensitive to the PD's velocity lag
        axial = ID.compression - np.maximum(ID.l5s1_moment, 0) / m.muscle_moment_arm_m
        assert np.max(np.abs(sim.l5s1_force[:, 2] - axial)) < 0.10 * np.max(np.abs(axial))
        assert np.max(np.abs(-sim.l5s1_force[:, 0] - ID.shear)) < 0.10 * np.max(np.abs(ID.shear))
        assert np.degrees(np.max(np.abs(sim.q - lift.q))) < 1.0


def test_pybullet_clients_are_independent():
    from officina.sim.human import HumanSim

    m = human_model()
    a, b = HumanSim(m, 5.0), HumanSim(m, 0.0)
    try:
        assert a.client != b.client
        a.reset(np.array([0, 0, 1.0, 0.5, 1.5, 0]))
        qa, _ = a.state()
        qb, _ = b.state()
        assert qa[2] == pytest.approx(1.0) and qb[2] == 0.0
    finally:
        a.close()
        b.close()
    with pytest.raises(ValueError, match="time step"):
        HumanSim(m, 0.0, time_step=1.0)
