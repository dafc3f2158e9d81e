import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/helpers/global-setup.ts"],
    pool: "forks",
    // One test file at a time: each starts its own nats-servers, hosts and browsers, so on a
    // 2-core machine parallel files only contend — and the timing bounds (failover, kill switch) must hold.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});
