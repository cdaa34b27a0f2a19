"""The package's AWS adapters, one module per AWS concern; the rest of the package is pure.

Modules here import only the lower floors (config, formats, validation, profiles, pacing, logs), never the
processor, the handler or the pipeline. :class:`~shipment_processor.store.Store` hands them out.
"""
