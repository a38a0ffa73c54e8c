"""Pulumi program for pyfaas."""
