"""The local AWS and everything that makes it behave like the AWS the project deploys to.

Processes: `local_aws` starts `server` (one process: moto's WSGI app behind the emulator's middleware), which
starts `lambda_service` as its child; the service starts one process per function attempt (`lambda_bootstrap`).

* ``local_aws``: start/stop the local AWS on a loopback port (pid file, port, logs in the state directory; TLS).
* ``server`` + ``http11``: moto behind a middleware: S3 event notifications for every client, the Lambda Invoke
  and recursion-config APIs, Code.Location, SQS metrics, alarm evaluation; HTTP/1.1 keep-alive.
* ``journal``: the invocation journal (accepted, running, finished invocations) and its reading API.
* ``lambda_service``: runs the journal: per-function concurrency, async retries, on-failure destinations.
* ``local_lambda`` + ``lambda_bootstrap`` + ``cpu_share``: one attempt of a function in its own process with its
  limits (timeout, memory, CPU share), logs and EMF metrics.
* ``trace``: X-Ray trace headers and recursive loop detection. ``aws_metrics``: AWS/Lambda and AWS/SQS metrics.
* ``alarms`` + ``metric_math``: alarm evaluation (SetAlarmState with CloudWatch's reason data).
* ``dynamodb_capacity``: DynamoDB's write capacity (WRU, partitions, table limits, throttling errors).
* ``local_deploy``: applies the real root Terraform to the local AWS in a scratch copy. ``local_report``: reads.
* ``cli`` (``python -m tools.emulator``) and ``demo`` (``make demo``).

May import boto3, moto, ``tools.terraform``, ``tools.packager``, ``tools.samples`` and ``tools.ops``; nothing in
``lambda_src`` (the function runs in its own process, from the deployed zip).
"""
