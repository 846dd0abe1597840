import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

// The samples import the package by name (as users do); here the name is the sources (as in tsconfig.json).
const src = (p: string) => fileURLToPath(new URL(`./src/${p}`, import.meta.url))
const alias = [
  { find: /^kafka-decider$/, replacement: src('index.ts') },
  { find: /^kafka-decider\/testing$/, replacement: src('testing/index.ts') },
  { find: /^kafka-decider\/client$/, replacement: src('client/index.ts') },
]

// Two tiers, told apart by file suffix: *.test.ts run without a broker; *.int.test.ts need the real
// Apache Kafka broker, which test/setup/kafka.global.ts starts (or takes from KAFKA_BROKERS).
export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.int.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        extends: true,
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
