# The agora image: the CLI with the built reference agents.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY . .
RUN npm run build
ENV AGORA_CONFIG=/app/deploy/agora.cluster.yaml
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["--help"]
