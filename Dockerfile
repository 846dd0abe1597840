# kafka-decider worker image. Build: docker build -t kafka-decider .   Run: see docker-compose.yml.
# TypeScript runs as-is through tsx (a runtime dependency), so there is no build step and no dev dependencies.
FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20-slim
ENV NODE_ENV=production \
    DECIDER_STATE_DIR=/var/lib/decider \
    DECIDER_HTTP_HOST=0.0.0.0 \
    DECIDER_HTTP_PORT=9464
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY topologies ./topologies
COPY config/worker.yaml config/worker.docker.yaml ./config/
# The LevelDB stores live in the state dir, owned by the unprivileged `node` user of the base image.
RUN mkdir -p /var/lib/decider && chown node:node /var/lib/decider
USER node
VOLUME ["/var/lib/decider"]
EXPOSE 9464
# Ready = group joined and every task RUNNING. With node (the image has no curl).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.DECIDER_HTTP_PORT||9464)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form (no shell in between): node is PID 1 and receives SIGTERM itself, which starts the graceful shutdown.
CMD ["node", "bin/decider.js", "run", "topologies/bank-account.yaml", "--config", "config/worker.docker.yaml"]
