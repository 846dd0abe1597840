/**
 * Imported first by the CLI and the package's entry point, before anything loads kafkajs: replaces kafkajs' quadratic
 * grouping of a send's messages by partition and its request framing, which copies every request twice
 * (fast-produce.ts). Imports nothing of kafkajs.
 */
import { installFastFraming, installFastGrouping } from './fast-produce.ts'

installFastGrouping()
installFastFraming()
