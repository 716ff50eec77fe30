"""officina.exoskeleton: lifting biomechanics, exoskeleton models and the NIOSH lifting equation.

Modules (functions over explicit models, SI units inside):

- ``anthropometry``: de Leva (1996) segment parameters scaled by body mass and stature
- ``model``: the sagittal human model, kinematics, vectorised static L5/S1 loads
- ``urdf``: the same model as a URDF (Pinocchio and PyBullet load it)
- ``lifts``: parametric squat/stoop lifts and recorded motions from CSV
- ``dynamics``: Pinocchio RNEA over a lift, with the load and an exo; L5/S1 moment, compression, shear
- ``exo``: passive/active back-support and shoulder exoskeletons, presets with sources
- ``niosh``: the Revised NIOSH Lifting Equation (metric and US), composite lifting index
- ``job``: the manual version of a task's job, as data (moves, loads, hand locations)
- ``reba``: REBA whole-body posture score; ``lifft``: LiFFT cumulative low-back damage, Exo-LiFFT
- ``worker``: every worker-side figure of a job, with and without back exoskeletons
- ``comparison``: robot versus worker, the report of ``officina compare``

This package never imports pybullet; the forward-simulation cross-check is ``officina.sim.human``.
"""
