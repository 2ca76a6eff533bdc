// Keccak-256 (the Ethereum variant: padding 0x01, not SHA-3's 0x06) and the OpenZeppelin
// standard Merkle tree, compiled to WebAssembly by ./build.sh. No libc: the module owns one
// linear memory; the JavaScript side lays out inputs above __heap_base and reads results back.
#include <stdint.h>

#define RATE 136
#define ROL(a, n) (((a) << (n)) | ((a) >> (64 - (n))))

static const uint64_t RC[24] = {
  0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
  0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
  0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
  0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
  0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
  0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

static void keccakf(uint64_t *s) {
  uint64_t a0 = s[0], a1 = s[1], a2 = s[2], a3 = s[3], a4 = s[4];
  uint64_t a5 = s[5], a6 = s[6], a7 = s[7], a8 = s[8], a9 = s[9];
  uint64_t a10 = s[10], a11 = s[11], a12 = s[12], a13 = s[13], a14 = s[14];
  uint64_t a15 = s[15], a16 = s[16], a17 = s[17], a18 = s[18], a19 = s[19];
  uint64_t a20 = s[20], a21 = s[21], a22 = s[22], a23 = s[23], a24 = s[24];
  for (int r = 0; r < 24; r++) {
    uint64_t c0 = a0 ^ a5 ^ a10 ^ a15 ^ a20;
    uint64_t c1 = a1 ^ a6 ^ a11 ^ a16 ^ a21;
    uint64_t c2 = a2 ^ a7 ^ a12 ^ a17 ^ a22;
    uint64_t c3 = a3 ^ a8 ^ a13 ^ a18 ^ a23;
    uint64_t c4 = a4 ^ a9 ^ a14 ^ a19 ^ a24;
    uint64_t d0 = c4 ^ ROL(c1, 1), d1 = c0 ^ ROL(c2, 1), d2 = c1 ^ ROL(c3, 1);
    uint64_t d3 = c2 ^ ROL(c4, 1), d4 = c3 ^ ROL(c0, 1);
    // theta, rho and pi: b[y][2x+3y] = rot(a[x][y] ^ d[x])
    uint64_t b0 = a0 ^ d0;
    uint64_t b10 = ROL(a1 ^ d1, 1);
    uint64_t b20 = ROL(a2 ^ d2, 62);
    uint64_t b5 = ROL(a3 ^ d3, 28);
    uint64_t b15 = ROL(a4 ^ d4, 27);
    uint64_t b16 = ROL(a5 ^ d0, 36);
    uint64_t b1 = ROL(a6 ^ d1, 44);
    uint64_t b11 = ROL(a7 ^ d2, 6);
    uint64_t b21 = ROL(a8 ^ d3, 55);
    uint64_t b6 = ROL(a9 ^ d4, 20);
    uint64_t b7 = ROL(a10 ^ d0, 3);
    uint64_t b17 = ROL(a11 ^ d1, 10);
    uint64_t b2 = ROL(a12 ^ d2, 43);
    uint64_t b12 = ROL(a13 ^ d3, 25);
    uint64_t b22 = ROL(a14 ^ d4, 39);
    uint64_t b23 = ROL(a15 ^ d0, 41);
    uint64_t b8 = ROL(a16 ^ d1, 45);
    uint64_t b18 = ROL(a17 ^ d2, 15);
    uint64_t b3 = ROL(a18 ^ d3, 21);
    uint64_t b13 = ROL(a19 ^ d4, 8);
    uint64_t b14 = ROL(a20 ^ d0, 18);
    uint64_t b24 = ROL(a21 ^ d1, 2);
    uint64_t b9 = ROL(a22 ^ d2, 61);
    uint64_t b19 = ROL(a23 ^ d3, 56);
    uint64_t b4 = ROL(a24 ^ d4, 14);
    // chi and iota
    a0 = b0 ^ (~b1 & b2) ^ RC[r];
    a1 = b1 ^ (~b2 & b3);
    a2 = b2 ^ (~b3 & b4);
    a3 = b3 ^ (~b4 & b0);
    a4 = b4 ^ (~b0 & b1);
    a5 = b5 ^ (~b6 & b7);
    a6 = b6 ^ (~b7 & b8);
    a7 = b7 ^ (~b8 & b9);
    a8 = b8 ^ (~b9 & b5);
    a9 = b9 ^ (~b5 & b6);
    a10 = b10 ^ (~b11 & b12);
    a11 = b11 ^ (~b12 & b13);
    a12 = b12 ^ (~b13 & b14);
    a13 = b13 ^ (~b14 & b10);
    a14 = b14 ^ (~b10 & b11);
    a15 = b15 ^ (~b16 & b17);
    a16 = b16 ^ (~b17 & b18);
    a17 = b17 ^ (~b18 & b19);
    a18 = b18 ^ (~b19 & b15);
    a19 = b19 ^ (~b15 & b16);
    a20 = b20 ^ (~b21 & b22);
    a21 = b21 ^ (~b22 & b23);
    a22 = b22 ^ (~b23 & b24);
    a23 = b23 ^ (~b24 & b20);
    a24 = b24 ^ (~b20 & b21);
  }
  s[0] = a0; s[1] = a1; s[2] = a2; s[3] = a3; s[4] = a4;
  s[5] = a5; s[6] = a6; s[7] = a7; s[8] = a8; s[9] = a9;
  s[10] = a10; s[11] = a11; s[12] = a12; s[13] = a13; s[14] = a14;
  s[15] = a15; s[16] = a16; s[17] = a17; s[18] = a18; s[19] = a19;
  s[20] = a20; s[21] = a21; s[22] = a22; s[23] = a23; s[24] = a24;
}

static inline uint64_t load64(const uint8_t *p) {
  uint64_t v;
  __builtin_memcpy(&v, p, 8); // wasm is little-endian, as Keccak's lanes are
  return v;
}
static inline void store64(uint8_t *p, uint64_t v) { __builtin_memcpy(p, &v, 8); }

static void keccak256(const uint8_t *in, uint32_t len, uint8_t *out) {
  uint64_t s[25];
  for (int i = 0; i < 25; i++) s[i] = 0;
  while (len >= RATE) {
    for (int i = 0; i < RATE / 8; i++) s[i] ^= load64(in + 8 * i);
    keccakf(s);
    in += RATE;
    len -= RATE;
  }
  uint8_t block[RATE];
  for (int i = 0; i < RATE; i++) block[i] = 0;
  for (uint32_t i = 0; i < len; i++) block[i] = in[i];
  block[len] ^= 0x01;
  block[RATE - 1] ^= 0x80;
  for (int i = 0; i < RATE / 8; i++) s[i] ^= load64(block + 8 * i);
  keccakf(s);
  for (int i = 0; i < 4; i++) store64(out + 8 * i, s[i]);
}

/** keccak256 of exactly 32 bytes (the outer hash of a standard leaf): one block, no copying. */
static void keccak256_32(const uint8_t *in, uint8_t *out) {
  uint64_t s[25];
  for (int i = 0; i < 25; i++) s[i] = 0;
  for (int i = 0; i < 4; i++) s[i] = load64(in + 8 * i);
  s[4] = 0x01;
  s[16] = 0x8000000000000000ULL;
  keccakf(s);
  for (int i = 0; i < 4; i++) store64(out + 8 * i, s[i]);
}

/** Lexicographic comparison of two 32-byte nodes: negative when a < b. */
static int compare32(const uint8_t *a, const uint8_t *b) {
  for (int i = 0; i < 32; i++) {
    if (a[i] != b[i]) return (int)a[i] - (int)b[i];
  }
  return 0;
}

/** keccak256 of the two 32-byte nodes in ascending order (OpenZeppelin's commutative hash). */
static void hash_pair(const uint8_t *a, const uint8_t *b, uint8_t *out) {
  if (compare32(a, b) > 0) {
    const uint8_t *t = a;
    a = b;
    b = t;
  }
  uint64_t s[25];
  for (int i = 0; i < 25; i++) s[i] = 0;
  for (int i = 0; i < 4; i++) s[i] = load64(a + 8 * i);
  for (int i = 0; i < 4; i++) s[4 + i] = load64(b + 8 * i);
  s[8] = 0x01;
  s[16] = 0x8000000000000000ULL;
  keccakf(s);
  for (int i = 0; i < 4; i++) store64(out + 8 * i, s[i]);
}

__attribute__((export_name("keccak"))) void keccak(const uint8_t *in, uint32_t len, uint8_t *out) {
  keccak256(in, len, out);
}

/**
 * Standard leaf hashes of `count` ABI encodings laid end to end: message i is
 * data[offsets[i] .. offsets[i+1]); out receives keccak256(keccak256(message)) for each.
 */
__attribute__((export_name("leaf_hashes"))) void leaf_hashes(const uint8_t *data, const uint32_t *offsets,
                                                             uint32_t count, uint8_t *out) {
  uint8_t inner[32];
  for (uint32_t i = 0; i < count; i++) {
    keccak256(data + offsets[i], offsets[i + 1] - offsets[i], inner);
    keccak256_32(inner, out + 32 * i);
  }
}

/**
 * Fills the inner nodes of an OpenZeppelin tree of n >= 1 leaves: nodes holds 2n-1 slots of 32
 * bytes, the leaves already at slots n-1 .. 2n-2; node i = hash_pair(node 2i+1, node 2i+2).
 */
__attribute__((export_name("build_tree"))) void build_tree(uint8_t *nodes, uint32_t n) {
  for (int64_t i = (int64_t)n - 2; i >= 0; i--) {
    uint32_t k = (uint32_t)i;
    hash_pair(nodes + 32 * (2 * k + 1), nodes + 32 * (2 * k + 2), nodes + 32 * k);
  }
}

/** Node hash of one pair, for proof verification. */
__attribute__((export_name("node_hash"))) void node_hash(const uint8_t *a, const uint8_t *b, uint8_t *out) {
  hash_pair(a, b, out);
}

/** Copies leaf hash order[r] (32 bytes each in hashes) to slot 2n-2-r of nodes, for every rank r. */
__attribute__((export_name("place_leaves"))) void place_leaves(const uint8_t *hashes, const uint32_t *order,
                                                               uint32_t n, uint8_t *nodes) {
  uint32_t last = 2 * n - 2;
  for (uint32_t r = 0; r < n; r++) {
    const uint64_t *from = (const uint64_t *)(hashes + 32 * (uint64_t)order[r]);
    uint64_t *to = (uint64_t *)(nodes + 32 * (uint64_t)(last - r));
    to[0] = from[0];
    to[1] = from[1];
    to[2] = from[2];
    to[3] = from[3];
  }
}

/**
 * Every leaf's proof as tree slots: for rank r, the siblings of slot 2n-2-r up to the root,
 * written at siblings[offsets[r] ..], with offsets[n] = the total. Returns the total.
 */
__attribute__((export_name("all_proofs"))) uint32_t all_proofs(uint32_t n, uint32_t *offsets, uint32_t *siblings) {
  uint32_t at = 0;
  for (uint32_t r = 0; r < n; r++) {
    offsets[r] = at;
    for (uint32_t j = 2 * n - 2 - r; j > 0; j = (j - 1) >> 1) siblings[at++] = (j & 1) ? j + 1 : j - 1;
  }
  offsets[n] = at;
  return at;
}
