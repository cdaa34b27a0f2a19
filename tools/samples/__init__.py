"""Seeded sample shipment files for the demo and the end-to-end tests (``sample_data``;
``python -m tools.samples.sample_data``). Imports only the standard library.
"""
