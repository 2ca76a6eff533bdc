import { connect, connectAsync, type IClientOptions, type MqttClient } from 'mqtt'
import type { Endpoints } from '../endpoints.ts'

function withDefaults(endpoint: Endpoints['mqtt'], options: IClientOptions): IClientOptions {
  return {
    protocolVersion: 5,
    connectTimeout: 5_000,
    reconnectPeriod: 1_000,
    ...(endpoint.username === undefined ? {} : { username: endpoint.username }),
    ...(endpoint.password === undefined ? {} : { password: endpoint.password }),
    ...options,
  }
}

/**
 * Connects with MQTT 5 (shared subscriptions `$share/group/topic`, reason codes) and the
 * configured credentials. Resolves once the broker has acknowledged the connection.
 *
 * @example
 * const client = await connectMqtt(endpoints.mqtt, { clientId: 'ingest-1', clean: false })
 * await client.subscribeAsync('$share/ingest/devices/+/telemetry', { qos: 1 })
 */
export function connectMqtt(endpoint: Endpoints['mqtt'], options: IClientOptions = {}): Promise<MqttClient> {
  return connectAsync(endpoint.url, withDefaults(endpoint, options))
}

/**
 * The same client, returned before the broker answers: a persistent session's queued messages
 * arrive right after CONNACK, so listeners must be attached before that; await the `connect`
 * event yourself.
 */
export function createMqttClient(endpoint: Endpoints['mqtt'], options: IClientOptions = {}): MqttClient {
  return connect(endpoint.url, withDefaults(endpoint, options))
}
