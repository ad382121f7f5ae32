/**
 * A small seeded PRNG (mulberry32) and a Fisher–Yates shuffle on top of it. The bench randomises the provider order of
 * every round with it, so a run is reproducible from its seed.
 */

import { type Random, seededRandom } from "@sandkit/emulators"

export type { Random }

/** mulberry32 (the emulators' seeded generator): good enough to shuffle a handful of providers reproducibly. */
export const mulberry32 = seededRandom

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
