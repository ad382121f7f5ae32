import { describe, expect, it } from "@effect/vitest"
import { mulberry32, shuffle } from "../src/prng.ts"
import { schedule } from "../src/runner.ts"
import type { BenchTarget } from "../src/target.ts"

/** The reference mulberry32 (Tommy Ettinger's, as widely published), written independently of ours. */
function reference(a: number) {
  return function() {
    let t = (a += 0x6d2b79f5)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe("mulberry32", () => {
  it("reproduces the reference sequence", () => {
    for (const seed of [0, 1, 42, 0xdeadbeef, 4294967295]) {
      const ours = mulberry32(seed)
      const theirs = reference(seed | 0)
      for (let i = 0; i < 1000; i++) expect(ours()).toBe(theirs())
    }
  })

  it("is deterministic per seed and stays in [0, 1)", () => {
    const a = mulberry32(7)
    const b = mulberry32(7)
    const xs = Array.from({ length: 500 }, () => a())
    expect(Array.from({ length: 500 }, () => b())).toEqual(xs)
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true)
    expect(Array.from({ length: 500 }, mulberry32(8))).not.toEqual(xs)
  })
})

describe("seeded shuffle", () => {
  const items = ["local", "e2b", "daytona", "modal", "runloop"]

  it("is a permutation and leaves its input alone", () => {
    const copy = [...items]
    const out = shuffle(items, mulberry32(3))
    expect(items).toEqual(copy)
    expect([...out].sort()).toEqual([...items].sort())
  })

  it("gives the same orders for the same seed, round after round", () => {
    const run = (seed: number) => {
      const random = mulberry32(seed)
      return Array.from({ length: 50 }, () => shuffle(items, random).join(","))
    }
    expect(run(123)).toEqual(run(123))
    expect(run(123)).not.toEqual(run(124))
  })

  it("puts every item first about equally often", () => {
    const random = mulberry32(99)
    const firsts = new Map<string, number>()
    for (let i = 0; i < 10_000; i++) {
      const first = shuffle(items, random)[0]!
      firsts.set(first, (firsts.get(first) ?? 0) + 1)
    }
    for (const item of items) expect(Math.abs(firsts.get(item)! - 2000)).toBeLessThan(200)
  })

  it("drives the bench schedule deterministically", () => {
    const targets = ["a", "b", "c"].map((key) => ({ key }) as unknown as BenchTarget)
    const config = { warmup: 2, iterations: 10, bursts: 3, concurrency: [1, 10, 50], seed: 2024 }
    const orders = (seed: number) =>
      schedule(targets, { ...config, seed }).map((s) => `${s.phase}/${s.concurrency}/${s.round}:${s.targets.map((t) => t.key).join("")}`)
    expect(orders(2024)).toEqual(orders(2024))
    expect(orders(2024)).not.toEqual(orders(2025))
    // warm-up first, then levels ascending: 2 + 10 + 3 + 3 rounds
    expect(orders(2024).map((o) => o.split(":")[0])).toEqual([
      "warmup/1/0", "warmup/1/1",
      ...Array.from({ length: 10 }, (_, i) => `measured/1/${i}`),
      "measured/10/0", "measured/10/1", "measured/10/2",
      "measured/50/0", "measured/50/1", "measured/50/2"
    ])
  })
})
