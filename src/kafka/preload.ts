/**
 * Imported first by the CLI and the package's entry point, before anything loads kafkajs: replaces kafkajs' quadratic
 * grouping of a send's messages by partition and its request framing, which copies every request twice
 * (fast-produce.ts), its decoding of fetched records through Long objects (fast-fetch.ts), and its lookup of the
 * transaction and group coordinators before every transactional request (coordinator-cache.ts).
 */
import { installCoordinatorCache } from './coordinator-cache.ts'
import { installFastRecordDecoding } from './fast-fetch.ts'
import { installFastFraming, installFastGrouping } from './fast-produce.ts'

installFastGrouping()
installFastFraming()
installFastRecordDecoding()
installCoordinatorCache()
