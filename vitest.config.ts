import { defineConfig } from 'vitest/config'

// Two tiers, told apart by file suffix: *.test.ts run without a broker; *.int.test.ts need the real
// Apache Kafka broker, which test/setup/kafka.global.ts starts (or takes from KAFKA_BROKERS).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.int.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'int',
          include: ['test/**/*.int.test.ts'],
          globalSetup: ['test/setup/kafka.global.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Integration tests share one broker and spawn worker processes: on 2 cores, run files one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
})
