import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../core/errors/base.ts'
import { apiConfigFromEnv } from './config.ts'
import { stubApp } from './testing/stub-app.ts'

const BASE = { GRIDROOT_REGISTRY_FILE: 'registry.json', GRIDROOT_CONTRACTS_FILE: 'contracts.json' }

function refusal(env: Record<string, string>): string {
  try {
    apiConfigFromEnv(env)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as ConfigError).message
  }
  throw new Error('the configuration was accepted')
}

describe('GRIDROOT_API_DEV_WALLET', () => {
  it('is off unless set', () => {
    expect(apiConfigFromEnv(BASE).devWallet).toBe('off')
  })

  it('turns on for a loopback API of a local anvil with a contracts file', () => {
    for (const host of ['127.0.0.1', '::1', 'localhost']) {
      expect(
        apiConfigFromEnv({ ...BASE, GRIDROOT_API_DEV_WALLET: 'anvil', GRIDROOT_API_HOST: host }).devWallet,
      ).toBe('anvil')
    }
  })

  it('is refused on a host other machines reach', () => {
    expect(refusal({ ...BASE, GRIDROOT_API_DEV_WALLET: 'anvil', GRIDROOT_API_HOST: '0.0.0.0' })).toContain(
      'GRIDROOT_API_HOST: the dev wallet needs a loopback host',
    )
  })

  it('is refused on any chain but anvil', () => {
    expect(refusal({ ...BASE, GRIDROOT_API_DEV_WALLET: 'anvil', GRIDROOT_CHAIN_ID: '1' })).toContain(
      'GRIDROOT_CHAIN_ID: the dev wallet runs on anvil (chain id 31337) only, not on 1',
    )
  })

  it('is refused without a contracts file, and for unknown values', () => {
    expect(refusal({ GRIDROOT_REGISTRY_FILE: 'r.json', GRIDROOT_API_DEV_WALLET: 'anvil' })).toContain(
      'GRIDROOT_CONTRACTS_FILE: the dev wallet needs the contracts file',
    )
    expect(refusal({ ...BASE, GRIDROOT_API_DEV_WALLET: 'on' })).toContain('GRIDROOT_API_DEV_WALLET')
  })
})

describe('GRIDROOT_API_AUDIT_CACHE_BYTES', () => {
  it('defaults to 256 MiB, takes 0 (keep none) and refuses negative or fractional sizes', () => {
    expect(apiConfigFromEnv(BASE).auditCacheBytes).toBe(256 * 1024 * 1024)
    expect(apiConfigFromEnv({ ...BASE, GRIDROOT_API_AUDIT_CACHE_BYTES: '0' }).auditCacheBytes).toBe(0)
    expect(refusal({ ...BASE, GRIDROOT_API_AUDIT_CACHE_BYTES: '-1' })).toContain(
      'GRIDROOT_API_AUDIT_CACHE_BYTES',
    )
    expect(refusal({ ...BASE, GRIDROOT_API_AUDIT_CACHE_BYTES: '1.5' })).toContain(
      'GRIDROOT_API_AUDIT_CACHE_BYTES',
    )
  })
})

describe('GRIDROOT_API_QUERY_TIMEOUT', () => {
  it('defaults to 30 s, takes a duration and refuses one too short to answer anything', () => {
    expect(apiConfigFromEnv(BASE).queryTimeoutMs).toBe(30_000)
    expect(apiConfigFromEnv({ ...BASE, GRIDROOT_API_QUERY_TIMEOUT: '5s' }).queryTimeoutMs).toBe(5_000)
    expect(refusal({ ...BASE, GRIDROOT_API_QUERY_TIMEOUT: '10ms' })).toContain('GRIDROOT_API_QUERY_TIMEOUT')
  })
})

describe('GRIDROOT_API_TRUST_PROXY', () => {
  it('is off unless set, and takes addresses, CIDR ranges and range names', () => {
    expect(apiConfigFromEnv(BASE).trustProxy).toBe(false)
    expect(apiConfigFromEnv({ ...BASE, GRIDROOT_API_TRUST_PROXY: 'off' }).trustProxy).toBe(false)
    expect(
      apiConfigFromEnv({ ...BASE, GRIDROOT_API_TRUST_PROXY: '10.0.0.5, 10.0.1.0/24,::1,fd00::/8,loopback' })
        .trustProxy,
    ).toEqual(['10.0.0.5', '10.0.1.0/24', '::1', 'fd00::/8', 'loopback'])
  })

  it('refuses every address (true) and anything that is not an address', () => {
    for (const value of ['true', '1', '10.0.0.0/33', 'proxy.local', '10.0.0.5,'])
      expect(refusal({ ...BASE, GRIDROOT_API_TRUST_PROXY: value }), value).toContain(
        'GRIDROOT_API_TRUST_PROXY',
      )
  })

  it('refuses a range of every address (or most of them) with what to do, not a TypeError at start (issue 12 F5)', () => {
    for (const value of [
      '0.0.0.0/0',
      '::/0',
      '10.0.0.0/0',
      '0.0.0.0/1,128.0.0.0/1',
      '::ffff:0.0.0.0/96',
      '8000::/1',
    ])
      expect(refusal({ ...BASE, GRIDROOT_API_TRUST_PROXY: value }), value).toMatch(
        /GRIDROOT_API_TRUST_PROXY: "[^"]+" trusts (every|a large share of all) .*list the reverse proxies' addresses/,
      )
    expect(refusal({ ...BASE, GRIDROOT_API_TRUST_PROXY: '0.0.0.0/0' })).toContain('trusts every address')
    expect(
      apiConfigFromEnv({ ...BASE, GRIDROOT_API_TRUST_PROXY: '10.0.0.0/8,fd00::/8,::ffff:10.0.0.0/104' })
        .trustProxy,
    ).toEqual(['10.0.0.0/8', 'fd00::/8', '::ffff:10.0.0.0/104'])
  })

  it('builds an app from every range it accepts', async () => {
    const trust = apiConfigFromEnv({
      ...BASE,
      GRIDROOT_API_TRUST_PROXY: '10.0.0.0/8,::ffff:10.0.0.0/104,0:0:0:0:ffff:0:0:0/64',
    }).trustProxy
    const app = await stubApp({}, { trustProxy: trust })
    await app.close()
  })
})

describe('GRIDROOT_API_REQUEST_TIMEOUT', () => {
  it('defaults to 30 s, takes a duration and refuses one too short to receive a request in', () => {
    expect(apiConfigFromEnv(BASE).requestTimeoutMs).toBe(30_000)
    expect(apiConfigFromEnv({ ...BASE, GRIDROOT_API_REQUEST_TIMEOUT: '2m' }).requestTimeoutMs).toBe(120_000)
    expect(refusal({ ...BASE, GRIDROOT_API_REQUEST_TIMEOUT: '10ms' })).toContain(
      'GRIDROOT_API_REQUEST_TIMEOUT',
    )
    expect(refusal({ ...BASE, GRIDROOT_API_REQUEST_TIMEOUT: 'soon' })).toContain(
      'GRIDROOT_API_REQUEST_TIMEOUT',
    )
  })
})

describe('GRIDROOT_API_DLQ_STALL / _DLQ_RESTART', () => {
  it('default to 30 s / 3 min and take durations', () => {
    expect(apiConfigFromEnv(BASE).dlqWatch).toEqual({ stallMs: 30_000, restartMs: 180_000 })
    expect(
      apiConfigFromEnv({ ...BASE, GRIDROOT_API_DLQ_STALL: '3s', GRIDROOT_API_DLQ_RESTART: '15s' }).dlqWatch,
    ).toEqual({ stallMs: 3_000, restartMs: 15_000 })
  })

  it('refuse a restart bound that is not longer than the stall bound', () => {
    expect(refusal({ ...BASE, GRIDROOT_API_DLQ_STALL: '30s', GRIDROOT_API_DLQ_RESTART: '30s' })).toContain(
      'GRIDROOT_API_DLQ_RESTART: must be longer than GRIDROOT_API_DLQ_STALL',
    )
  })
})

describe('GRIDROOT_API_INFLUX_TIMEOUT', () => {
  it('defaults to 5 s, below the query timeout, and takes a duration', () => {
    expect(apiConfigFromEnv(BASE).influxSilenceMs).toBe(5_000)
    expect(apiConfigFromEnv({ ...BASE, GRIDROOT_API_INFLUX_TIMEOUT: '2s' }).influxSilenceMs).toBe(2_000)
    expect(refusal({ ...BASE, GRIDROOT_API_INFLUX_TIMEOUT: '10ms' })).toContain('GRIDROOT_API_INFLUX_TIMEOUT')
  })
})
