import { defineConfig } from 'vitest/config'

// Two projects: `unit` (pure logic, beside the code) and `integration` (test/, against the real
// servers that test/setup/stack.global.ts brings up or reuses).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'core/**/*.test.ts',
            'services/**/*.test.ts',
            'simulators/**/*.test.ts',
            'stack/**/*.test.ts',
            'runtime/**/*.test.ts',
          ],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          globalSetup: ['test/setup/stack.global.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
})
