"""The speed and separation monitoring model against hand-worked values and a reference formula."""

import math

import pytest

from officina.controllers.ssm import (
    SpeedScaler, SsmParams, StopModel, intrusion_distance_iso13855, max_safe_speed, protective_separation,
)


def test_stop_model_fits_published_figures():
    # delay then constant deceleration through (v=2 m/s, T=0.5 s, S=0.7 m):
    # a = v^2 / (2 (vT - S)) = 4 / 0.6 = 6.667 m/s^2, t_d = T - v/a = 0.5 - 0.3 = 0.2 s
    m = StopModel.from_published(2.0, 0.5, 0.7)
    assert m.deceleration_m_s2 == pytest.approx(20 / 3)
    assert m.delay_s == pytest.approx(0.2)
    assert m.time(2.0) == pytest.approx(0.5) and m.distance(2.0) == pytest.approx(0.7)
    # a distance below vT/2 (the UR5 CB3 shoulder: 2.71 m/s, 0.53 s, 0.60 m): no delay, a = v/T,
    # the published time kept and the distance overestimated (0.718 m >= 0.60 m)
    ur = StopModel.from_published(2.71, 0.53, 0.60)
    assert ur.delay_s == 0.0 and ur.deceleration_m_s2 == pytest.approx(2.71 / 0.53)
    assert ur.time(2.71) == pytest.approx(0.53) and ur.distance(2.71) >= 0.60
    with pytest.raises(ValueError, match="not below speed x time"):
        StopModel.from_published(1.0, 0.5, 0.6)


def test_intrusion_distance_iso13855():
    assert intrusion_distance_iso13855(0.3) == pytest.approx(1.08)  # 1200 - 0.4 * 300 mm
    assert intrusion_distance_iso13855(0.9) == pytest.approx(0.85)  # the 850 mm floor
    with pytest.raises(ValueError):
        intrusion_distance_iso13855(1.5)


P = SsmParams(StopModel(0.2, 20 / 3), reaction_time_s=0.1, human_speed_m_s=1.6, intrusion_m=1.08,
              sensor_uncertainty_m=0.1, robot_uncertainty_m=0.02)


def test_protective_separation_hand_worked():
    # v_r = 1 m/s: T_s = 0.2 + 1/6.667 = 0.35 s; S_h = 1.6 (0.1 + 0.35) = 0.72; S_r = 0.1;
    # S_s = 0.2 + 1/13.333 = 0.275; S_p = 0.72 + 0.1 + 0.275 + 1.08 + 0.1 + 0.02 = 2.295 m
    t = protective_separation(1.0, P)
    assert (t.s_h, t.s_r, t.s_s) == pytest.approx((0.72, 0.1, 0.275))
    assert t.total == pytest.approx(2.295)
    # at rest: S_h = 1.6 (0.1 + 0.2) = 0.48; S_p = 0.48 + 1.08 + 0.12 = 1.68 m
    assert protective_separation(0.0, P).total == pytest.approx(1.68)
    # moving away counts as at rest
    assert protective_separation(-0.5, P).total == pytest.approx(1.68)


def test_max_safe_speed_inverts_sp_and_matches_the_reference_closed_form():
    for d in (1.9, 2.295, 3.0, 4.5):
        v = max_safe_speed(d, P)
        assert protective_separation(v, P).total == pytest.approx(d)
    assert max_safe_speed(1.6, P) == 0.0
    # CNR-STIIMA ssm_safety (velocity_scaling_iso15066) bounds the robot speed toward the person by
    # D - v_r T_r - v_r^2/(2a) - v_h (T_r + v_r/a) >= C (no stop delay, uncertainties inside C):
    # v_max = -T_r a - v_h + sqrt(2 (D - C) a + (T_r a)^2 + v_h^2), written out here by hand.
    a, Tr, vh, C = 3.0, 0.15, 1.6, 0.3
    ref = SsmParams(StopModel(0.0, a), reaction_time_s=Tr, human_speed_m_s=vh, intrusion_m=C)
    for D in (0.8, 1.5, 2.5):
        closed = -Tr * a - vh + math.sqrt(2 * (D - C) * a + (Tr * a) ** 2 + vh ** 2)
        assert max_safe_speed(D, ref) == pytest.approx(max(0.0, closed))


def test_speed_scaler_ramp_stop_and_resume():
    s = SpeedScaler(P, v_full_m_s=1.0, margin_m=0.1, hysteresis_m=0.1, resume_after_s=0.5)
    assert s.d_stop == pytest.approx(1.78) and s.d_full == pytest.approx(2.395)
    assert s.update(0.0, 5.0, 1.0) == 1.0
    # halfway along the ramp: (2.0875 - 1.78) / (2.395 - 1.78) = 0.5
    assert s.update(0.1, 2.0875, 0.4) == pytest.approx(0.5)
    # the ramp keeps S_p(scale * v_full) + margin <= d (convexity of S_p)
    for d in (1.8, 1.9, 2.0, 2.2, 2.39):
        k = s.ramp(d)
        assert protective_separation(k * 1.0, P).total + 0.1 <= d + 1e-12
    # a measured speed too high for the separation stops the robot even on the ramp
    assert s.update(0.2, 2.0875, 1.0) == 0.0 and s.stops == 1
    assert s.update(0.3, 1.5, 0.0) == 0.0 and s.stops == 1  # still the same stop
    # back above the stop distance but inside the hysteresis: held
    assert s.update(0.4, 1.85, 0.0) == 0.0
    # clear (>= 1.88 m) from t = 0.5 s: resumes 0.5 s later, not before
    assert s.update(0.5, 2.2, 0.0) == 0.0
    assert s.update(0.9, 2.2, 0.0) == 0.0
    assert s.ramp(2.2) > 0 and s.update(1.0, 2.2, 0.0) == pytest.approx(s.ramp(2.2))
    assert s.stops == 1 and not s.stopped
    assert s.update(1.1, math.inf, 0.0) == 1.0


@pytest.mark.parametrize("robot", ["panda", "iiwa", "ur5e", "ur10e", "irb2600"])
def test_every_robot_states_how_it_stops(robot):
    from officina.robots import load_robot

    st = load_robot(robot).stopping
    assert st is not None and st.source
    m = StopModel.from_published(st.speed_m_s, st.stop_time_s, st.stop_distance_m)
    # the model goes through the published time and never under the published distance
    assert m.time(st.speed_m_s) == pytest.approx(st.stop_time_s)
    assert m.distance(st.speed_m_s) >= st.stop_distance_m - 1e-12


def test_a_robot_file_with_impossible_stopping_figures_is_refused(tmp_path):
    from officina.errors import BadInput
    from officina.robots import load_robot, robot_file

    text = robot_file("panda").read_text().replace("stop_distance_m: 0.425", "stop_distance_m: 0.9")
    f = tmp_path / "panda_bad.yaml"
    f.write_text(text)
    with pytest.raises((BadInput, ValueError), match="stop_distance_m"):
        load_robot(str(f))


def test_protective_separation_array_matches_the_scalar_form():
    import numpy as np

    from officina.controllers.ssm import protective_separation_array

    v = np.array([-0.3, 0.0, 0.2, 1.0, 2.5])
    np.testing.assert_allclose(protective_separation_array(v, P), [protective_separation(x, P).total for x in v])


@pytest.mark.parametrize("stop", [StopModel(0.1, 5.0), StopModel(0.0, 5.0)])
def test_a_speed_or_separation_that_is_not_a_number_stops_the_robot(stop):
    """A robot speed that is not a number (a NaN joint velocity from the encoders) is unknown, the
    worst case, not a robot at rest; so is a separation that is not a number."""
    import numpy as np

    from officina.controllers.ssm import protective_separation_array

    nan = float("nan")
    for t_r in (0.1, 0.0):
        p = SsmParams(stop, t_r)
        assert protective_separation(nan, p).total == math.inf
        assert protective_separation(0.5, p, v_h=nan).total == math.inf
        sp = protective_separation_array(np.array([nan, 0.5]), p)
        assert sp[0] == math.inf and sp[1] == pytest.approx(protective_separation(0.5, p).total)
        sc = SpeedScaler(p, 1.5)
        assert sc.update(0.0, sc.d_full + 1.0, nan) == 0.0  # far away, but the speed is unknown
        assert sc.update(0.01, sc.d_full + 1.0, 0.5) == 0.0 and sc.stopped  # (then resumes after its dwell)
        assert SpeedScaler(p, 1.5).update(0.0, nan, 0.5) == 0.0
