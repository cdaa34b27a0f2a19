"""CloudWatch: the metrics AWS publishes itself and alarm evaluation.

* ``aws_metrics``: AWS/Lambda and AWS/SQS metrics.
* ``alarms`` + ``metric_math``: alarm evaluation (SetAlarmState with CloudWatch's reason data).
"""
