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
RUN pip install --no-deps . \
    && useradd --system --no-create-home --shell /usr/sbin/nologin recado

USER recado
EXPOSE 8000
# --no-control-socket: the default path is under $HOME, which this user does not have.
CMD ["gunicorn", "webapp.wsgi:app", "--bind", "0.0.0.0:8000", "--worker-class", "gthread", \
     "--workers", "2", "--threads", "8", "--graceful-timeout", "10", "--timeout", "30", \
     "--no-control-socket"]
