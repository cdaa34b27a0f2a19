"""Lambda: the invocation journal, the service that runs it and one attempt of a function in its own process.

* ``journal``: the invocation journal (accepted, running, finished invocations) and its reading API.
* ``lambda_service``: runs the journal: per-function concurrency, async retries, on-failure destinations.
* ``local_lambda`` + ``lambda_bootstrap`` + ``cpu_share``: one attempt of a function in its own process with its
  limits (timeout, memory, CPU share), logs and EMF metrics. ``lambda_bootstrap`` is started as a script, by path.
"""
