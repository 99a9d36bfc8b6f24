# syntax=docker/dockerfile:1
# aoai-gateway. Node 24 runs the TypeScript sources as they are (type
# stripping): the image holds the sources, the production node_modules and
# Node, and no build step runs. Build: docker build -t aoai-gateway:0.1.0 .

# The Node the tests run on (package.json pins it as the devDependency `node`).
ARG NODE_VERSION=24.21.0

# Production dependencies only. No install script is needed: the only package
# with one is the dev-only `node` pin, which --omit=dev leaves out.
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    AOAIGW_HEALTHCHECK_URL=http://127.0.0.1:8080/healthz
WORKDIR /app
# Owned by root and read-only to the gateway's user: it writes nothing here.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
# The default ledger (sqlite:./data/aoai-gateway.db) needs a writable ./data;
# replicas use PostgreSQL instead (ledger.url).
RUN mkdir /app/data && chown 1000:1000 /app/data
# The image's `node` user, by number so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
# 8080: the data plane (and /healthz, /readyz). 8081: the admin plane and /metrics.
EXPOSE 8080 8081
# curl is not in the slim image; Node's fetch is. A config with listen.tls or
# another port sets AOAIGW_HEALTHCHECK_URL.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.AOAIGW_HEALTHCHECK_URL, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM drains in-flight requests for up to listen.shutdownGraceMs (30 s by
# default); the gateway is PID 1 and handles it itself.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/aoai-gateway.js"]
CMD ["serve", "--config", "/etc/aoai-gateway/config.yaml"]
