import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Worker-pool and DuckDB tests spawn threads and open files; the machine has two cores.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
