/**
 * The harness of the adapters' overhead benchmarks (`packages/<cloud>/bench/overhead.ts`): each compares the Sandkit
 * adapter with its raw SDK against one emulator, in one process. Samples of the two sides are taken in alternating
 * order, so drift and warm connections hit both alike; the verdict is on the p50 overhead against a budget of
 * max(0.5 ms, 10 % of the raw p50). Benchmarks only: tests never time anything.
 */

/** The `p`th percentile (nearest rank, 0–100) of `values`. */
export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

/** Wall time of one call, in milliseconds. */
export const timed = async (f: () => Promise<unknown>): Promise<number> => {
  const start = performance.now()
  await f()
  return performance.now() - start
}

/** Round counts from the command line (`argv[2]`, `argv[3]`), with defaults. */
export const roundsFromArgv = (defaults: { readonly create: number; readonly exec: number }) => ({
  create: Number(process.argv[2] ?? defaults.create),
  exec: Number(process.argv[3] ?? defaults.exec)
})

/** Run every variant once per round for `rounds` rounds, rotating which goes first, so none always runs first. */
export const rotate = async (rounds: number, variants: ReadonlyArray<() => Promise<unknown>>): Promise<void> => {
  for (let i = 0; i < rounds; i++) {
    for (let k = 0; k < variants.length; k++) await variants[(i + k) % variants.length]!()
  }
}

/** Warm both calls up (`warmup` times each), then time them in alternating order `rounds` times. */
export const pair = async (
  raw: () => Promise<unknown>,
  adapter: () => Promise<unknown>,
  rounds: number,
  warmup = 20
): Promise<readonly [raw: Array<number>, adapter: Array<number>]> => {
  for (let i = 0; i < warmup; i++) {
    await raw()
    await adapter()
  }
  const rawMs: Array<number> = []
  const adapterMs: Array<number> = []
  await rotate(rounds, [async () => rawMs.push(await timed(raw)), async () => adapterMs.push(await timed(adapter))])
  return [rawMs, adapterMs]
}

export interface Comparison {
  readonly name: string
  readonly raw: ReadonlyArray<number>
  readonly adapter: ReadonlyArray<number>
  /** Whether exceeding the budget fails the run (false: reported for information). Default true. */
  readonly gated?: boolean
}

/** The runtime running the benchmark, for the report's title. */
export const runtimeName = (): string => {
  const bun = (globalThis as { Bun?: { version: string } }).Bun
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno
  return bun !== undefined ? `bun ${bun.version}` : deno !== undefined ? `deno ${deno.version.deno}` : `node ${process.versions.node}`
}

/**
 * Print one line per comparison — raw and adapter p50, the overhead (adapter p50 − raw p50), the paired overhead (p50
 * of the per-round differences, less sensitive to load), the budget and the verdict — and set a failing exit code
 * when a gated comparison is over budget. Returns whether every gated comparison is within budget.
 */
export const reportOverhead = (title: string, comparisons: ReadonlyArray<Comparison>): boolean => {
  console.log(title)
  const width = Math.max(...comparisons.map((c) => c.name.length)) + 2
  let ok = true
  for (const { adapter, gated = true, name, raw } of comparisons) {
    const r = percentile(raw, 50)
    const a = percentile(adapter, 50)
    const overhead = a - r
    const paired = percentile(raw.map((x, i) => adapter[i]! - x), 50)
    const budget = Math.max(0.5, 0.1 * r)
    const within = overhead <= budget
    if (gated && !within) ok = false
    console.log(
      `${name.padEnd(width)} raw p50 ${r.toFixed(2).padStart(7)} ms  adapter p50 ${a.toFixed(2).padStart(7)} ms  ` +
        `overhead ${overhead.toFixed(2).padStart(5)} ms (${((overhead / r) * 100).toFixed(1).padStart(5)} %)  ` +
        `paired ${paired.toFixed(2).padStart(5)} ms  budget ${budget.toFixed(2)} ms  ` +
        `${within ? "OK" : gated ? "OVER" : "over (informational)"}  ` +
        `[p90 raw ${percentile(raw, 90).toFixed(2)} / adapter ${percentile(adapter, 90).toFixed(2)} ms, n=${raw.length}]`
    )
  }
  if (!ok) process.exitCode = 1
  return ok
}
