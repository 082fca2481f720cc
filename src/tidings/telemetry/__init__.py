"""What Tidings tells its operators about itself: log lines, metrics and traces.

Below every layer that reports (delivery, ingest, api, serve), and knowing none of them.
"""
