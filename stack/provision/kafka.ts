import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { STACK_ERROR_CODES, StackError } from '../errors.ts'
import type { Report } from '../progress.ts'
import { adoptUnstamped, cacheEntry, fillCacheEntry, isComplete } from './cache.ts'
import { runStreaming } from './command.ts'
import { createProgressTicker } from './progress-ticker.ts'
import { ensureTool } from './tools.ts'

export const KAFKA_VERSION = '3.9.1'

/**
 * Kafka 3.9 leaves the log binding out of its POM; reload4j keeps the log4j 1.x configuration
 * format that `kafka.Kafka` reads.
 */
export function renderKafkaPom(kafkaVersion: string): string {
  const dependency = (groupId: string, artifactId: string, version: string) =>
    `    <dependency><groupId>${groupId}</groupId><artifactId>${artifactId}</artifactId><version>${version}</version></dependency>`
  return [
    '<project xmlns="http://maven.apache.org/POM/4.0.0">',
    '  <modelVersion>4.0.0</modelVersion>',
    '  <groupId>gridroot</groupId><artifactId>kafka-runtime</artifactId><version>1</version>',
    '  <dependencies>',
    dependency('org.apache.kafka', 'kafka_2.13', kafkaVersion),
    dependency('org.slf4j', 'slf4j-reload4j', '1.7.36'),
    dependency('ch.qos.reload4j', 'reload4j', '1.2.25'),
    '  </dependencies>',
    '</project>',
    '',
  ].join('\n')
}

export interface KafkaInstall {
  readonly java: string
  readonly libDir: string
  readonly version: string
}

/** The Kafka broker's classpath from the cache, gathered from Maven Central on the first run. */
export async function ensureKafka(report: Report): Promise<KafkaInstall> {
  const java = await ensureTool(
    { binary: 'java', aptPackage: 'default-jre-headless', neededFor: 'Kafka' },
    report,
  )
  const entry = cacheEntry('kafka', KAFKA_VERSION)
  const libDir = join(entry.dir, 'lib')
  if (isComplete(entry)) return { java, libDir, version: KAFKA_VERSION }
  if (await adoptUnstamped(entry, verifyKafkaLib)) {
    report('provision', `verified the unstamped jars in ${entry.dir} and stamped the cache entry complete`)
    return { java, libDir, version: KAFKA_VERSION }
  }

  const mvn = await ensureTool({ binary: 'mvn', aptPackage: 'maven', neededFor: 'downloading Kafka' }, report)
  report('provision', `downloading jars from Maven Central into ${entry.dir} (first run only, ~100 MB)…`)
  const ticker = createProgressTicker(report, {
    noun: 'artifacts downloaded',
    everyLines: 25,
    quietMs: 15_000,
  })
  let tail: readonly string[] = []
  await fillCacheEntry(entry, 'mvn dependency:copy-dependencies', async (tmpDir) => {
    writeFileSync(join(tmpDir, 'pom.xml'), renderKafkaPom(KAFKA_VERSION))
    const run = await runStreaming(
      mvn,
      ['-B', 'dependency:copy-dependencies', '-DincludeScope=runtime', '-DoutputDirectory=lib'],
      {
        cwd: tmpDir,
        onLine: (line) => {
          const downloaded = /^\[INFO\] Downloaded from \S+: (\S+)/.exec(line)
          if (downloaded?.[1] !== undefined) ticker.tick(downloaded[1].split('/').at(-1) ?? downloaded[1])
        },
      },
    )
    tail = run.tail
    if (run.code !== 0 || !(await verifyKafkaLib(tmpDir))) {
      throw new StackError(STACK_ERROR_CODES.provisionFailed, 'mvn could not gather the Kafka jars', {
        server: 'kafka',
        metaMessages: [
          ...tail.slice(-12).map((line) => `  ${line}`),
          'Check that Maven Central (repo.maven.apache.org) is reachable, then run again.',
        ],
      })
    }
  })
  const { count, elapsedS } = ticker.stop()
  const jarCount = readdirSync(libDir).filter((file) => file.endsWith('.jar')).length
  report('provision', `cached ${jarCount} jars in ${elapsedS} s (${count} downloaded, the rest from ~/.m2)`)
  return { java, libDir, version: KAFKA_VERSION }
}

const REQUIRED_JARS = [
  `kafka_2.13-${KAFKA_VERSION}.jar`,
  `kafka-clients-${KAFKA_VERSION}.jar`,
  `kafka-server-${KAFKA_VERSION}.jar`,
  `kafka-raft-${KAFKA_VERSION}.jar`,
  'slf4j-reload4j-1.7.36.jar',
  'reload4j-1.2.25.jar',
]

/** Whole when the key jars are there and every jar ends with a zip central directory. */
async function verifyKafkaLib(entryDir: string): Promise<boolean> {
  const libDir = join(entryDir, 'lib')
  if (!existsSync(libDir)) return false
  const jars = readdirSync(libDir).filter((file) => file.endsWith('.jar'))
  if (!REQUIRED_JARS.every((jar) => jars.includes(jar))) return false
  if (!jars.some((jar) => jar.startsWith('scala-library-'))) return false
  for (const jar of jars) if (!(await hasZipEnd(join(libDir, jar)))) return false
  return true
}

async function hasZipEnd(file: string): Promise<boolean> {
  const endOfCentralDirectory = Buffer.from([0x50, 0x4b, 0x05, 0x06])
  const handle = await open(file, 'r')
  try {
    const { size } = await handle.stat()
    const length = Math.min(size, 64 * 1024 + 22)
    const buffer = Buffer.alloc(length)
    await handle.read(buffer, 0, length, size - length)
    return buffer.includes(endOfCentralDirectory)
  } finally {
    await handle.close()
  }
}
