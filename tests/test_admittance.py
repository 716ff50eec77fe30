"""The admittance controller (`officina.controllers.admittance`): a force moves the compliant frame
by force / stiffness, no further than its maximum; in the sim's fake hardware it runs each period
behind the safety filter and refuses configurations out of range."""

import numpy as np
import pytest

from officina.controllers.admittance import Admittance
from officina.controllers.model import RobotModel
from officina.interfaces import AdmittanceConfig, JointState, Wrench
from officina.robots import load_robot


def _settle(adm, model, q, force_base, seconds=3.0):
    """Run the law with a constant external force (base frame) on the tool; returns the command."""
    spec = model.spec
    R = model.frame_transform(q, spec.wrist_sensor.joint)[:3, :3]
    w = Wrench(0.0, R.T @ np.asarray(force_base, float), np.zeros(3))
    st = JointState(0.0, spec.joint_names, q, np.zeros(len(q)), np.zeros(len(q)))
    for _ in range(int(seconds / adm.dt)):
        cmd = adm.step(q, st, w)
    return cmd


def test_a_force_moves_the_compliant_frame_by_force_over_stiffness_and_no_further_than_the_maximum():
    model = RobotModel.from_spec(load_robot("panda"))
    q = model.spec.home.copy()
    adm = Admittance(model, 0.004, model.spec.wrist_sensor.joint)
    zero = Wrench(0.0, np.zeros(3), np.zeros(3))
    assert np.array_equal(adm.step(q, JointState(0.0, (), q, q * 0, q * 0), zero), q)  # disabled: unchanged
    cfg = AdmittanceConfig(enabled=True, mass=(20.0,) * 3 + (0.05,) * 3, damping_ratio=(2.0,) * 6,
                           stiffness=(1000.0, 1000.0, 1000.0, 40.0, 40.0, 40.0), frame_offset_xyz=(0.0, 0.0, 0.04))
    adm.configure(cfg, zero)
    _settle(adm, model, q, (0.0, 0.0, 0.0), seconds=adm.TARE_S)  # the tare: the tool free
    cmd = _settle(adm, model, q, (0.0, 0.0, 4.0))
    up = model.frame_transform(cmd, "tcp")[:3, 3] - model.frame_transform(q, "tcp")[:3, 3]
    assert up == pytest.approx((0.0, 0.0, 0.004), abs=2e-4)  # 4 N / 1000 N/m, along the force
    adm.configure(AdmittanceConfig(**{**cfg.__dict__, "max_offset_m": 0.002}))
    cmd = _settle(adm, model, q, (30.0, 0.0, 0.0))
    d = model.frame_transform(cmd, "tcp")[:3, 3] - model.frame_transform(q, "tcp")[:3, 3]
    assert np.linalg.norm(d) == pytest.approx(0.002, abs=1e-4) and d[0] > 0.0019
    with pytest.raises(ValueError, match="mass"):
        adm.configure(AdmittanceConfig(enabled=True, mass=(0.0,) * 6))


def test_the_fake_hardware_runs_it_behind_the_safety_filter_and_refuses_what_is_out_of_range():
    from officina.errors import BadInput
    from officina.ros.fake_hardware import FakeHardware, SimSetup
    from officina.ros.robot_profiles import load_profile, resolve_profile

    hw = FakeHardware(resolve_profile(load_robot("panda"), load_profile("default")), SimSetup(rate_hz=250.0))
    try:
        q0 = hw.arm.read().position.copy()
        for _ in range(50):
            hw.forward_command(q0)
            hw.step()
        with pytest.raises(BadInput, match="at most 0.02 m"):
            hw.set_admittance(AdmittanceConfig(enabled=True, max_offset_m=0.05))
        assert not (hw.admittance is not None and hw.admittance.enabled)  # a refused config changes nothing
        hw.set_admittance(AdmittanceConfig(enabled=True, stiffness=(1000.0,) * 3 + (40.0,) * 3))
        for _ in range(250):  # free, at rest: the tare holds the arm where its reference is
            hw.forward_command(q0)
            hw.step()
        tcp = hw.cell.model.frame_transform
        drift = np.linalg.norm(tcp(hw.arm.read().position, "tcp")[:3, 3] - tcp(q0, "tcp")[:3, 3])
        assert drift < 0.001, drift
        # a reference step far beyond the joints' acceleration limit reaches the arm as the filter
        # lets it: one period of a_max dt^2 per joint, not the step
        step = q0 + 0.2
        hw.forward_command(step)
        hw.step()
        amax = np.asarray(hw.resolved.spec.limits.acceleration)
        assert np.all(np.abs(hw._q_sent - q0) <= amax * hw.control_dt ** 2 + 2e-3)
    finally:
        hw.close()
