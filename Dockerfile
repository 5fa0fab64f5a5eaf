# syntax=docker/dockerfile:1
# Build stage: install all dependencies and compile TypeScript to dist/.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages ./packages
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The picture's scaling loops are WebAssembly (built from AssemblyScript and committed): the build copies them into dist/.
RUN npm run build && npm prune --omit=dev

# Runtime stage: Node 24, ffmpeg, the compiled app, a non-root user.
FROM node:24-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg espeak-ng ca-certificates tini fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY config/config.sample.yaml registration.yaml.example ./config/
RUN useradd --system --uid 10001 --home-dir /data --create-home recorder
USER recorder
VOLUME ["/data"]
# The bot's crypto store must outlive the container, or users see a new device after each restart.
ENV NODE_ENV=production MRR_CONFIG=/data/config.yaml MRR_ENCRYPTION__STORE_DIR=/data/crypto
# Appservice; metrics of the bridge and the worker; the phone bridge's SIP and RTP (sip.enabled).
EXPOSE 9000 9464 9465 5060/udp 20000-20999/udp
# Node options and malloc arenas of the recorder process: src/node-flags.ts says why.
ENV MALLOC_ARENA_MAX=2
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=4", "--expose-gc", "/app/bin/matrixrtc-recorder.js"]
CMD ["all"]
