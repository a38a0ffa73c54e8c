"""pyfaas.gateway"""
