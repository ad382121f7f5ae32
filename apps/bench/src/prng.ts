/**
 * A small seeded PRNG (mulberry32) and a Fisher–Yates shuffle on top of it. The bench randomises the provider order of
 * every round with it, so a run is reproducible from its seed.
 */

/** A generator of uniform numbers in [0, 1). */
export type Random = () => number

/** mulberry32: 32-bit state, full period 2^32, good enough to shuffle a handful of providers reproducibly. */
export const mulberry32 = (seed: number): Random => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A uniform integer in [0, n). */
export const randomInt = (random: Random, n: number): number => Math.floor(random() * n)

/** A shuffled copy (Fisher–Yates); the input is left alone. */
export const shuffle = <A>(items: ReadonlyArray<A>, random: Random): Array<A> => {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1)
    const tmp = out[i]!
    out[i] = out[j]!
    out[j] = tmp
  }
  return out
}

/** A fresh seed when none is given: 32 random bits. */
export const freshSeed = (): number => globalThis.crypto.getRandomValues(new Uint32Array(1))[0]!
