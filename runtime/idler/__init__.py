"""runtime.idler"""
