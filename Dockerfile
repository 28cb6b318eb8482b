# Container image of the kaudit agent: Node.js 24 running the TypeScript sources directly, production dependencies only.
# Build: docker build -t kaudit:0.1.0 --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
# The runtime needs no shell (exec-form entry point, no scripts), runs as a non-root user, and works on a read-only
# root filesystem: it writes only to /var/lib/kaudit (state) and /var/cache/kaudit (caches, optional).

# The Node.js release the project pins (package.json's devDependency "node"): the image runs what the tests run.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# --- dependencies: the production tree of package-lock.json, no install scripts (none of them needs one) ---
FROM ${NODE_IMAGE} AS deps
WORKDIR /opt/kaudit
COPY --chown=0:0 package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
# Directories the agent writes to, created here so that the runtime stage needs no RUN (and no shell).
RUN mkdir -p /out/state /out/cache

# --- runtime ---
FROM ${NODE_IMAGE}
ARG NODE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="kaudit" \
      org.opencontainers.image.description="Kubernetes security log agent: tails kube-apiserver audit logs, detects attacks, delivers logs and alarms at least once" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
WORKDIR /opt/kaudit
# The code is owned by root and read-only to the agent's user, even where the root filesystem is writable.
COPY --chown=0:0 --from=deps /opt/kaudit/node_modules ./node_modules
COPY --chown=0:0 package.json ./
COPY --chown=0:0 bin ./bin
COPY --chown=0:0 src ./src
COPY --chown=0:0 rules ./rules
# State (checkpoints, disk buffers, dead letters) and caches: the only places the agent writes; in Kubernetes a
# hostPath and an emptyDir are mounted over them.
COPY --chown=1000:1000 --from=deps /out/state /var/lib/kaudit
COPY --chown=1000:1000 --from=deps /out/cache /var/cache/kaudit
# HOME points at the cache directory: kaudit keeps Node's compile cache and its parsed rules in ~/.cache/kaudit,
# and starts without them when HOME is not writable (a read-only root filesystem with nothing mounted there).
ENV HOME=/var/cache/kaudit
# The base image's unprivileged `node` user, by number so that Kubernetes can check runAsNonRoot.
USER 1000:1000
# Health, readiness and metrics (config: http.listen).
EXPOSE 9808
ENTRYPOINT ["/usr/local/bin/node", "/opt/kaudit/bin/kaudit.js"]
# Without --config: tail /var/log/kubernetes/kubernetes.audit, print every event on stdout, state in /var/lib/kaudit.
CMD ["run"]
