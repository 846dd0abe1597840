#!/usr/bin/env node
// Entry point of the `decider` CLI.
// Installed package: runs the compiled CLI (dist/). Source checkout (src/ present, as in this repository):
// registers tsx with the checkout's tsconfig.json (whose `paths` map `kafka-decider` to src/, for the samples)
// and runs the TypeScript sources, so a change is live without a build.
// Users' TypeScript deciders load either way (src/topology/module-loader.ts).
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const source = new URL('../src/cli/main.ts', import.meta.url)
if (existsSync(fileURLToPath(source)) && process.env.DECIDER_CLI !== 'dist') {
  const tsconfig = fileURLToPath(new URL('../tsconfig.json', import.meta.url))
  const { register } = await import('tsx/esm/api')
  register({ tsconfig })
  globalThis[Symbol.for('kafka-decider.tsx')] = true
  await import(source.href)
} else {
  await import('../dist/cli/main.js')
}
