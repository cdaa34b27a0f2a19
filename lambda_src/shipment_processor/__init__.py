"""Shipment file processor: streams shipper files from S3, validates and stores shipment updates.

Entry point: ``shipment_processor.handler.lambda_handler``. The package uses only the standard library and boto3.
"""

__version__ = "1.0.0"
