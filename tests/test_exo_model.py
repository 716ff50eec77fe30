"""Human model: de Leva tables, geometry, static L5/S1 cases worked by hand, URDF vs kinematics, lifts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from officina.exoskeleton.anthropometry import BILATERAL, DE_LEVA, anthropometry
from officina.exoskeleton.lifts import grip_height, load_lift_csv, parametric_lift, solve_posture
from officina.exoskeleton.model import (
    JOINTS,
    G,
    com_positions,
    human_model,
    joint_positions,
    segment_angles,
    static_l5s1,
    static_l5s1_q,
    upper_body_gravity_torque_about_hip,
)


@pytest.mark.parametrize("sex", ["male", "female"])
@pytest.mark.parametrize("mass,stature", [(75.0, 1.75), (52.0, 1.55), (110.0, 1.95)])
def test_segments_sum_to_body_mass(sex, mass, stature):
    a = anthropometry(mass, stature, sex)
    assert a.total_mass() == pytest.approx(mass, rel=1e-12)
    m = human_model(mass, stature, sex)
    assert sum(li.mass for li in m.links.values()) == pytest.approx(mass, rel=1e-12)


def test_de_leva_tables_sum_to_100_percent_before_normalisation():
    for sex, table in DE_LEVA.items():
        total = sum(row[0] * (2 if n in BILATERAL else 1) for n, row in table.items())
        assert total == pytest.approx(100.0, abs=0.011), sex  # female table: 99.99 %
        # the three trunk parts add up to de Leva's whole trunk (43.46 % male, 42.57 % female)
        trunk = sum(table[k][0] for k in ("upper_trunk", "middle_trunk", "lower_trunk"))
        assert trunk == pytest.approx({"male": 43.46, "female": 42.57}[sex], abs=1e-9)


def test_scaling_with_stature_and_standing_height():
    for sex in ("male", "female"):
        for h in (1.5, 1.75, 2.0):
            m = human_model(70, h, sex)
            assert joint_positions(m, np.zeros(6))["head_top"][1] == pytest.approx(h, abs=1e-12)
            # shoulder at 0.818 x stature when standing (Drillis & Contini)
            assert joint_positions(m, np.zeros(6))["shoulder"][1] == pytest.approx(0.818 * h, abs=1e-12)
            assert m.ankle_height > 0.02
    a1, a2 = anthropometry(70, 1.6), anthropometry(70, 1.8)
    assert a2.segments["thigh"].length / a1.segments["thigh"].length == pytest.approx(1.8 / 1.6)
    assert anthropometry(90, 1.6).segments["thigh"].mass / a1.segments["thigh"].mass == pytest.approx(90 / 70)


def _hand_model_male_75_175():
    """de Leva male numbers, worked out here independently of the library."""
    k = 1.75 / 1.741
    L_lpt, L_mpt, L_upt, L_head = 0.1457 * k, 0.2155 * k, 0.2421 * k, 0.2429 * k
    z_omph = 0.4 * L_lpt  # L5/S1 at 60 % of the LPT above mid-hip
    m_mpt, m_upt, m_head = 0.75 * 16.33, 0.75 * 15.96, 0.75 * 6.94
    z_mpt = z_omph + L_mpt * (1 - 0.4502)
    z_upt = z_omph + L_mpt + L_upt * (1 - 0.2999)
    z_cerv = z_omph + L_mpt + L_upt
    z_head = z_cerv + L_head * (1 - 0.5002)
    z_sh = z_cerv - (0.182 * 1.75 - L_head)
    m_arms = 0.75 * 2 * (2.71 + 1.62 + 0.61)
    return m_mpt, m_upt, m_head, m_arms, z_mpt, z_upt, z_head, z_sh


def test_static_horizontal_trunk_holding_a_load_by_hand():
    m = human_model(75, 1.75, "male")
    m_mpt, m_upt, m_head, m_arms, z_mpt, z_upt, z_head, z_sh = _hand_model_male_75_175()
    load = 12.0
    # trunk horizontal, arms hanging vertically: every lever arm is the distance along the trunk
    moment = G * (m_mpt * z_mpt + m_upt * z_upt + m_head * z_head + (m_arms + load) * z_sh)
    r = static_l5s1(m, math.pi / 2, load)
    assert float(r.moment) == pytest.approx(moment, rel=1e-9)
    assert float(r.compression) == pytest.approx(moment / 0.05, rel=1e-9)  # cos 90 = 0: muscle only
    assert float(r.shear) == pytest.approx(G * (m_mpt + m_upt + m_head + m_arms + load), rel=1e-9)
    assert 150 < moment < 250  # the magnitude ergonomists expect for a 12 kg horizontal hold


def test_static_upright_and_load_increment():
    m = human_model(75, 1.75)
    r = static_l5s1(m, 0.0, 0.0)
    assert float(r.moment) == pytest.approx(0.0, abs=1e-9)
    assert float(r.shear) == pytest.approx(0.0, abs=1e-9)
    assert float(r.compression) == pytest.approx(G * m.upper_body_mass)
    # a load held at 45 deg adds L g x_grip to the moment and (L g x / r + L g cos) to the compression
    th, L = math.radians(45), 10.0
    x = m.shoulder_above_l5s1 * math.sin(th)
    d = static_l5s1(m, th, L).moment - static_l5s1(m, th, 0.0).moment
    assert float(d) == pytest.approx(L * G * x)


def test_static_vectorised_matches_scalar_and_q_form():
    m = human_model(68, 1.68, "female")
    th = np.linspace(-0.3, 2.0, 50)
    loads = np.linspace(0, 20, 50)
    r = static_l5s1(m, th, loads)
    for i in (0, 17, 49):
        s = static_l5s1(m, th[i], loads[i])
        assert float(s.moment) == pytest.approx(r.moment[i])
        assert float(s.compression) == pytest.approx(r.compression[i])
    # full-posture form: hip + lumbar flexion with arms kept vertical
    q = np.zeros((50, 6))
    q[:, 2] = 0.6 * th
    q[:, 3] = 0.4 * th
    q[:, 4] = th
    rq = static_l5s1_q(m, q, loads)
    np.testing.assert_allclose(rq.moment, r.moment, rtol=1e-12, atol=1e-9)


def test_static_flexor_moment_gives_no_muscle_force():
    m = human_model()
    r = static_l5s1(m, -0.3, 0.0)  # leaning back: net flexor moment
    assert float(r.moment) < 0
    assert float(r.compression) == pytest.approx(G * m.upper_body_mass * math.cos(-0.3))


def test_pinocchio_kinematics_and_com_match_planar_model():
    pin = pytest.importorskip("pinocchio")
    from officina.exoskeleton.dynamics import pin_model

    m = human_model(80, 1.82)
    pm = pin_model(m, 10.0)
    data = pm.createData()
    rng = np.random.default_rng(3)
    for _ in range(5):
        q6 = rng.uniform(-1.0, 1.5, size=6)
        q = np.zeros(pm.nq)
        for k, n in enumerate(JOINTS):
            q[pm.joints[pm.getJointId(n)].idx_q] = q6[k]
        pin.forwardKinematics(pm, data, q)
        p = joint_positions(m, q6)
        for n in ("knee", "hip", "l5s1", "shoulder", "elbow"):
            xyz = data.oMi[pm.getJointId(n)].translation
            np.testing.assert_allclose([xyz[0], xyz[2]], p[n], atol=1e-12)
        # whole-body centre of mass (without the feet, with the load at the grip)
        c = com_positions(m, q6)
        mass = sum(m.links[k].mass for k in c) + 10.0
        com = (sum(m.links[k].mass * c[k] for k in c) + 10.0 * p["grip"]) / mass
        com_pin = pin.centerOfMass(pm, data, q)  # the fixed root (feet) is not counted by Pinocchio
        assert data.mass[0] == pytest.approx(mass)
        np.testing.assert_allclose([com_pin[0], com_pin[2]], com, atol=1e-9)


def test_gravity_torque_about_hip_is_zero_upright_and_positive_flexed():
    m = human_model()
    assert float(upper_body_gravity_torque_about_hip(m, np.zeros(6), 10.0)) == pytest.approx(0.0, abs=1e-9)
    q = np.array([0, 0, 0.8, 0.4, 1.2, 0])
    assert float(upper_body_gravity_torque_about_hip(m, q, 10.0)) > 100


def test_parametric_lifts_reach_heights_and_are_smooth():
    m = human_model(70, 1.70, "female")
    for style in ("squat", "stoop"):
        lift = parametric_lift(m, style, 8.0, end_height=0.9, duration_s=1.2)
        assert grip_height(m, lift.q[0]) == pytest.approx(0.20, abs=1e-6)
        assert grip_height(m, lift.q[-1]) == pytest.approx(0.90, abs=1e-6)
        # velocities are the derivative of the positions
        np.testing.assert_allclose(np.gradient(lift.q, lift.dt, axis=0)[5:-5], lift.qd[5:-5], atol=2e-3)
        assert np.all(lift.qd[0] == 0) and np.all(lift.qd[-1] == 0)
    sq = parametric_lift(m, "squat", 8.0)
    st = parametric_lift(m, "stoop", 8.0)
    assert segment_angles(sq.q[0])["trunk"] < segment_angles(st.q[0])["trunk"]
    assert sq.q[0][1] > st.q[0][1]  # the squat bends the knees more


def test_lift_bad_input():
    m = human_model()
    with pytest.raises(ValueError, match="lift style"):
        parametric_lift(m, "deadlift", 10)
    with pytest.raises(ValueError, match="load"):
        parametric_lift(m, "squat", -2)
    with pytest.raises(ValueError, match="below the deepest"):
        solve_posture(m, "stoop", 0.01)
    with pytest.raises(ValueError, match="above shoulder"):
        parametric_lift(m, "stoop", 5, end_height=1.9)
    with pytest.raises(ValueError, match="sex"):
        human_model(70, 1.7, "robot")
    with pytest.raises(ValueError, match="body mass"):
        human_model(-70, 1.7)
    with pytest.raises(ValueError, match="stature"):
        human_model(70, 17.0)
    with pytest.raises(ValueError, match="joint angles"):
        joint_positions(m, np.zeros(5))


def test_csv_motion_roundtrip(tmp_path):
    m = human_model()
    lift = parametric_lift(m, "stoop", 5.0, dt=0.01)
    path = tmp_path / "lift.csv"
    header = "t_s," + ",".join(f"{j}_deg" for j in JOINTS)
    rows = [header] + [",".join([f"{t:.4f}"] + [f"{math.degrees(x):.6f}" for x in q]) for t, q in zip(lift.t, lift.q)]
    path.write_text("\n".join(rows) + "\n")
    rec = load_lift_csv(path, 5.0, dt=0.01)
    np.testing.assert_allclose(rec.q, lift.q, atol=1e-6)
    np.testing.assert_allclose(rec.qd[3:-3], lift.qd[3:-3], atol=0.05)
    bad = tmp_path / "bad.csv"
    bad.write_text("clock,hip_deg\n0,1\n1,2\n2,3\n")
    with pytest.raises(ValueError, match="time column"):
        load_lift_csv(bad, 5.0)
    with pytest.raises(FileNotFoundError):
        load_lift_csv(tmp_path / "missing.csv", 5.0)
