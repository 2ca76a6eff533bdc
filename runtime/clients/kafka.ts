import { type Admin, Kafka, type KafkaConfig, logLevel } from 'kafkajs'
import type { TopicSpec } from '../../core/kafka/topics.ts'
import type { Endpoints } from '../endpoints.ts'

export interface CreateKafkaOptions {
  /** kafkajs logs reconnects and rebalances at INFO; services that want them pass logLevel.INFO. */
  readonly logLevel?: logLevel
  readonly connectionTimeoutMs?: number
  readonly requestTimeoutMs?: number
}

/**
 * A kafkajs client for the configured brokers. Quiet by default (errors only): the services log
 * what matters to them in their own structured logs.
 *
 * @example
 * const kafka = createKafka(endpoints.kafka, 'ingest')
 * const producer = kafka.producer()
 */
export function createKafka(
  endpoint: Endpoints['kafka'],
  clientId: string,
  options: CreateKafkaOptions = {},
): Kafka {
  const config: KafkaConfig = {
    clientId,
    brokers: [...endpoint.brokers],
    logLevel: options.logLevel ?? logLevel.ERROR,
    connectionTimeout: options.connectionTimeoutMs ?? 3_000,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
  }
  return new Kafka(config)
}

export interface EnsureTopicsResult {
  readonly created: readonly string[]
  readonly existing: readonly string[]
}

/**
 * Creates the topics that do not exist yet, with their partition count, retention and
 * producer-set (CreateTime) record timestamps. Existing
 * topics are left as they are (a shared cluster may have more partitions), so it is safe to call
 * on every start, against the local stack or an external cluster.
 *
 * @example
 * await ensureTopics(endpoints.kafka, ALL_TOPICS)
 */
export async function ensureTopics(
  kafka: Endpoints['kafka'] | readonly string[],
  topics: readonly TopicSpec[],
  options: {
    readonly replicationFactor?: number
    readonly clientId?: string
    readonly logLevel?: logLevel
  } = {},
): Promise<EnsureTopicsResult> {
  const brokers = isBrokerList(kafka) ? kafka : kafka.brokers
  const admin = createKafka(
    { brokers },
    options.clientId ?? 'gridroot-ensure-topics',
    options.logLevel === undefined ? {} : { logLevel: options.logLevel },
  ).admin()
  await admin.connect()
  try {
    const present = new Set(await admin.listTopics())
    const missing = topics.filter((topic) => !present.has(topic.name))
    if (missing.length > 0) {
      // Returns false when another process created them first, which is just as good.
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((topic) => ({
          topic: topic.name,
          numPartitions: topic.partitions,
          replicationFactor: options.replicationFactor ?? 1,
          configEntries: [
            { name: 'retention.ms', value: String(topic.retentionMs) },
            // The producer's timestamp is part of the contract (ingest's MQTT receive time), so a
            // broker default of LogAppendTime must not replace it.
            { name: 'message.timestamp.type', value: 'CreateTime' },
          ],
        })),
      })
    }
    return {
      created: missing.map((topic) => topic.name),
      existing: topics.filter((topic) => present.has(topic.name)).map((topic) => topic.name),
    }
  } finally {
    await admin.disconnect()
  }
}

function isBrokerList(value: Endpoints['kafka'] | readonly string[]): value is readonly string[] {
  return Array.isArray(value)
}

/**
 * The Kafka protocol error type (`MESSAGE_TOO_LARGE`, `NOT_LEADER_FOR_PARTITION`…) of an error
 * kafkajs threw, looked for along its `cause` chain (kafkajs wraps what it gave up on).
 */
export function kafkaErrorType(error: unknown): string | undefined {
  let current: unknown = error
  for (let depth = 0; depth < 6 && typeof current === 'object' && current !== null; depth++) {
    const type = (current as { type?: unknown }).type
    if (typeof type === 'string') return type
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

/**
 * The largest record batch each topic takes: its `max.message.bytes`, which is the broker's
 * `message.max.bytes` unless the topic overrides it. A produce request whose batch for one
 * partition is larger is refused whole (MESSAGE_TOO_LARGE), so producers size batches by it.
 */
/**
 * kafkajs's `ConfigResourceTypes.TOPIC`. Under Node's ESM loader the CommonJS named exports of
 * kafkajs stop at `Partitioners` (cjs-module-lexer), so the enum cannot be imported by name.
 */
const CONFIG_RESOURCE_TOPIC = 2

export async function topicMaxMessageBytes(
  admin: Admin,
  topics: readonly string[],
): Promise<Map<string, number>> {
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: topics.map((name) => ({
      type: CONFIG_RESOURCE_TOPIC,
      name,
      configNames: ['max.message.bytes'],
    })),
  })
  const out = new Map<string, number>()
  for (const resource of described.resources) {
    const entry = resource.configEntries.find((e) => e.configName === 'max.message.bytes')
    const bytes = Number(entry?.configValue)
    if (!Number.isSafeInteger(bytes) || bytes <= 0) {
      throw new Error(`topic ${resource.resourceName}: max.message.bytes is ${entry?.configValue}`)
    }
    out.set(resource.resourceName, bytes)
  }
  return out
}
