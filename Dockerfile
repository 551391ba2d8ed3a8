# Build stage: the same scripts CI runs (scripts/build-guest.sh via npm).
FROM node:20-bookworm AS build
WORKDIR /src
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends emscripten \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

# Runtime stage: Node and the built package only (no toolchain, no sources).
FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/dist ./dist
COPY --from=build /src/wasm/build/pythongoose.wasm ./wasm/build/pythongoose.wasm
COPY --from=build /src/examples ./examples
USER node
EXPOSE 8000
ENTRYPOINT ["node", "dist/server.js", "--host", "0.0.0.0"]
