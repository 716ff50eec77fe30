"""Collision-aware motion: the planning scene (data), collision checking (Pinocchio + coal) and
planning (OMPL), used by the skills. See docs/planning.md."""
