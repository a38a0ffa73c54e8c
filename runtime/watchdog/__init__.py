"""runtime.watchdog"""
