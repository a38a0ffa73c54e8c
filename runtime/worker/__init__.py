"""runtime.worker"""
