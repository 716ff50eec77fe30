"""officina.sim"""
