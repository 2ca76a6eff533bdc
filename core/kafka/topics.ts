/**
 * The Kafka topics that are contracts between the parts (docs/architecture.md). Partition counts
 * are what the local stack and `ensureTopics` create; an existing cluster may have more.
 */
export interface TopicSpec {
  readonly name: string
  readonly partitions: number
  /** Retention; -1 keeps forever. The DLQ keeps rejected input for inspection and replay. */
  readonly retentionMs: number
}

/** Accepted signed telemetry messages, key = deviceId, value = the original signed bytes. */
export const TELEMETRY_TOPIC: TopicSpec = {
  name: 'telemetry.v1',
  partitions: 6,
  retentionMs: 7 * 24 * 3600_000,
}

/** Rejected input: reason code in headers, value = the original bytes. */
export const DLQ_TOPIC: TopicSpec = { name: 'telemetry.dlq', partitions: 1, retentionMs: -1 }

/**
 * Closed epochs, announced once each by the aggregator after their totals are durable
 * (docs/architecture.md, "epochs.v1"): key = the epoch number, value = JSON with the per-pool
 * totals and a digest. One partition, so the announcements stay in epoch order; kept forever.
 * Written transactionally: consumers read it with isolation.level=read_committed.
 */
export const EPOCHS_TOPIC: TopicSpec = { name: 'epochs.v1', partitions: 1, retentionMs: -1 }

export const ALL_TOPICS: readonly TopicSpec[] = [TELEMETRY_TOPIC, DLQ_TOPIC, EPOCHS_TOPIC]

export interface TopicSet {
  readonly telemetry: TopicSpec
  readonly dlq: TopicSpec
  readonly epochs: TopicSpec
  readonly all: readonly TopicSpec[]
}

/**
 * The topics with an optional name prefix, for sharing one Kafka cluster between deployments
 * (or test runs): `GRIDROOT_KAFKA_TOPIC_PREFIX=staging.` gives `staging.telemetry.v1`.
 */
export function topicSet(prefix = ''): TopicSet {
  const telemetry = { ...TELEMETRY_TOPIC, name: `${prefix}${TELEMETRY_TOPIC.name}` }
  const dlq = { ...DLQ_TOPIC, name: `${prefix}${DLQ_TOPIC.name}` }
  const epochs = { ...EPOCHS_TOPIC, name: `${prefix}${EPOCHS_TOPIC.name}` }
  return { telemetry, dlq, epochs, all: [telemetry, dlq, epochs] }
}
