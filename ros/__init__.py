"""officina.ros"""
