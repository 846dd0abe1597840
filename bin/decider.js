#!/usr/bin/env node
// Entry point of the `decider` CLI. Registers tsx so that the CLI and users' TypeScript deciders load as-is.
import { register } from 'tsx/esm/api'
register()
await import('../src/cli/main.ts')
