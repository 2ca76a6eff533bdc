import { describe, expect, it } from 'vitest'
import { createPortAllocator, ephemeralPort, isPortFree, type PortProbe } from './ports.ts'

function fakeProbe(busy: readonly number[], ephemeral: readonly number[]): PortProbe {
  const queue = [...ephemeral]
  return {
    isFree: async (port) => !busy.includes(port),
    ephemeral: async () => {
      const next = queue.shift()
      if (next === undefined) throw new Error('fake kernel ran out of ports')
      return next
    },
  }
}

describe('createPortAllocator', () => {
  it("'preferred' takes the well-known port when it is free", async () => {
    const ports = createPortAllocator('preferred', fakeProbe([], [50_001]))
    expect(await ports.take(1883)).toBe(1883)
  })

  it("'preferred' falls back to a free port when the well-known one is taken", async () => {
    const ports = createPortAllocator('preferred', fakeProbe([9092], [50_002]))
    expect(await ports.take(9092)).toBe(50_002)
  })

  it("'free' never uses the well-known port, even when it is free", async () => {
    const ports = createPortAllocator('free', fakeProbe([], [50_003]))
    expect(await ports.take(8086)).toBe(50_003)
  })

  it('never hands out the same port twice within one stack', async () => {
    const ports = createPortAllocator('preferred', fakeProbe([], [1883, 50_004, 50_004, 50_005]))
    expect(await ports.take(1883)).toBe(1883)
    expect(await ports.take(1883)).toBe(50_004)
    expect(await ports.take()).toBe(50_005)
  })
})

describe('port probing on this machine', () => {
  it('sees a port it just got from the kernel as free', async () => {
    const port = await ephemeralPort()
    expect(port).toBeGreaterThan(0)
    expect(await isPortFree(port)).toBe(true)
  })
})
