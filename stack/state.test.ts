import { describe, expect, it } from 'vitest'
import { STACK_ERROR_CODES, StackError } from './errors.ts'
import { endpointsFromPorts } from './servers/registry.ts'
import { parseState, renderEnvFile, STATE_FORMAT_VERSION, type StackState } from './state.ts'

const endpoints = endpointsFromPorts({ mosquitto: 1883, kafka: 9092, influxdb: 8086, anvil: 8545 })

const state: StackState = {
  formatVersion: STATE_FORMAT_VERSION,
  runDir: '/tmp/run',
  createdAtIso: '2026-01-01T00:00:00.000Z',
  portMode: 'preferred',
  endpoints,
  servers: [
    {
      name: 'kafka',
      pid: 4242,
      port: 9092,
      extraPorts: { controller: 9093 },
      version: '3.9.1',
      logFile: '/tmp/run/logs/kafka.log',
      startedAtIso: '2026-01-01T00:00:01.000Z',
      marker: '/tmp/run/kafka/server.properties',
    },
  ],
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run()
  } catch (error) {
    return error instanceof StackError ? error.code : 'not a StackError'
  }
  return undefined
}

describe('parseState', () => {
  it('reads back what writeState writes', () => {
    expect(parseState(JSON.stringify(state), 'state.json')).toEqual(state)
  })

  it('rejects text that is not JSON with STACK_STATE_INVALID', () => {
    expect(codeOf(() => parseState('{"formatVersion": 1,', 'state.json'))).toBe(
      STACK_ERROR_CODES.stateInvalid,
    )
  })

  it('rejects a state of another format version or with a bad pid', () => {
    expect(codeOf(() => parseState(JSON.stringify({ ...state, formatVersion: 2 }), 'state.json'))).toBe(
      STACK_ERROR_CODES.stateInvalid,
    )
    const badPid = { ...state, servers: [{ ...state.servers[0], pid: -1 }] }
    expect(codeOf(() => parseState(JSON.stringify(badPid), 'state.json'))).toBe(
      STACK_ERROR_CODES.stateInvalid,
    )
  })
})

describe('renderEnvFile', () => {
  it('writes one KEY=VALUE line per endpoint setting', () => {
    const lines = renderEnvFile(endpoints)
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
    expect(lines).toEqual([
      'GRIDROOT_MQTT_URL=mqtt://127.0.0.1:1883',
      'GRIDROOT_KAFKA_BROKERS=127.0.0.1:9092',
      'GRIDROOT_INFLUX_URL=http://127.0.0.1:8086',
      'GRIDROOT_INFLUX_TOKEN=gridroot:gridroot',
      'GRIDROOT_INFLUX_ORG=gridroot',
      'GRIDROOT_INFLUX_BUCKET=gridroot/autogen',
      'GRIDROOT_RPC_URL=http://127.0.0.1:8545',
      'GRIDROOT_CHAIN_ID=31337',
    ])
  })
})
