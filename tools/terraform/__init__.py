"""Terraform plumbing shared by make, the emulator and the tests: how providers are installed (``tfwork``), scratch
copies of the configuration aimed at a local endpoint (``tfwork``), and ``terraform validate`` of every
configuration (``validate``). Imports only the standard library.
"""
