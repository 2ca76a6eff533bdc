import { randomBytes, randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { logLevel, Partitioners } from 'kafkajs'
import { ALL_TOPICS, type TopicSpec } from '../../core/kafka/topics.ts'
import { createKafka, ensureTopics } from '../../runtime/clients/kafka.ts'
import type { Endpoints } from '../../runtime/endpoints.ts'
import { STACK_ERROR_CODES, StackError } from '../errors.ts'
import { runPaths } from '../paths.ts'
import { LOOPBACK } from '../ports.ts'
import { runToCompletion, spawnServer, waitForPort } from '../process.ts'
import { ensureKafka } from '../provision/kafka.ts'
import { errorMessage, retryUntil, withTimeout } from '../retry.ts'
import type { ServerStartContext, StartedServer } from './types.ts'

/** The health probe's own topic: one partition, short retention, never used by the services. */
export const PROBE_TOPIC: TopicSpec = { name: '_gridroot.probe', partitions: 1, retentionMs: 3_600_000 }

export interface KafkaConfigParams {
  readonly port: number
  readonly controllerPort: number
  readonly dataDir: string
}

/** A single combined broker+controller KRaft node for one machine. */
export function renderKafkaProperties(params: KafkaConfigParams): string {
  return [
    '# Written by gridroot stack/servers/kafka.ts; changes are overwritten on the next start.',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${LOOPBACK}:${params.controllerPort}`,
    `listeners=PLAINTEXT://${LOOPBACK}:${params.port},CONTROLLER://${LOOPBACK}:${params.controllerPort}`,
    `advertised.listeners=PLAINTEXT://${LOOPBACK}:${params.port}`,
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${params.dataDir}`,
    '',
    '# Topics are contracts (core/kafka/topics.ts) created by ensureTopics, never by a typo.',
    'auto.create.topics.enable=false',
    'num.partitions=6',
    'default.replication.factor=1',
    'min.insync.replicas=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=6',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=6',
    '# Otherwise every consumer group join waits 3 s for more members.',
    'group.initial.rebalance.delay.ms=0',
    '',
    '# Sized for a 2-core laptop or CI runner.',
    'num.network.threads=3',
    'num.io.threads=4',
    'log.cleaner.dedupe.buffer.size=33554432',
    'log.retention.hours=168',
    '',
  ].join('\n')
}

/** Broker logs go to stdout, which the supervisor appends to `<runDir>/logs/kafka.log`. */
export function renderKafkaLog4j(): string {
  return [
    'log4j.rootLogger=INFO, stdout',
    'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
    'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
    '# Per-partition and request chatter drowns the lines that matter.',
    'log4j.logger.kafka=INFO',
    'log4j.logger.org.apache.kafka=WARN',
    'log4j.logger.org.apache.kafka.controller=WARN',
    'log4j.logger.kafka.server.metadata=WARN',
    'log4j.logger.kafka.server.ReplicaFetcherManager=WARN',
    'log4j.logger.kafka.log=WARN',
    'log4j.logger.kafka.cluster=WARN',
    'log4j.logger.kafka.coordinator=WARN',
    'log4j.logger.state.change.logger=WARN',
    'log4j.logger.kafka.request.logger=WARN',
    '',
  ].join('\n')
}

/**
 * KRaft cluster ids are 16 random bytes in URL-safe base64 without padding (22 characters). One
 * that starts with '-' would be read as an option by the storage tool's argument parser (Kafka's
 * own Uuid.randomUuid() draws again in that case), so this does too.
 */
export function newClusterId(random: (size: number) => Buffer = randomBytes): string {
  for (;;) {
    const id = random(16).toString('base64url')
    if (!id.startsWith('-')) return id
  }
}

export function kafkaEndpoint(port: number): Endpoints['kafka'] {
  return { brokers: [`${LOOPBACK}:${port}`] }
}

const JVM_OPTIONS = [
  '-Xmx768m',
  '-Xms256m',
  '-XX:+UseG1GC',
  '-XX:MaxGCPauseMillis=20',
  '-XX:+ExitOnOutOfMemoryError',
]

export async function startKafka(ctx: ServerStartContext): Promise<StartedServer> {
  const install = await ensureKafka(ctx.report)
  const controllerPort = ctx.extraPorts.controller
  if (controllerPort === undefined) throw new Error('startKafka needs extraPorts.controller')
  const paths = runPaths(ctx.runDir)
  const dir = paths.serverDir('kafka')
  const dataDir = join(dir, 'data')
  mkdirSync(dataDir, { recursive: true })
  const propertiesFile = join(dir, 'server.properties')
  const log4jFile = join(dir, 'log4j.properties')
  writeFileSync(propertiesFile, renderKafkaProperties({ port: ctx.port, controllerPort, dataDir }))
  writeFileSync(log4jFile, renderKafkaLog4j())
  const logFile = paths.logFile('kafka')
  const javaArgs = [
    ...JVM_OPTIONS,
    `-Dlog4j.configuration=file:${log4jFile}`,
    '-cp',
    join(install.libDir, '*'),
  ]

  // The cluster id is kept so that a restart in the same run folder finds its own data.
  const clusterIdFile = join(dir, 'cluster-id')
  if (!existsSync(clusterIdFile)) writeFileSync(clusterIdFile, `${newClusterId()}\n`)
  const clusterId = readFileSync(clusterIdFile, 'utf8').trim()
  ctx.report('start', `formatting ${dataDir} (cluster ${clusterId})`)
  const format = await runToCompletion(
    install.java,
    [
      ...javaArgs,
      'kafka.tools.StorageTool',
      'format',
      '--ignore-formatted',
      '-t',
      clusterId,
      '-c',
      propertiesFile,
    ],
    { cwd: dir, timeoutMs: 120_000 },
  )
  if (format.code !== 0) {
    throw new StackError(STACK_ERROR_CODES.startFailed, 'kafka.tools.StorageTool format failed', {
      server: 'kafka',
      metaMessages: [
        ...format.output
          .trim()
          .split('\n')
          .slice(-10)
          .map((line) => `  ${line}`),
        `If the data is disposable, delete ${dataDir} and run again.`,
      ],
    })
  }

  ctx.report(
    'start',
    `starting kafka ${install.version} (KRaft) on ${LOOPBACK}:${ctx.port}, controller ${controllerPort}`,
  )
  const spawned = spawnServer({
    name: 'kafka',
    command: install.java,
    args: [...javaArgs, 'kafka.Kafka', propertiesFile],
    logFile,
    pidFile: paths.pidFile('kafka'),
    cwd: dir,
  })
  await waitForPort({ name: 'kafka', port: ctx.port, timeoutMs: ctx.startTimeoutMs, spawned, logFile })
  const endpoint = kafkaEndpoint(ctx.port)
  const topics = await retryUntil(
    () => ensureTopics(endpoint, ALL_TOPICS, { clientId: 'gridroot-stack', logLevel: logLevel.NOTHING }),
    {
      timeoutMs: 60_000,
      intervalMs: 1_000,
    },
  )
  if (topics.created.length > 0) ctx.report('start', `created topics ${topics.created.join(', ')}`)
  return {
    name: 'kafka',
    pid: spawned.pid,
    port: ctx.port,
    extraPorts: { controller: controllerPort },
    version: install.version,
    logFile,
    startedAtIso: spawned.startedAtIso,
    marker: propertiesFile,
    spawned,
  }
}

/** Produce a nonce to the probe topic, then consume it back through a consumer group. */
export async function probeKafka(endpoints: Endpoints): Promise<void> {
  // Silent: kafkajs logs retriable errors (coordinator not ready yet) that the retry loop absorbs.
  await ensureTopics(endpoints.kafka, [PROBE_TOPIC], {
    clientId: 'gridroot-probe',
    logLevel: logLevel.NOTHING,
  })
  const kafka = createKafka(endpoints.kafka, 'gridroot-probe', { logLevel: logLevel.NOTHING })
  const nonce = randomUUID()
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
  })
  await producer.connect()
  let offset: string
  try {
    const [record] = await producer.send({
      topic: PROBE_TOPIC.name,
      acks: -1,
      messages: [{ key: nonce, value: nonce }],
    })
    if (record?.baseOffset === undefined) throw new Error('Kafka probe: the produce response had no offset')
    offset = record.baseOffset
  } finally {
    await producer.disconnect()
  }
  // A group of its own per probe: concurrent probes (status during a test run) never rebalance
  // each other, and nothing is committed.
  const consumer = kafka.consumer({ groupId: `_gridroot.probe.${nonce}`, maxWaitTimeInMs: 100 })
  await consumer.connect()
  try {
    let resolveReceived: () => void = () => undefined
    const received = new Promise<void>((resolve) => {
      resolveReceived = resolve
    })
    await consumer.subscribe({ topic: PROBE_TOPIC.name, fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        if (message.value?.toString() === nonce) resolveReceived()
      },
    })
    // kafkajs only seeks once the consumer runs; skipping straight to the produced offset keeps
    // the probe fast however many old probe messages the topic holds.
    consumer.seek({ topic: PROBE_TOPIC.name, partition: 0, offset })
    await withTimeout(received, 20_000, 'Kafka consume of the probe message')
  } catch (error) {
    throw new Error(`Kafka probe: ${errorMessage(error)}`, { cause: error })
  } finally {
    await consumer.disconnect()
  }
}
