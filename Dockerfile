# Build stage: the same steps as .ci/run (Debian's emscripten, npm ci, the
# guest + host build), ending in the npm package (`npm pack` runs prepack).
FROM node:20-bookworm AS build
WORKDIR /src
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends emscripten \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm pack --pack-destination /tmp && mv /tmp/pythongoose-*.tgz /tmp/pythongoose.tgz

# Runtime stage: a slim Node image with only the package installed (no
# toolchain, no sources). Mount an app at /app/app.py, or run the seed app.
FROM node:20-bookworm-slim
# The system CA bundle: what outbound https:// and mqtts:// trust unless --ca.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /tmp/pythongoose.tgz /tmp/pythongoose.tgz
RUN npm install -g --no-audit --no-fund /tmp/pythongoose.tgz && rm /tmp/pythongoose.tgz && npm cache clean --force
WORKDIR /app
USER node
EXPOSE 8000
# The host answers /healthz itself (see --health); the image has no curl.
# Running with another --port, --health or --tls-cert? Override this check (docker run --health-cmd).
HEALTHCHECK --interval=10s --timeout=3s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8000/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["pythongoose", "--host", "0.0.0.0"]
