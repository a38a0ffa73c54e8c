"""pyfaas.cli"""
