# kafka-decider worker image. Build: docker build -t kafka-decider .   Run: see docker-compose.yml.
# Built from the compiled package: the build stage runs `npm run build` (dist/); the image holds dist/, bin/,
# the production dependencies and the sample topologies. Topologies stay TypeScript: the worker loads a
# decider module through tsx (a runtime dependency), as it does in any project that installs the package.
FROM node:22-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --no-audit --no-fund
COPY src ./src
RUN npm run build && npm prune --omit=dev && npm cache clean --force

FROM node:22-slim
ENV NODE_ENV=production \
    DECIDER_STATE_DIR=/var/lib/decider \
    DECIDER_HTTP_HOST=0.0.0.0 \
    DECIDER_HTTP_PORT=9464
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
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
