"""The imitation of AWS: moto behind the middleware that makes it behave like the AWS the project deploys to, one
place per service it imitates.

Processes: `server` (one process: moto's WSGI app behind the middleware) starts `lambda_.lambda_service` as its
child; the service starts one process per function attempt (`lambda_.lambda_bootstrap`).

* ``server`` + ``http11`` + ``moto_fixes``: moto behind a middleware: S3 event notifications for every client, the
  Lambda Invoke and recursion-config APIs, Code.Location, SQS metrics, alarm evaluation; HTTP/1.1 keep-alive; fixes
  to moto's DynamoDB item size and table Query, and S3 multipart behaviour.
* ``clients``: boto3 clients of the local AWS with fake credentials (the server's own calls, and the commands').
* ``trace``: X-Ray trace headers and recursive loop detection.
* ``lambda_``: the Lambda runtime and service (journal, scheduling, one attempt per process, CPU share).
* ``cloudwatch``: AWS/Lambda and AWS/SQS metrics, metric math and alarm evaluation.
* ``dynamodb_capacity``: DynamoDB's write capacity (WRU, partitions, table limits, throttling errors).

Imports nothing of the project's commands (``tools.emulator.local_aws``, ``local_deploy``, ``cli``, ``demo``,
``local_report``); of ``tools.emulator`` only ``endpoint`` (where the state directory is).
"""
