"""officina.vision"""
