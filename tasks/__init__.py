"""officina.tasks"""
