"""runtime.cli"""
