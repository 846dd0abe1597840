/**
 * The partition of a record key as Kafka's default partitioner picks it (Java's `Utils.murmur2` of the key's UTF-8
 * bytes, made positive, modulo the partition count), which is also kafkajs' `Partitioners.DefaultPartitioner`.
 *
 * Every command is checked against it (a misrouted key is refused) and every reply and dead letter is routed by it,
 * so it is on the hot path. kafkajs' version does its 32-bit arithmetic through Long objects (several allocations
 * per 4 bytes of key) and filters the partition list per call: 3% of a worker's CPU under a backlog. This one is the
 * same function in 32-bit integer arithmetic (`Math.imul`), reading an ASCII string's bytes without encoding it;
 * test/kafka/partitioner.test.ts checks it against kafkajs' on random keys.
 */

const M = 0x5bd1e995
const SEED = 0x9747b28c

/** Java's `org.apache.kafka.common.utils.Utils.murmur2` of data's first `length` bytes, as a signed 32-bit integer. */
export function murmur2(data: Uint8Array, length = data.length): number {
  let h = SEED ^ length
  const end = length & ~3
  for (let i = 0; i < end; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)
    k = Math.imul(k, M)
    k ^= k >>> 24
    k = Math.imul(k, M)
    h = Math.imul(h, M) ^ k
  }
  switch (length & 3) {
    case 3:
      h ^= data[end + 2]! << 16
    // falls through
    case 2:
      h ^= data[end + 1]! << 8
    // falls through
    case 1:
      h ^= data[end]!
      h = Math.imul(h, M)
  }
  h ^= h >>> 13
  h = Math.imul(h, M)
  h ^= h >>> 15
  return h | 0
}

/** A string key's bytes: an ASCII key is copied here (no encoding, no allocation), any other goes through UTF-8. */
let ascii = new Uint8Array(64)

/** The hash of a key as Kafka takes it: a Buffer's bytes, a string's UTF-8 bytes. */
export function keyHash(key: string | Uint8Array): number {
  if (typeof key !== 'string') return murmur2(key)
  const n = key.length
  if (n > ascii.length) ascii = new Uint8Array(Math.max(n, ascii.length * 2))
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i)
    if (c > 0x7f) return murmur2(Buffer.from(key, 'utf8'))
    ascii[i] = c
  }
  return murmur2(ascii, n)
}

export function partitionOf(key: string | Uint8Array, partitions: number): number {
  return (keyHash(key) & 0x7fffffff) % partitions
}
