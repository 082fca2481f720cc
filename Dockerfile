# Tidings as one image: `tidings serve` by default, `tidings api` or `tidings worker`
# by naming the command (docs/deployment.md).
#
# The base is an argument so that a locally built Python 3.11 image can stand in for
# the official one where no registry is reachable. Every step uses `python3`, which
# both the official image and Debian's own python3 package provide.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
# A virtual environment, so the runtime stage copies one directory and Debian's
# "externally managed" system Python is never touched.
RUN python3 -m venv /opt/tidings
# The lock alone first: this layer is reused until the dependencies change.
# --only-binary: every locked package has a wheel for CPython 3.11 on Linux, so no
# compiler is needed; a missing wheel should fail here rather than start a build.
#
# Behind a proxy that re-signs TLS, pass the full CA bundle that trusts it as the
# build secret `pip_ca` (docs/deployment.md). A secret mount, not a COPY or a build
# volume, so the bundle never lands in a layer; without it pip uses its own CAs.
COPY requirements/run.lock /tmp/run.lock
RUN --mount=type=secret,id=pip_ca \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
    && /opt/tidings/bin/pip install --require-hashes --only-binary :all: -r /tmp/run.lock
# Then Tidings itself, without dependencies: the lock above is all it gets (never the
# test extras). Building the wheel fetches hatchling, the build backend, from PyPI.
COPY pyproject.toml README.md /tmp/tidings/
COPY src /tmp/tidings/src
RUN --mount=type=secret,id=pip_ca \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
    && /opt/tidings/bin/pip install --no-deps /tmp/tidings


FROM ${BASE_IMAGE}
# A fixed numeric id, so `runAsNonRoot`-style checks can verify it without reading
# /etc/passwd, and so a bind-mounted data directory can be chowned to it beforehand.
ARG TIDINGS_UID=10001
RUN groupadd --system --gid "${TIDINGS_UID}" tidings \
    && useradd --system --uid "${TIDINGS_UID}" --gid tidings --no-create-home \
        --home-dir /var/lib/tidings --shell /usr/sbin/nologin tidings \
    && install -d -o tidings -g tidings -m 0750 /var/lib/tidings
COPY --from=build /opt/tidings /opt/tidings

# TIDINGS_HOST: inside a container the loopback default would be unreachable from the
# outside; --dev refuses a non-loopback host, so it needs `--host 127.0.0.1` here.
# The SQLite file and its key file live in the volume, never in the image layer.
ENV PATH=/opt/tidings/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TIDINGS_HOST=0.0.0.0 \
    TIDINGS_PORT=8040 \
    TIDINGS_DATABASE_URL=sqlite:////var/lib/tidings/tidings.db

USER tidings:tidings
WORKDIR /var/lib/tidings
# Declared after the chown above, so a fresh named or anonymous volume starts out
# owned by the tidings user.
VOLUME ["/var/lib/tidings"]
EXPOSE 8040

# Liveness of the API process (`serve` and `api`). A worker container answers on its
# --metrics-port instead, so compose overrides this check for workers. Python's own
# urllib: the image has no curl, and urlopen raises (exit 1) on any non-2xx status.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('TIDINGS_PORT', '8040'), timeout=4)"]

# SIGTERM is what Tidings drains on; give `docker stop` more than the worker's 10 s
# shutdown grace (docker stop --time 30, or compose's stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["tidings"]
# One container that receives and delivers: the laptop case. Compose runs `api` and
# `worker` separately.
CMD ["serve"]
