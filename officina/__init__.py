"""officina: a robotics lab workbench (PyBullet cells, controllers, vision, ergonomics, ROS 2)."""

__version__ = "0.1.0"
