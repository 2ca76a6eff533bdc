import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { keccak256 } from 'viem'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { artifactHash, artifactStoreConfig, createFileArtifactStore } from './artifact-store.ts'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gridroot-artifacts-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('file artifact store', () => {
  it('stores bytes under their keccak256 and gives them back', async () => {
    const store = createFileArtifactStore({ dir })
    const bytes = Buffer.from('{"format":"standard-v1"}')
    const hash = await store.put(bytes)
    expect(hash).toBe(keccak256(bytes))
    expect(await store.has(hash)).toBe(true)
    expect(Buffer.from((await store.get(hash))!).equals(bytes)).toBe(true)
    expect(store.pathOf(hash)).toBe(join(dir, hash.slice(2, 4), hash.slice(2)))
    expect(await store.get(hash.toUpperCase().replace('0X', '0x') as `0x${string}`)).toBeDefined()
  })

  it('put is idempotent and leaves no temporary file', async () => {
    const store = createFileArtifactStore({ dir })
    const bytes = Buffer.alloc(100_000, 7)
    const [a, b] = await Promise.all([store.put(bytes), store.put(bytes)])
    expect(a).toBe(b)
    expect(await store.put(bytes)).toBe(a)
    const files = await readdir(join(dir, a.slice(2, 4)))
    expect(files).toEqual([a.slice(2)])
  })

  it('an absent hash is undefined; a malformed hash is refused', async () => {
    const store = createFileArtifactStore({ dir })
    const absent = keccak256(Buffer.from('never stored'))
    expect(await store.get(absent)).toBeUndefined()
    expect(await store.has(absent)).toBe(false)
    await expect(store.get('0x1234')).rejects.toMatchObject({ code: 'ARTIFACT_HASH_INVALID' })
  })

  it('refuses bytes that no longer match their hash (ARTIFACT_CORRUPT)', async () => {
    const store = createFileArtifactStore({ dir })
    const hash = await store.put(Buffer.from('the original tree'))
    await writeFile(store.pathOf(hash), 'an altered tree')
    await expect(store.get(hash)).rejects.toMatchObject({ code: 'ARTIFACT_CORRUPT' })
    // a put of the original repairs it (sizes differ, so the file is rewritten)
    await store.put(Buffer.from('the original tree'))
    expect((await readFile(store.pathOf(hash))).toString()).toBe('the original tree')
  })

  it('removes a temporary file a crashed put of the same artifact left behind', async () => {
    const store = createFileArtifactStore({ dir })
    const bytes = Buffer.from('archive')
    const hash = await artifactHash(bytes)
    const folder = join(dir, hash.slice(2, 4))
    await store.put(Buffer.from('other')) // make sure the folder logic works beside other files
    await rm(folder, { recursive: true, force: true })
    await mkdir(folder, { recursive: true })
    await writeFile(join(folder, `${hash.slice(2)}.99999999.abcdef.tmp`), 'half')
    await store.put(bytes)
    expect(await readdir(folder)).toEqual([hash.slice(2)])
  })

  it('reads its folder from GRIDROOT_ARTIFACT_DIR, with a default', () => {
    expect(artifactStoreConfig({ GRIDROOT_ARTIFACT_DIR: '/data/artifacts' })).toEqual({
      dir: '/data/artifacts',
    })
    expect(artifactStoreConfig({}).dir).toBe('.run/default/artifacts')
    expect(() => artifactStoreConfig({ GRIDROOT_ARTIFACT_DIR: '' })).toThrow(/GRIDROOT_ARTIFACT_DIR/)
  })
})
