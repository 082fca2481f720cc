"""Hosting the server: the API and worker services in one process (runtime), several
API processes on one socket under a supervisor (api_processes), the worker's CPU
priority (priority), and the HTTP limits every API connection gets (http_limits)."""
