import { describe, expect, it } from 'vitest'
import { mqttTopicPrefixFromEnv } from '../../runtime/config.ts'
import { MQTT_TOPIC_PREFIX_PATTERN, parseTelemetryTopic, telemetryTopic, unprefixedTopic } from './topic.ts'

describe('MQTT topic prefix', () => {
  it('accepts whole topic levels ending in "/", and none', () => {
    for (const ok of ['', 'site-a/', 'tenant/staging/', 'demo-mx7a1b/', 'a.b_c-d/e/'])
      expect(MQTT_TOPIC_PREFIX_PATTERN.test(ok), ok).toBe(true)
  })

  it('refuses wildcards, $, empty levels and a prefix not ending in "/"', () => {
    for (const bad of ['site-a', '/site-a/', 'a//', '+/', '#/', 'a/+/', '$SYS/', 'a b/', 'é/', '/'])
      expect(MQTT_TOPIC_PREFIX_PATTERN.test(bad), bad).toBe(false)
  })

  it('is cut from a topic under it, so the device and class parse as without a prefix', () => {
    const topic = telemetryTopic('pv', 'pv-1')
    expect(unprefixedTopic('site-a/', `site-a/${topic}`)).toBe(topic)
    expect(parseTelemetryTopic(unprefixedTopic('site-a/', `site-a/${topic}`))).toEqual({
      assetClass: 'pv',
      deviceId: 'pv-1',
    })
    expect(unprefixedTopic('', topic)).toBe(topic)
  })

  it('leaves a topic outside the prefix whole, which then fails parsing', () => {
    const other = `site-b/${telemetryTopic('pv', 'pv-1')}`
    expect(unprefixedTopic('site-a/', other)).toBe(other)
    expect(parseTelemetryTopic(unprefixedTopic('site-a/', other))).toBeUndefined()
  })

  it('comes from GRIDROOT_MQTT_TOPIC_PREFIX, empty by default, and a bad one says what to write', () => {
    expect(mqttTopicPrefixFromEnv({})).toBe('')
    expect(mqttTopicPrefixFromEnv({ GRIDROOT_MQTT_TOPIC_PREFIX: 'site-a/' })).toBe('site-a/')
    expect(() => mqttTopicPrefixFromEnv({ GRIDROOT_MQTT_TOPIC_PREFIX: 'site-a' })).toThrow(
      /GRIDROOT_MQTT_TOPIC_PREFIX.*ending in "\/"/s,
    )
    expect(() => mqttTopicPrefixFromEnv({ GRIDROOT_MQTT_TOPIC_PREFIX: `${'a'.repeat(200)}/` })).toThrow(
      /GRIDROOT_MQTT_TOPIC_PREFIX/,
    )
  })
})
