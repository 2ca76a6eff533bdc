/**
 * Published trees and readings archives, hashed and parsed once and kept by hash for `verify`
 * (services/oracle/verify.ts `ArtifactsLoader`): a 16,000-device fleet's pool epoch is a 26.6 MB
 * archive, which each audit otherwise read, hashed twice and parsed whole for one device.
 *
 * Why keeping them is sound: artifacts are content-addressed and immutable. An entry is made
 * only from bytes that were just read from the store AND hash (keccak256, as verify's
 * TREE_HASH / ARCHIVE_HASH compute it) to the very hash they are kept under, so what is kept is
 * exactly the content the chain committed, whatever happens to the file later. A file that is
 * tampered with or damaged before it is loaded is detected then (the store refuses it:
 * artifact-corrupt; or its bytes hash to something else: TREE_HASH / ARCHIVE_HASH fail) and is
 * never kept, so the next audit reads the store again. A file rewritten after it was loaded
 * changes the store's stamp (size, mtime, inode; taken before the read), so the next audit loads
 * it again and is refused like any tampered file: the route always says what the store holds,
 * for one stat per file and audit. (Without a stamp, e.g. a store that has none, the kept copy
 * stands: it is the committed content, and the artifact route reads and checks the file on every
 * download anyway.) A file that hashes right but does not parse is kept as its parse error (the
 * same bytes always fail the same way).
 *
 * Memory is bounded: entries are charged their file's size (the parsed form is of the same
 * order) and the least recently used go first past `maxBytes`; a file larger than that is
 * loaded for each audit and not kept. Concurrent audits of a file not yet kept share one load.
 */

import type { DeviceLeaf, MerkleTree } from '../../../core/merkle/index.ts'
import { deviceLeafLayout, parseTreeDump } from '../../../core/merkle/index.ts'
import type { ArtifactStamp, ArtifactStore } from '../../../runtime/artifact-store.ts'
import { ArtifactCorruptError } from '../../../runtime/artifact-store.ts'
import { type ArchiveEntry, decodeArchive, type ReadingsArchive } from '../../oracle/domain/archive.ts'
import { contentHash } from '../../oracle/domain/pool-epoch.ts'
import type { Hex } from '../../oracle/domain/proposal.ts'
import type { PreparedArtifacts } from '../../oracle/domain/verify.ts'
import type { ArtifactsLoad } from '../../oracle/verify.ts'

/** Default of GRIDROOT_API_AUDIT_CACHE_BYTES: a few pool epochs of a 16,000-device fleet. */
export const DEFAULT_AUDIT_CACHE_BYTES = 256 * 1024 * 1024

/** A loaded file: its content hash and its parsed form, or why it does not parse. */
interface Loaded<T> {
  readonly hash: Hex
  /** The store's stamp of the file taken before it was read (undefined: the store has none). */
  readonly stamp: string | undefined
  readonly bytes: number
  readonly value: T | undefined
  readonly error: unknown
}

/** An archive indexed by device: verify and the route read one device's records. */
interface ArchiveIndex {
  readonly archive: ReadingsArchive
  readonly byDevice: ReadonlyMap<string, readonly ArchiveEntry[]>
}

type Fetched<T> =
  | { readonly status: 'loaded'; readonly loaded: Loaded<T> }
  | { readonly status: 'artifact-missing'; readonly hash: string }
  | { readonly status: 'artifact-corrupt'; readonly detail: string }

export interface ArtifactCacheStats {
  readonly entries: number
  readonly bytes: number
  readonly maxBytes: number
  /** Files read from the store (a hit reads none). */
  readonly loads: number
  readonly hits: number
}

export interface ArtifactCache {
  /** verify's ArtifactsLoader. */
  load(treeHash: Hex, archiveHash: Hex): Promise<ArtifactsLoad>
  stats(): ArtifactCacheStats
}

function indexArchive(bytes: Uint8Array): ArchiveIndex {
  const archive = decodeArchive(bytes)
  const byDevice = new Map<string, ArchiveEntry[]>()
  for (const entry of archive.records) {
    const list = byDevice.get(entry.deviceId)
    if (list === undefined) byDevice.set(entry.deviceId, [entry])
    else list.push(entry)
  }
  return { archive, byDevice }
}

export function createArtifactCache(options: {
  readonly store: Pick<ArtifactStore, 'get'> & Partial<ArtifactStamp>
  /** Most bytes of artifact files kept (0: keep none). */
  readonly maxBytes?: number
}): ArtifactCache {
  const maxBytes = options.maxBytes ?? DEFAULT_AUDIT_CACHE_BYTES
  // Map order is recency: a hit is moved to the end, eviction takes from the front.
  const kept = new Map<string, Loaded<unknown>>()
  const inFlight = new Map<string, Promise<Fetched<unknown>>>()
  let keptBytes = 0
  let loads = 0
  let hits = 0

  const keep = (key: string, loaded: Loaded<unknown>) => {
    if (loaded.bytes > maxBytes) return
    kept.set(key, loaded)
    keptBytes += loaded.bytes
    for (const [k, entry] of kept) {
      if (keptBytes <= maxBytes) break
      kept.delete(k)
      keptBytes -= entry.bytes
    }
  }

  const stampOf = async (hash: Hex) =>
    options.store.stamp === undefined ? undefined : options.store.stamp(hash)

  async function fetch<T>(hash: Hex, parse: (bytes: Uint8Array) => T): Promise<Fetched<T>> {
    const key = hash.toLowerCase()
    const hit = kept.get(key)
    if (hit !== undefined) {
      kept.delete(key)
      // A file rewritten since it was loaded is loaded again (and so checked again): the route
      // then says what the store holds now. One stat per audit and file.
      if (hit.stamp === undefined || (await stampOf(hash)) === hit.stamp) {
        hits++
        kept.set(key, hit)
        return { status: 'loaded', loaded: hit as Loaded<T> }
      }
      keptBytes -= hit.bytes
    }
    const pending = inFlight.get(key)
    if (pending !== undefined) return pending as Promise<Fetched<T>>
    const load = (async (): Promise<Fetched<T>> => {
      let bytes: Uint8Array | undefined
      let stamp: string | undefined
      try {
        loads++
        // Taken before the read: a rewrite during or after it changes the stamp.
        stamp = await stampOf(hash)
        bytes = await options.store.get(hash)
      } catch (error) {
        // The store refuses bytes that do not hash to their name (a tampered file): never kept.
        // A read that failed (ArtifactIoError) is no verdict on the artifact: thrown (attack10a F6).
        if (!(error instanceof ArtifactCorruptError)) throw error
        return { status: 'artifact-corrupt', detail: error.message }
      }
      if (bytes === undefined) return { status: 'artifact-missing', hash }
      const actual = contentHash(bytes)
      let value: T | undefined
      let error: unknown
      try {
        value = parse(bytes)
      } catch (e) {
        error = e
      }
      const loaded: Loaded<T> = { hash: actual, stamp, bytes: bytes.length, value, error }
      // Kept only when the content is what the name says (a store that does not check would
      // otherwise let one bad read stand for the committed file); verify reports the mismatch.
      if (actual === key) keep(key, loaded)
      return { status: 'loaded', loaded }
    })()
    inFlight.set(key, load)
    try {
      return await load
    } finally {
      inFlight.delete(key)
    }
  }

  const value = <T>(loaded: Loaded<T>): T => {
    if (loaded.value === undefined) throw loaded.error
    return loaded.value
  }

  return {
    async load(treeHash, archiveHash) {
      const tree = await fetch(treeHash, (b) => parseTreeDump(deviceLeafLayout, b))
      if (tree.status !== 'loaded') return tree
      const archive = await fetch(archiveHash, indexArchive)
      if (archive.status !== 'loaded') return archive
      const t = tree.loaded
      const a = archive.loaded
      const artifacts: PreparedArtifacts = {
        treeHash: t.hash,
        tree: () => value(t) as MerkleTree<DeviceLeaf>,
        archiveHash: a.hash,
        archive: (deviceId) => {
          const index = value(a)
          // The device's part: its records; anything else the archive holds stays whole.
          return {
            archive: { ...index.archive, records: index.byDevice.get(deviceId) ?? [] },
            recordCount: index.archive.records.length,
          }
        },
      }
      return { status: 'loaded', artifacts }
    },
    stats: () => ({ entries: kept.size, bytes: keptBytes, maxBytes, loads, hits }),
  }
}
