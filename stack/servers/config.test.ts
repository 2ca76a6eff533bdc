import { describe, expect, it } from 'vitest'
import { anvilArgs } from './anvil.ts'
import { renderInfluxConfig } from './influxdb.ts'
import { newClusterId, renderKafkaProperties } from './kafka.ts'
import { renderMosquittoConfig } from './mosquitto.ts'

const settings = (text: string) =>
  text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))

describe('renderMosquittoConfig', () => {
  it('listens on loopback only, persists sessions in the run folder and queues deeply', () => {
    const lines = settings(
      renderMosquittoConfig({ port: 1883, persistenceDir: '/run/m/data', runningAsRoot: false }),
    )
    expect(lines).toContain('listener 1883 127.0.0.1')
    expect(lines).toContain('persistence true')
    expect(lines).toContain('persistence_location /run/m/data/')
    expect(lines).toContain('max_queued_messages 100000')
    expect(lines.some((line) => line.startsWith('user '))).toBe(false)
  })

  it('stays root when started as root (Mosquitto 2 would drop to a user that cannot write the run folder)', () => {
    const lines = settings(
      renderMosquittoConfig({ port: 1883, persistenceDir: '/run/m/data', runningAsRoot: true }),
    )
    expect(lines).toContain('user root')
  })
})

describe('renderKafkaProperties', () => {
  const properties = Object.fromEntries(
    settings(renderKafkaProperties({ port: 9092, controllerPort: 9093, dataDir: '/run/k/data' })).map(
      (line) => {
        const at = line.indexOf('=')
        return [line.slice(0, at), line.slice(at + 1)]
      },
    ),
  )

  it('is a combined KRaft node whose client listener is never the controller port', () => {
    expect(properties['process.roles']).toBe('broker,controller')
    expect(properties['controller.quorum.voters']).toBe('1@127.0.0.1:9093')
    expect(properties.listeners).toBe('PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093')
    expect(properties['advertised.listeners']).toBe('PLAINTEXT://127.0.0.1:9092')
    expect(properties['log.dirs']).toBe('/run/k/data')
  })

  it('creates topics only on request and lets consumers join without the 3 s delay', () => {
    expect(properties['auto.create.topics.enable']).toBe('false')
    expect(properties['num.partitions']).toBe('6')
    expect(properties['group.initial.rebalance.delay.ms']).toBe('0')
    expect(properties['offsets.topic.replication.factor']).toBe('1')
  })

  it('makes KRaft cluster ids of 22 URL-safe base64 characters', () => {
    expect(newClusterId()).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(newClusterId()).not.toBe(newClusterId())
    // 0xf8 encodes as '-' first in base64url: such an id would be taken for an option.
    const draws = [Buffer.alloc(16, 0xf8), Buffer.alloc(16, 0x01)]
    expect(newClusterId(() => draws.shift() as Buffer)).toBe(Buffer.alloc(16, 0x01).toString('base64url'))
  })
})

describe('renderInfluxConfig', () => {
  const text = renderInfluxConfig({ port: 8086, rpcPort: 40_001, dir: '/run/i' })

  it('binds HTTP and the RPC service to loopback and enables Flux', () => {
    expect(text).toMatch(/^bind-address = "127\.0\.0\.1:40001"$/m)
    expect(text).toMatch(/^ {2}bind-address = "127\.0\.0\.1:8086"$/m)
    expect(text).toMatch(/^ {2}flux-enabled = true$/m)
    expect(text).toMatch(/^reporting-disabled = true$/m)
    expect(text).not.toMatch(/"(0\.0\.0\.0)?:\d+"/)
  })

  it('keeps data, meta and wal in the run folder and turns unused listeners off', () => {
    expect(text).toContain('dir = "/run/i/meta"')
    expect(text).toContain('wal-dir = "/run/i/wal"')
    for (const section of ['[[graphite]]', '[[collectd]]', '[[opentsdb]]', '[[udp]]', '[subscriber]']) {
      expect(text).toMatch(new RegExp(`${section.replace(/[[\]]/g, '\\$&')}\\n {2}enabled = false`))
    }
    expect(text).toMatch(/\[monitor\]\n {2}store-enabled = false/)
  })

  it('escapes paths as TOML strings', () => {
    expect(renderInfluxConfig({ port: 1, rpcPort: 2, dir: '/run/"odd"' })).toContain(
      'dir = "/run/\\"odd\\"/meta"',
    )
  })
})

describe('anvilArgs', () => {
  it('listens on loopback with chain id 31337 and names a file in the run folder', () => {
    const args = anvilArgs(8545, '/run/a/accounts.json')
    expect(args.join(' ')).toContain('--host 127.0.0.1 --port 8545 --chain-id 31337')
    expect(args).toContain('/run/a/accounts.json')
  })
})
