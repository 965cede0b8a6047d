# Vigil daemon image: `docker build -t vigil .` (docker-compose.yml builds it as vigil:local).
# Runs `vigil run`; the configuration is layered from config/ (in the image) and the file given
# with --config (mounted). State, the alert log and the dead-letter file go to /var/lib/vigil.

FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY config ./config
COPY detectors ./detectors
COPY runbooks ./runbooks
COPY kibana ./kibana
# A new named volume mounted here takes this ownership, so the unprivileged user can write state.
RUN mkdir -p /var/lib/vigil /etc/vigil && chown node:node /var/lib/vigil
USER node
VOLUME ["/var/lib/vigil"]
# /metrics, /healthz, /readyz (http.port).
EXPOSE 9464
# SIGTERM: final checkpoint, Kafka offset commit, leave the consumer group; give it time.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/cli/bin.js"]
CMD ["run", "--env", "production", "--config", "/etc/vigil/compose.yaml"]
