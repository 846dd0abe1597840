/**
 * Imported first by the CLI and the package's entry point, before anything loads kafkajs: replaces kafkajs' quadratic
 * grouping of a send's messages by partition (fast-produce.ts, installFastGrouping). Imports nothing of kafkajs.
 */
import { installFastGrouping } from './fast-produce.ts'

installFastGrouping()
