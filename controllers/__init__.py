"""officina.controllers"""
