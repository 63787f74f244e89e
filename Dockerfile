# One image for web, worker and migrations; they differ only by command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app

# The project without dev extras; the sandbox and tests stay out (.dockerignore).
COPY pyproject.toml gunicorn.conf.py ./
COPY shared ./shared
COPY portal_service ./portal_service
COPY worker ./worker
RUN pip install . && rm -rf /root/.cache

USER app
EXPOSE 8000
CMD ["gunicorn", "-c", "gunicorn.conf.py", "portal_service:create_app()"]
