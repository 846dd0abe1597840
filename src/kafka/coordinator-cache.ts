/**
 * kafkajs asks the cluster for a coordinator before every transactional request: FindCoordinator for the
 * transaction coordinator before AddOffsetsToTxn, before each send's AddPartitionsToTxn and before EndTxn, and for
 * the group coordinator before TxnOffsetCommit (producer/eosManager/index.js). That is 4 of the 9 sequential round
 * trips of one of our transactions; under light load, with a transaction per partition every few tens of ms, they
 * were a large part of each batch's time and of the broker's work.
 *
 * This gives each transactional producer's transaction manager a view of its cluster that remembers the coordinator
 * it found, per (coordinator type, key), for at most COORDINATOR_TTL_MS. The broker it returns is a view too: a
 * request to it that fails with NOT_COORDINATOR (or not available, or loading), a lost connection, a timeout or any
 * error but another protocol error forgets the coordinator first, so the retry, kafkajs' or ours, looks it up again. A coordinator that moved answers NOT_COORDINATOR (it does not act as
 * one), so remembering it never changes what a transaction does, only how soon a move is noticed: at the first
 * request after it, as before. Consumers and the admin client keep kafkajs' lookups.
 *
 * The same wrapper hands the transaction manager it creates to `captureTransactionManager` (below): the transactional
 * producer adds a transaction's partitions itself through it (transactional-producer.ts).
 *
 * kafkajs' producer module keeps the transaction manager factory it loaded, so this must run before kafkajs is
 * first loaded: src/kafka/preload.ts. Returns false (and changes nothing) when the producer is loaded already.
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

export const COORDINATOR_TTL_MS = 10_000

interface EosManagerOptions {
  cluster: object
  transactional?: boolean
  [k: string]: unknown
}

type CreateEosManager = (o: EosManagerOptions) => unknown

interface CoordinatorLookup {
  groupId: string
  coordinatorType?: number
}

type FindCoordinator = (l: CoordinatorLookup) => Promise<object>

export function installCoordinatorCache(): boolean {
  const producer = require.resolve('kafkajs/src/producer/index.js')
  if (require.cache[producer] !== undefined) return false
  const file = require.resolve('kafkajs/src/producer/eosManager/index.js')
  const create = require(file) as CreateEosManager
  const mod = require.cache[file]
  if (mod === undefined) return false
  mod.exports = function cachingEosManager(o: EosManagerOptions) {
    if (o.transactional !== true) return create(o)
    const manager = create({ ...o, cluster: coordinatorCaching(o.cluster) })
    if (capturing !== undefined) capturing.manager = manager as TransactionManager
    return manager
  }
  return true
}

/** What the transactional producer uses of a kafkajs 2.2.4 transaction manager (producer/eosManager/index.js). */
export interface TransactionManager {
  /** AddPartitionsToTxn for those of `topicData` not yet in the open transaction (kafkajs then skips them in a send). */
  addPartitionsToTransaction(
    topicData: { topic: string; partitions: { partition: number }[] }[],
  ): Promise<void>
}

let capturing: { manager: TransactionManager | undefined } | undefined

/**
 * Runs `start` (a kafkajs producer's first `transaction()` call, which creates the producer's transaction manager
 * before its first await) and returns the transaction manager created meanwhile: the producer's own, as nothing else
 * runs in between. Undefined when none was created (not the first call, or the wrapper is not installed).
 */
export function captureTransactionManager<T>(start: () => T): {
  result: T
  manager: TransactionManager | undefined
} {
  const slot: { manager: TransactionManager | undefined } = { manager: undefined }
  capturing = slot
  try {
    return { result: start(), manager: slot.manager }
  } finally {
    capturing = undefined
  }
}

/**
 * A view of a kafkajs Cluster whose findGroupCoordinator remembers what it found (see the header); every other
 * property is the cluster's own, its methods called on the cluster itself.
 */
export function coordinatorCaching<C extends object>(cluster: C, now: () => number = Date.now): C {
  const found = new Map<string, { broker: object; at: number }>()
  const find = (cluster as { findGroupCoordinator: FindCoordinator }).findGroupCoordinator.bind(cluster)
  const cached: FindCoordinator = async (lookup) => {
    const key = `${lookup.coordinatorType ?? 0}:${lookup.groupId}`
    const hit = found.get(key)
    if (hit !== undefined && now() - hit.at < COORDINATOR_TTL_MS) return hit.broker
    const broker = forgettingOnError(await find(lookup), () => {
      if (found.get(key)?.broker === broker) found.delete(key)
    })
    found.set(key, { broker, at: now() })
    return broker
  }
  return new Proxy(cluster, {
    get(target, prop) {
      if (prop === 'findGroupCoordinator') return cached
      const v: unknown = Reflect.get(target, prop, target)
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
}

/** The protocol errors that say the broker is not (or not yet) the coordinator (kafkajs' names). */
const NOT_THE_COORDINATOR = new Set([
  'NOT_COORDINATOR_FOR_GROUP',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'GROUP_LOAD_IN_PROGRESS',
])

/**
 * Whether a failed request puts its coordinator in doubt: any error but a protocol error of a broker that acts as
 * the coordinator (CONCURRENT_TRANSACTIONS after every commit, fencing, ...), which a lookup would answer the same.
 */
function coordinatorInDoubt(e: unknown): boolean {
  const { name, type } = (e ?? {}) as { name?: unknown; type?: unknown }
  return name !== 'KafkaJSProtocolError' || (typeof type === 'string' && NOT_THE_COORDINATOR.has(type))
}

/** A view of a kafkajs Broker: a request that fails with coordinatorInDoubt calls `forget` before its error goes on. */
function forgettingOnError<B extends object>(broker: B, forget: () => void): B {
  return new Proxy(broker, {
    get(target, prop) {
      const v: unknown = Reflect.get(target, prop, target)
      if (typeof v !== 'function') return v
      const method = v as (...a: unknown[]) => unknown
      return (...args: unknown[]) => {
        try {
          const r = method.apply(target, args)
          return r instanceof Promise
            ? r.catch((e: unknown) => {
                if (coordinatorInDoubt(e)) forget()
                throw e
              })
            : r
        } catch (e) {
          if (coordinatorInDoubt(e)) forget()
          throw e
        }
      }
    },
  })
}
