/**
 * A device's paid readings from a readings archive (docs/architecture.md, "Readings archive"):
 * the readings of its archived records at the `paid` positions, in archive order, each with the
 * record (partition, offset, receive time) it arrived in. Pure. `verify` checks the same records'
 * signatures and digest; this only lists them for a person to read.
 */
import { decodeAcceptedRecord } from '../../../core/telemetry/decode.ts'
import type { ArchiveEntry } from '../../oracle/domain/archive.ts'
import type { AuditedReading } from '../ports.ts'

/** The device's paid readings; a record that does not decode is left out (verify names it). */
export function paidReadings(records: readonly ArchiveEntry[], deviceId: string): AuditedReading[] {
  const out: AuditedReading[] = []
  for (const entry of records) {
    if (entry.deviceId !== deviceId) continue
    let message: ReturnType<typeof decodeAcceptedRecord>
    try {
      message = decodeAcceptedRecord(Buffer.from(entry.valueBase64, 'base64'))
    } catch {
      continue
    }
    for (const position of entry.paid) {
      const reading = message.readings[position]
      if (reading === undefined) continue
      out.push({
        partition: entry.partition,
        offset: entry.offset,
        receivedAtMs: entry.receivedAtMs,
        boot: message.boot,
        seq: reading.seq,
        ts: reading.ts,
        type: reading.type,
        registerWh: reading.registerWh,
      })
    }
  }
  return out
}
