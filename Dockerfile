# The one image every Liaison workload runs (deploy/k8s/): `liaison <command>`.
# Build: docker build -t liaison:0.1.0 .   Pin the base by digest where you build for real.

FROM python:3.11.14-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/liaison
WORKDIR /app
# The package finds its Avro schemas and default policy beside it, so it stays in /app and
# is installed in place, with the exact versions the test suite ran.
COPY pyproject.toml constraints.txt README.md ./
COPY liaison ./liaison
COPY pipelines ./pipelines
COPY connectors ./connectors
COPY stack ./stack
COPY schemas ./schemas
COPY policy ./policy
RUN /opt/liaison/bin/pip install -c constraints.txt -e . \
 && /opt/liaison/bin/python -m compileall -q /app

FROM python:3.11.14-slim-bookworm
RUN groupadd --gid 10001 liaison \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin liaison
COPY --from=builder /opt/liaison /opt/liaison
COPY --from=builder /app /app
# The root filesystem is read-only in the cluster: no bytecode written at run time, state
# under /var/lib/liaison (a volume).
ENV PATH=/opt/liaison/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app
USER 10001:10001
EXPOSE 9100 8081 8082
ENTRYPOINT ["liaison"]
CMD ["--help"]
