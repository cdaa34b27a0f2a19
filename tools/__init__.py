"""Developer and operator tooling around the Lambda package; one package per concern.

* ``tools.terraform``: Terraform plumbing (provider installation, scratch copies, validate). Stdlib only.
* ``tools.packager``: the deterministic Lambda zip. Stdlib only.
* ``tools.samples``: the seeded sample shipment files under ``examples/shipment-files``. Stdlib only.
* ``tools.ops``: what an operator runs against an environment (real account or the local AWS).
* ``tools.emulator``: the local AWS (moto), the local Lambda runtime, local deploys and the demo.
* ``tools.bench``: ``make bench``. May import every other package.
"""
