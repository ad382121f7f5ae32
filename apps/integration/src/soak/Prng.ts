/**
 * A small seeded PRNG for the soak. Every scenario draws from its own generator, derived from the run's seed and the
 * scenario's index, so `--only K` rebuilds scenario K without generating the ones before it.
 */

import { type Random, seededRandom } from "@sandkit/emulators"

export type { Random }

/** splitmix32 finaliser: spreads nearby inputs (seed, seed + 1, …) over the whole 32-bit space. */
const mix32 = (input: number): number => {
  let z = (input + 0x9e3779b9) >>> 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
  return (z ^ (z >>> 16)) >>> 0
}

/** mulberry32 (the emulators' seeded generator): 32 bits of state, plenty for a few dozen choices per scenario. */
export const mulberry32 = seededRandom

/** The seed of scenario `index` of a run seeded with `seed`. */
export const scenarioSeed = (seed: number, index: number): number => mix32(mix32(seed >>> 0) ^ mix32(index + 1))

/** Drawing helpers over one generator. */
export class Draw {
  readonly random: Random
  constructor(seed: number) {
    this.random = mulberry32(seed)
  }
  /** An integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1))
  }
  chance(p: number): boolean {
    return this.random() < p
  }
  pick<A>(items: ReadonlyArray<A>): A {
    if (items.length === 0) throw new RangeError("pick from an empty list")
    return items[Math.floor(this.random() * items.length)] as A
  }
  /** One of `choices`, by weight. */
  weighted<A>(choices: ReadonlyArray<readonly [A, number]>): A {
    const total = choices.reduce((sum, [, w]) => sum + w, 0)
    let x = this.random() * total
    for (const [item, weight] of choices) {
      x -= weight
      if (x < 0) return item
    }
    return choices[choices.length - 1]![0]
  }
}

/** A fresh seed when none is given: 32 random bits. */
export const freshSeed = (): number => globalThis.crypto.getRandomValues(new Uint32Array(1))[0]!
