"""runtime.gateway"""
