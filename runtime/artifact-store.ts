/**
 * The artifact store: published trees and readings archives, content-addressed by the
 * keccak256 of their bytes (the hash that goes on-chain as treeHash / archiveHash). A local
 * folder by default (`GRIDROOT_ARTIFACT_DIR`): `<dir>/<first two hex digits>/<64 hex digits>`.
 *
 * - put is idempotent and atomic: bytes go to a temporary file in the same folder, are synced,
 *   then renamed into place, so a reader never sees half an artifact and a crash leaves at most
 *   a stray temporary file (names end in `.tmp`, removed by the next put of the same hash).
 * - get checks integrity: bytes that no longer hash to their name are refused
 *   (`ARTIFACT_CORRUPT`), never returned.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { createKeccak } from 'hash-wasm'
import type { Hex } from 'viem'
import { z } from 'zod'
import { GridrootError, RetryableError } from '../core/errors/base.ts'
import { parseConfig } from './config.ts'

export interface ArtifactStore {
  /** Stores bytes under keccak256(bytes); idempotent. Returns the hash. */
  put(bytes: Uint8Array): Promise<Hex>
  /** The bytes stored under a hash, checked against it; undefined when absent. */
  get(hash: Hex): Promise<Uint8Array | undefined>
  has(hash: Hex): Promise<boolean>
}

export class ArtifactCorruptError extends GridrootError<'ARTIFACT_CORRUPT'> {
  override readonly name = 'ArtifactCorruptError'
  constructor(hash: Hex, actual: Hex, path: string) {
    super('ARTIFACT_CORRUPT', `artifact ${hash} at ${path} hashes to ${actual}`, {
      metaMessages: [
        'The file was altered or damaged: delete it and publish (or fetch) it again by its hash.',
      ],
      details: { hash, actual, path },
    })
  }
}

export class ArtifactHashInvalidError extends GridrootError<'ARTIFACT_HASH_INVALID'> {
  override readonly name = 'ArtifactHashInvalidError'
  constructor(hash: string) {
    super('ARTIFACT_HASH_INVALID', `${JSON.stringify(hash)} is not a keccak256 hash (0x and 64 hex digits)`)
  }
}

/** The folder could not be read or written (full disk, permissions): worth retrying later. */
export class ArtifactIoError extends RetryableError<'ARTIFACT_IO'> {
  override readonly name = 'ArtifactIoError'
  constructor(what: string, cause: unknown) {
    super('ARTIFACT_IO', `artifact store: ${what} failed`, {
      metaMessages: ['Check that GRIDROOT_ARTIFACT_DIR exists, is writable and has free space.'],
      cause,
    })
  }
}

export const ArtifactStoreConfigSchema = z.object({
  GRIDROOT_ARTIFACT_DIR: z.string().min(1).default('.run/default/artifacts'),
})

export interface ArtifactStoreConfig {
  readonly dir: string
}

/** The store's settings from the environment (entry points only). */
export function artifactStoreConfig(env: Readonly<Record<string, string | undefined>>): ArtifactStoreConfig {
  const c = parseConfig(ArtifactStoreConfigSchema, env, 'artifact store')
  return { dir: c.GRIDROOT_ARTIFACT_DIR }
}

/** keccak256 of bytes of any size (incremental, so a 400 MB tree is hashed without a copy). */
export async function artifactHash(bytes: Uint8Array): Promise<Hex> {
  const hasher = await createKeccak(256)
  hasher.init()
  hasher.update(bytes)
  return `0x${hasher.digest('hex')}`
}

const HASH_PATTERN = /^0x[0-9a-f]{64}$/

function normalize(hash: string): Hex {
  const lower = hash.toLowerCase()
  if (!HASH_PATTERN.test(lower)) throw new ArtifactHashInvalidError(hash)
  return lower as Hex
}

/** What identifies one write of a stored file: it changes whenever the file is rewritten. */
export interface ArtifactStamp {
  /** Size, modification time (ns) and inode of the file; undefined when absent. */
  stamp(hash: Hex): Promise<string | undefined>
}

export function createFileArtifactStore(
  config: ArtifactStoreConfig,
): ArtifactStore & ArtifactStamp & { pathOf(hash: Hex): string } {
  const pathOf = (hash: Hex) => {
    const h = normalize(hash).slice(2)
    return join(config.dir, h.slice(0, 2), h)
  }
  const sizeOf = async (path: string): Promise<number | undefined> => {
    try {
      return (await stat(path)).size
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw new ArtifactIoError(`stat ${path}`, error)
    }
  }
  const holds = async (path: string, hash: Hex): Promise<boolean> => {
    try {
      return (await artifactHash(await readFile(path))) === hash
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
      throw new ArtifactIoError(`reading ${path}`, error)
    }
  }
  return {
    pathOf,
    async put(bytes) {
      const hash = await artifactHash(bytes)
      const path = pathOf(hash)
      // Present only if its content still hashes to its name: a same-size file that was altered
      // (test/attack/artifact-store-tamper.test.ts) is replaced by the real bytes below.
      if ((await sizeOf(path)) === bytes.length && (await holds(path, hash))) return hash
      const folder = join(path, '..')
      const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
      try {
        await mkdir(folder, { recursive: true })
        const handle = await open(temporary, 'wx')
        try {
          await handle.writeFile(bytes)
          await handle.sync()
        } finally {
          await handle.close()
        }
        await rename(temporary, path)
        const dirHandle = await open(folder, 'r')
        try {
          await dirHandle.sync()
        } finally {
          await dirHandle.close()
        }
        await removeStrays(folder, hash.slice(2))
      } catch (error) {
        await rm(temporary, { force: true })
        // Another process stored the same artifact meanwhile (and may have removed our
        // temporary file as a stray): the artifact is there, which is all a put promises.
        if ((await sizeOf(path)) === bytes.length) return hash
        throw new ArtifactIoError(`writing ${path}`, error)
      }
      return hash
    },
    async get(hash) {
      const path = pathOf(hash)
      let bytes: Buffer
      try {
        bytes = await readFile(path)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw new ArtifactIoError(`reading ${path}`, error)
      }
      const actual = await artifactHash(bytes)
      if (actual !== normalize(hash)) throw new ArtifactCorruptError(normalize(hash), actual, path)
      return bytes
    },
    async has(hash) {
      return (await sizeOf(pathOf(hash))) !== undefined
    },
    async stamp(hash) {
      const path = pathOf(hash)
      try {
        const s = await stat(path, { bigint: true })
        return `${s.size}/${s.mtimeNs}/${s.ino}`
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw new ArtifactIoError(`stat ${path}`, error)
      }
    },
  }
}

/** Temporary files a crashed put of the same artifact left behind. */
async function removeStrays(folder: string, name: string): Promise<void> {
  for (const entry of await readdir(folder)) {
    if (entry.startsWith(`${name}.`) && entry.endsWith('.tmp') && !entry.includes(`.${process.pid}.`))
      await rm(join(folder, entry), { force: true })
  }
}
