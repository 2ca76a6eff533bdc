import { describe, expect, it } from 'vitest'
import { TELEMETRY_TOPIC_FILTER } from '../../../core/telemetry/topic.ts'
import { drainMarkerTopic, sessionClientId, sessionClientIdPrefix } from './session-ids.ts'

describe('session client ids', () => {
  it('differ by shared group, and stay the same for the same instance and group', () => {
    const a = sessionClientIdPrefix('ingest-vm', 'gridroot-ingest')
    expect(a).toBe(sessionClientIdPrefix('ingest-vm', 'gridroot-ingest'))
    expect(a).not.toBe(sessionClientIdPrefix('ingest-vm', 'r2-ingest'))
    expect(a).toMatch(/^ingest-vm-g[0-9a-f]{8}$/)
    expect(sessionClientId(a, 7)).toBe(`${a}-7`)
  })

  it('stay short enough for brokers: 40-character instance, 4095th connection', () => {
    const id = sessionClientId(sessionClientIdPrefix('i'.repeat(40), 'g'.repeat(40)), 4095)
    expect(id.length).toBeLessThanOrEqual(55)
  })

  it('the drain marker is outside the telemetry subscription', () => {
    const filter = new RegExp(`^${TELEMETRY_TOPIC_FILTER.replaceAll('+', '[^/]+')}$`)
    expect(filter.test(drainMarkerTopic('ingest-vm-gabcdef12-3'))).toBe(false)
  })
})
