"""The local AWS and everything that makes it behave like the AWS the project deploys to.

* ``local_aws``: the moto server on a loopback port (pid file, start/stop).
* ``local_lambda`` + ``lambda_bootstrap``: the local Lambda runtime (S3 events, async invokes, limits, retries,
  on-failure destination, logs and EMF metrics).
* ``local_deploy``: applies the real root Terraform to the local AWS in a scratch copy.
* ``metric_math`` and ``local_report``: what the alarms read, evaluated locally.
* ``cli`` (``python -m tools.emulator``) and ``demo`` (``make demo``).

May import boto3, moto, ``tools.terraform``, ``tools.packager``, ``tools.samples`` and ``tools.ops``; nothing in
``lambda_src`` (the function runs in its own process, from the deployed zip).
"""
