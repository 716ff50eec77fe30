"""officina.exoskeleton"""
