/**
 * Order of n items by a 32-bit key, stable (ties keep input order): an LSD radix sort in two
 * 16-bit passes. A million keys sort in ~20 ms here, against ~250 ms for a Float64Array sort of
 * packed keys and ~2 s for a comparator sort; the tree and the duplicate check both need one.
 */
export function radixOrder(keys: Uint32Array): Uint32Array {
  const n = keys.length
  let order = new Uint32Array(n)
  let next = new Uint32Array(n)
  for (let i = 0; i < n; i++) order[i] = i
  const counts = new Uint32Array(65_536)
  for (const shift of [0, 16]) {
    counts.fill(0)
    for (let i = 0; i < n; i++) counts[(keys[i]! >>> shift) & 0xffff]!++
    let sum = 0
    for (let d = 0; d < 65_536; d++) {
      const c = counts[d]!
      counts[d] = sum
      sum += c
    }
    for (let i = 0; i < n; i++) {
      const item = order[i]!
      next[counts[(keys[item]! >>> shift) & 0xffff]!++] = item
    }
    ;[order, next] = [next, order]
  }
  return order
}

/** FNV-1a of a string's UTF-16 code units: a fast 32-bit key for duplicate detection. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}
