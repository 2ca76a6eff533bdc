/**
 * The `EpochAnnouncer` port on Kafka: epochs.v1 written by a transactional producer.
 *
 * Exactly once, however closers come and go: every closer of a deployment uses the same
 * transactional id, so activating one fences the one before it (Kafka aborts the old one's
 * open transaction and rejects its later writes). Each announcement commits, in the same
 * transaction, an offset of the group `<epochs topic>.closer` on epochs.v1 whose metadata
 * names the epoch: the record and the "announced through" mark land together or not at all,
 * and a new closer reads the mark after fencing, so it neither repeats nor skips an epoch.
 * Ids are named after the epochs topic (with its prefix), not after the consumer group: a fresh
 * consumer group rebuilding from the whole topic does not announce the epochs again.
 */
import type { Admin, Kafka, Producer } from 'kafkajs'
import { GridrootError } from '../../../core/errors/base.ts'
import { type EpochAnnouncement, encodeAnnouncement } from '../domain/epoch-close.ts'
import type { EpochAnnouncer } from '../ports.ts'

/** Another closer took over (its transactional producer fenced this one). */
export class CloserFencedError extends GridrootError<'EPOCH_CLOSER_FENCED'> {
  override readonly name = 'CloserFencedError'
  constructor(cause: unknown) {
    super('EPOCH_CLOSER_FENCED', 'another instance took over closing epochs', {
      metaMessages: ['Nothing to fix: the instance that now owns partition 0 closes the epochs.'],
      cause,
    })
  }
}

const FENCED = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'INVALID_PRODUCER_ID_MAPPING'])
const isFenced = (error: unknown): boolean => {
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    const type = (e as { type?: unknown }).type
    if (typeof type === 'string' && FENCED.has(type)) return true
    e = (e as { cause?: unknown; originalError?: unknown }).originalError ?? (e as { cause?: unknown }).cause
  }
  return /fenced|producer epoch/i.test(String((error as Error)?.message ?? ''))
}

export const closerIds = (epochsTopic: string) => ({
  transactionalId: `${epochsTopic}.closer`,
  markGroupId: `${epochsTopic}.closer`,
})

export function createKafkaEpochAnnouncer(
  kafka: Kafka,
  admin: Admin,
  options: { readonly topic: string; readonly instanceId: string },
): EpochAnnouncer {
  const { transactionalId, markGroupId } = closerIds(options.topic)
  let producer: Producer | undefined

  return {
    async activate() {
      if (producer) return
      const p = kafka.producer({
        transactionalId,
        idempotent: true,
        maxInFlightRequests: 1,
        transactionTimeout: 30_000,
      })
      await p.connect()
      // Fences the previous closer now rather than at the first announcement, so that the mark
      // read next is final (its open transaction, if any, is aborted first).
      const init = await p.transaction()
      await init.abort()
      producer = p
    },

    async closedThrough() {
      const [offsets] = await admin.fetchOffsets({ groupId: markGroupId, topics: [options.topic] })
      const metadata = offsets?.partitions.find((p) => p.partition === 0)?.metadata
      if (!metadata) return undefined
      const parsed = JSON.parse(metadata) as { closedThrough?: unknown }
      return typeof parsed.closedThrough === 'number' ? parsed.closedThrough : undefined
    },

    async announce(announcement: EpochAnnouncement) {
      if (!producer) throw new CloserFencedError(new Error('not activated'))
      const txn = await producer.transaction()
      try {
        const [sent] = await txn.send({
          topic: options.topic,
          messages: [
            {
              key: String(announcement.epoch),
              value: encodeAnnouncement(announcement),
              headers: { 'gridroot-aggregator': options.instanceId },
            },
          ],
        })
        const next = sent?.baseOffset === undefined ? '0' : String(BigInt(sent.baseOffset) + 1n)
        // kafkajs's types leave out `metadata`, which its TxnOffsetCommit request encodes.
        const mark = {
          consumerGroupId: markGroupId,
          topics: [
            {
              topic: options.topic,
              partitions: [
                {
                  partition: 0,
                  offset: next,
                  metadata: JSON.stringify({ closedThrough: announcement.epoch }),
                },
              ],
            },
          ],
        }
        await txn.sendOffsets(mark as unknown as Parameters<typeof txn.sendOffsets>[0])
        await txn.commit()
      } catch (error) {
        await txn.abort().catch(() => undefined)
        if (isFenced(error)) {
          await this.deactivate()
          throw new CloserFencedError(error)
        }
        throw error
      }
    },

    async deactivate() {
      const p = producer
      producer = undefined
      await p?.disconnect().catch(() => undefined)
    },
  }
}
