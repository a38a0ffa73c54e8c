"""pyfaas: OpenFaaS-compatible serverless platform."""
