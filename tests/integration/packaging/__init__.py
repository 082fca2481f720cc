"""What ships beside the package: the container image, compose.yaml, systemd units."""
