# syntax=docker/dockerfile:1
# Build: compile TypeScript with the full dev toolchain.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime: production dependencies and the compiled output only; no shell tools needed.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY crds ./crds
COPY manifests ./manifests
# The same unprivileged user the manifests ask for (runAsUser 10001).
RUN groupadd --system --gid 10001 ballast && useradd --system --uid 10001 --gid ballast --no-create-home ballast \
 && chmod +x dist/cli/main.js && ln -s /app/dist/cli/main.js /usr/local/bin/ballast
USER 10001:10001
EXPOSE 8080 9901
ENTRYPOINT ["ballast"]
CMD ["controller"]
