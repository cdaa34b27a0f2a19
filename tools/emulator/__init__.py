"""The local AWS and the project's own commands that use it.

* ``aws``: the imitation of AWS, one place per service (``aws.server`` with S3 events, ``aws.lambda_``,
  ``aws.cloudwatch``, ``aws.dynamodb_capacity``). It imports nothing of the commands below.
* ``local_aws``: start/stop the local AWS (``aws.server``) on a loopback port (pid file, port, logs in the state
  directory; TLS).
* ``local_deploy``: applies the real root Terraform to the local AWS in a scratch copy. ``local_report``: reads.
* ``cli`` (``python -m tools.emulator``) and ``demo`` (``make demo``).
* ``endpoint``: where the local AWS listens and what is deployed on it (standard library only; the operator CLI
  may import it).

May import boto3, moto, ``tools.terraform``, ``tools.packager``, ``tools.samples`` and ``tools.ops``; nothing in
``lambda_src`` (the function runs in its own process, from the deployed zip).
"""
