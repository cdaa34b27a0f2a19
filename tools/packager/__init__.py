"""The deterministic packager of the Lambda zip (``lambda_zip``; ``python -m tools.packager``). Imports only the
standard library: it must run wherever the zip is built, CI included.
"""
