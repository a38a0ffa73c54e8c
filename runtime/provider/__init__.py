"""pyfaas.provider"""
