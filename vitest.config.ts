import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // ChunkedList equals the array it stands for in toEqual (producers return either).
    setupFiles: ["test/setup-equality.ts"],
    // Real-kernel and etcd tests create their own namespaces/processes with unique names,
    // so files may run in parallel; 2 cores → 2 workers keeps the machine responsive.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ["default"],
  },
});
