/**
 * Local provider vs. the raw floor of its own isolation tier, per tier available here (issue: local isolation).
 * Not a test: run with `pnpm --filter @sandkit/local bench` (or `pnpm bench:local` at the root).
 *
 * Baseline = spawning the very command line the provider would run (same tier wrapper, rlimits, uid), measured in the
 * same process, interleaved with the provider's samples so both see the same machine state.
 */
import { SandboxProvider } from "@sandkit/core"
import { Effect, Layer } from "effect"
import { spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { LocalProvider } from "../src/index.ts"
import { wrapArgv, type Tier } from "../src/internal/isolation.ts"
import { defaultLimits } from "../src/LocalProvider.ts"

const N = Number(process.env.BENCH_N ?? 40)
const BURST = Number(process.env.BENCH_BURST ?? 50)

const run = (argv: ReadonlyArray<string>, cwd: string) =>
  new Promise<void>((resolve, reject) => {
    const [file, ...args] = argv
    const child = spawn(file!, args, { cwd, stdio: ["ignore", "pipe", "pipe"], detached: true })
    child.stdout.resume()
    child.stderr.resume()
    child.once("error", reject)
    child.once("close", (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))))
  })

const time = async (f: () => Promise<unknown>) => {
  const start = performance.now()
  await f()
  return performance.now() - start
}

const quantile = (sorted: ReadonlyArray<number>, q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
const summary = (samples: ReadonlyArray<number>) => {
  const s = [...samples].sort((a, b) => a - b)
  return { n: s.length, p50: quantile(s, 0.5), p95: quantile(s, 0.95), max: s.at(-1)! }
}
const fmt = (x: number) => x.toFixed(1).padStart(7)
const rows: Array<string> = []
const report = (tier: string, metric: string, ours: ReadonlyArray<number>, raw: ReadonlyArray<number> | undefined, bound?: number) => {
  const o = summary(ours)
  const r = raw === undefined ? undefined : summary(raw)
  const ratio = r === undefined ? undefined : o.p50 / r.p50
  const verdict = ratio === undefined || bound === undefined ? "" : ratio <= bound ? `ok (≤ ${bound}×)` : `OVER ${bound}×`
  const line = `${tier.padEnd(11)} ${metric.padEnd(34)} n=${String(o.n).padStart(3)} p50 ${fmt(o.p50)} p95 ${fmt(o.p95)} max ${fmt(o.max)} ms` +
    (r === undefined ? "" : ` | raw p50 ${fmt(r.p50)} p95 ${fmt(r.p95)} max ${fmt(r.max)} ms | ratio ${ratio!.toFixed(2)} ${verdict}`)
  rows.push(line)
  console.log(line)
}

const benchTier = (tier: Tier, root: string) =>
  Effect.gen(function*() {
    const provider = yield* SandboxProvider
    const uid = process.getuid?.() === 0 ? 3_099_999 : undefined
    const rawDir = join(root, "raw-workspace")
    mkdirSync(rawDir, { recursive: true, mode: 0o777 })
    const argv = (command: ReadonlyArray<string>) =>
      wrapArgv(tier, command, { workspace: rawDir, cwd: rawDir, network: false, limits: defaultLimits, uid })
    const echo = argv(["/bin/sh", "-c", "echo hi"])
    const truth = argv(["/bin/sh", "-c", "true"])

    // Warm up both paths.
    for (let i = 0; i < 5; i++) {
      yield* Effect.promise(() => run(echo, rawDir))
      yield* Effect.scoped(Effect.flatMap(provider.create(), (s) => s.exec("echo hi")))
    }

    const tti: Array<number> = []
    const rawTti: Array<number> = []
    const execs: Array<number> = []
    const rawExecs: Array<number> = []
    const destroys: Array<number> = []
    for (let i = 0; i < N; i++) {
      rawTti.push(yield* Effect.promise(() => time(() => run(echo, rawDir))))
      const start = performance.now()
      const sandbox = yield* provider.createDetached()
      yield* sandbox.exec("echo hi")
      tti.push(performance.now() - start)
      rawExecs.push(yield* Effect.promise(() => time(() => run(truth, rawDir))))
      const s2 = performance.now()
      yield* sandbox.exec("true")
      execs.push(performance.now() - s2)
      // destroy with 10 live processes inside
      yield* Effect.forkDetach(sandbox.exec("for i in 1 2 3 4 5 6 7 8 9 10; do sleep 100 & done; wait"))
      yield* Effect.sleep("30 millis")
      const s3 = performance.now()
      yield* sandbox.destroy
      destroys.push(performance.now() - s3)
    }
    report(tier, "create → first echo (TTI)", tti, rawTti, 1.5)
    report(tier, "warm exec(true) round trip", execs, rawExecs, 1.5)
    report(tier, "destroy with 10 live processes", destroys, undefined)
    const d = summary(destroys)
    rows.push(`${tier.padEnd(11)} destroy p50 ${d.p50.toFixed(1)} ms ${d.p50 < 50 ? "ok (< 50 ms)" : "OVER 50 ms"}`)
    console.log(rows.at(-1))

    const bursts: Array<number> = []
    const rawBursts: Array<number> = []
    for (let i = 0; i < 5; i++) {
      rawBursts.push(yield* Effect.promise(() => time(() => Promise.all(Array.from({ length: BURST }, () => run(echo, rawDir))))))
      const start = performance.now()
      yield* Effect.scoped(Effect.forEach(
        Array.from({ length: BURST }),
        () => Effect.flatMap(provider.create(), (s) => s.exec("echo hi")),
        { concurrency: "unbounded" }
      ).pipe(Effect.tap(() => Effect.sync(() => bursts.push(performance.now() - start)))))
    }
    report(tier, `${BURST} concurrent creates, all ready`, bursts, rawBursts, 2)
    const left = yield* provider.list()
    if (left.length > 0) console.log(`LEAK: ${left.length} sandboxes left`)
  })

const main = async () => {
  console.log(`local tier benchmark — n=${N} sequential samples, ${BURST}-sandbox bursts ×5, ${new Date().toISOString()}`)
  for (const tier of ["bubblewrap", "namespaces", "process"] as const) {
    const root = mkdtempSync(join(tmpdir(), `sandkit-bench-${tier}-`))
    try {
      const layer = LocalProvider.layer({ root, isolation: tier }) as Layer.Layer<SandboxProvider>
      const result = await Effect.runPromise(Effect.result(benchTier(tier, root).pipe(Effect.provide(layer))))
      if (result._tag === "Failure") console.log(`${tier}: skipped (${String((result.failure as Error).message ?? result.failure)})`)
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  }
}

await main()
