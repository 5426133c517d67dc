import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests import salama the way users do; these map the package names to the sources.
    alias: [
      { find: /^salama$/, replacement: src('index.ts') },
      { find: /^salama\/cache\/redis$/, replacement: src('cache/redis.ts') },
      { find: /^salama\/backup\/s3$/, replacement: src('backup/s3.ts') },
      { find: /^salama\/scaling\/bullmq$/, replacement: src('scaling/bullmq.ts') },
      { find: /^salama\/ops\/prometheus$/, replacement: src('ops/prometheus.ts') },
      { find: /^salama\/(.+)$/, replacement: src('$1/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
