/**
 * `npm run -s kstreams:build`: builds the Kafka Streams baseline app of the bench (bench/kstreams/) with Maven into
 * .cache/kstreams/, or says where the cached build is. CI runs it after `kafka:fetch`, so the bench smoke test does
 * not spend its time on the first download; the bench builds it lazily (bounded) otherwise.
 */
import { ensureKstreamsApp } from './app.ts'

const app = await ensureKstreamsApp((m) => console.error(m))
console.log(`Kafka Streams ${app.kafkaVersion} baseline app ${app.built ? 'built' : 'cached'} in ${app.dir}`)
