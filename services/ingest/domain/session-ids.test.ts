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

  it('the drain marker is outside the telemetry subscription, under the topic prefix', () => {
    const filter = new RegExp(`^${TELEMETRY_TOPIC_FILTER.replaceAll('+', '[^/]+')}$`)
    expect(filter.test(drainMarkerTopic('ingest-vm-gabcdef12-3'))).toBe(false)
    const prefixed = drainMarkerTopic('ingest-vm-gabcdef12-3', 'site-a/')
    expect(prefixed).toBe('site-a/gridroot/ingest/drain/ingest-vm-gabcdef12-3')
    expect(new RegExp(`^site-a/${TELEMETRY_TOPIC_FILTER.replaceAll('+', '[^/]+')}$`).test(prefixed)).toBe(
      false,
    )
  })

  it('differ by MQTT topic prefix, and are unchanged without one', () => {
    const none = sessionClientIdPrefix('ingest-vm', 'gridroot-ingest')
    expect(sessionClientIdPrefix('ingest-vm', 'gridroot-ingest', '')).toBe(none)
    // The id before prefixes existed: sha256("gridroot-ingest") starts with these 8 hex digits.
    expect(none).toBe('ingest-vm-g1e766f54')
    const a = sessionClientIdPrefix('ingest-vm', 'gridroot-ingest', 'site-a/')
    expect(a).not.toBe(none)
    expect(a).not.toBe(sessionClientIdPrefix('ingest-vm', 'gridroot-ingest', 'site-b/'))
    // "a/" + "b" and "a/b" + "" must not meet: a group name holds no '/'.
    expect(sessionClientIdPrefix('i', 'b', 'a/')).not.toBe(sessionClientIdPrefix('i', '', 'a/b/'))
  })
})
