# recado: one image for the web server, the workers and the one-shot migration.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app

# Dependencies first: this layer is rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb'));\
 open('/tmp/requirements.txt', 'w').write('\n'.join(d['project']['dependencies']))" \
    && pip install -r /tmp/requirements.txt

COPY domain ./domain
COPY db ./db
COPY actors ./actors
COPY webapp ./webapp
COPY ops ./ops
# htmx from the npm registry, pinned by version and integrity, served by the app itself.
RUN python -m ops.assets \
    && pip install --no-deps . \
    && useradd --system --no-create-home --shell /usr/sbin/nologin recado

USER recado
EXPOSE 8000
# The web server `recado serve` runs (webapp/serving.py: timeouts); 0.0.0.0 inside the container,
# reached only through the proxy in docker-compose.yml.
CMD ["hypercorn", "webapp.asgi:app", "--config", "python:webapp.serving", "--bind", "0.0.0.0:8000", \
     "--workers", "2"]
