/**
 * Attack: a tampered artifact of the same length. `put` took a file of the right size as already
 * stored, so re-publishing the real bytes (the distributor rebuilding a tree before posting its
 * root, the oracle re-publishing after a crash) left the tampered file in place: the published
 * hash then named bytes nobody can read (ARTIFACT_CORRUPT for every claim and every later pass).
 * `put` must heal a file whose content no longer matches its name.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createFileArtifactStore } from '../../runtime/artifact-store.ts'

let dir: string | undefined
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('attack: tampered artifact in the store', () => {
  it('put of the real bytes replaces a same-size tampered file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'attack-artifacts-'))
    const store = createFileArtifactStore({ dir })
    const real = new TextEncoder().encode('{"cumulativeAmount":"1000000","account":"0xaa"}')
    const hash = await store.put(real)
    const path = store.pathOf(hash)
    const tampered = Buffer.from(real)
    tampered[22] = '9'.charCodeAt(0) // 1000000 → 9000000, same length
    await writeFile(path, tampered)
    await expect(store.get(hash)).rejects.toMatchObject({ code: 'ARTIFACT_CORRUPT' })

    expect(await store.put(real)).toBe(hash)
    expect(Buffer.from(await readFile(path)).equals(Buffer.from(real))).toBe(true)
    expect(Buffer.from((await store.get(hash))!).equals(Buffer.from(real))).toBe(true)
  })
})
