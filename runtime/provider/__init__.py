"""runtime.provider"""
