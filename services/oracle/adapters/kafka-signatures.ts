/**
 * `oracle.signatures.v1` on Kafka: how signatures (and refusals) travel from the signers to the
 * submitter. One partition (few records: one per signer, pool and epoch), kept forever, so a
 * restarted submitter rebuilds its signature book from the beginning. Key `<poolId>/<epoch>`.
 */
import type { Kafka, Producer } from 'kafkajs'
import type { TopicSpec } from '../../../core/kafka/topics.ts'
import { encodeSignerMessage, signerMessageKey } from '../domain/signer-message.ts'
import type { SignatureChannel } from '../ports.ts'

export const SIGNATURES_TOPIC: TopicSpec = { name: 'oracle.signatures.v1', partitions: 1, retentionMs: -1 }

export const signaturesTopic = (prefix: string): TopicSpec => ({
  ...SIGNATURES_TOPIC,
  name: `${prefix}${SIGNATURES_TOPIC.name}`,
})

export async function createKafkaSignatureChannel(
  kafka: Kafka,
  topic: string,
): Promise<SignatureChannel & { close(): Promise<void> }> {
  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  return {
    async publish(message) {
      const poolId = message.kind === 'signature' ? message.proposal.poolId : message.poolId
      const epoch = message.kind === 'signature' ? message.proposal.epoch : message.epoch
      await producer.send({
        topic,
        acks: -1,
        messages: [{ key: signerMessageKey(poolId, epoch), value: encodeSignerMessage(message) }],
      })
    },
    close: () => producer.disconnect(),
  }
}
