/** A kafkajs admin client connected on first use, shared by its owner's reads, and disconnected on close. */
import type { Admin } from 'kafkajs'
import type { KafkaConnection } from './client.ts'

export class LazyAdmin {
  private admin: Promise<Admin> | undefined

  constructor(private readonly kafka: KafkaConnection) {}

  /** The connected admin; a failed connect is tried again at the next call. */
  get(): Promise<Admin> {
    this.admin ??= (async () => {
      const admin = this.kafka.admin()
      await admin.connect()
      return admin
    })().catch((e: unknown) => {
      this.admin = undefined
      throw e
    })
    return this.admin
  }

  /** Disconnects it if it was connected; never throws. */
  async close(): Promise<void> {
    const admin = this.admin
    this.admin = undefined
    if (admin) await (await admin.catch(() => undefined))?.disconnect().catch(() => undefined)
  }
}
