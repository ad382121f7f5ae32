// The adapter's overhead over the raw SDK, against one emulator in one run (not a test):
//   node --conditions=@sandkit/source packages/e2b/bench/overhead.ts [createRounds=30] [execRounds=300]
//   (or: pnpm --filter @sandkit/e2b bench)
// Measures, interleaving adapter and raw SDK round by round so drift hits both alike:
//   create + first exec: Sandbox.create + commands.run("true")   vs  provider.createDetached() + sandbox.exec("true")
//   warm exec:           commands.run("true")                     vs  sandbox.exec("true")
// and reports the p50s and whether the p50 overhead is within max(0.5 ms, 10 % of the raw p50). The adapter's create
// is measured twice: as configured by default (it asks the new sandbox for its home: one extra envd call), and with
// the workdir known in advance (`workdir` option; on real E2B `workdir: "/home/user"`, here `emulator.homeOf`).
import { Sandbox } from "@e2b/code-interpreter"
import { makeProvider, type Sandbox as CoreSandbox } from "@sandkit/core"
import { E2bEmulator } from "@sandkit/emulators/e2b"
import { Effect, Redacted } from "effect"
import { E2bProvider } from "../src/index.ts"

const createRounds = Number(process.argv[2] ?? 60)
const execRounds = Number(process.argv[3] ?? 300)

const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

const timed = async (f: () => Promise<unknown>): Promise<number> => {
  const start = performance.now()
  await f()
  return performance.now() - start
}

const emulator = await E2bEmulator.start()
try {
  const raw = { ...emulator.sdkOptions, retries: 0 }
  const options = {
    apiKey: Redacted.make(emulator.sdkOptions.apiKey),
    apiUrl: emulator.apiUrl,
    sandboxUrl: emulator.sandboxUrl
  }
  const provider = makeProvider(await Effect.runPromise(E2bProvider.make(options)))
  const knowing = makeProvider(await Effect.runPromise(E2bProvider.make({ ...options, workdir: emulator.homeOf })))
  const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

  // Warm up both paths (JIT, connection pools, the local engine's first sandbox).
  for (let i = 0; i < 3; i++) {
    const s = await Sandbox.create(raw)
    await s.commands.run("true")
    await s.kill()
    for (const p of [provider, knowing]) {
      const a = await run(p.createDetached())
      await run(a.exec("true"))
      await run(a.destroy)
    }
  }

  const createRaw: Array<number> = []
  const createAdapter: Array<number> = []
  const createKnowing: Array<number> = []
  const adapterRound = async (p: typeof provider, into: Array<number>) => {
    let sandbox: CoreSandbox | undefined
    into.push(await timed(async () => {
      sandbox = await run(p.createDetached())
      await run(sandbox.exec("true"))
    }))
    await run(sandbox!.destroy)
  }
  const rawRound = async () => {
    let sdkSandbox: Sandbox | undefined
    createRaw.push(await timed(async () => {
      sdkSandbox = await Sandbox.create(raw)
      await sdkSandbox.commands.run("true")
    }))
    await sdkSandbox!.kill()
  }
  // Rotate the order of the three variants every round, so none always runs first (or last).
  const variants = [rawRound, () => adapterRound(provider, createAdapter), () => adapterRound(knowing, createKnowing)]
  for (let i = 0; i < createRounds; i++) {
    for (let k = 0; k < variants.length; k++) await variants[(i + k) % variants.length]!()
  }

  const execRaw: Array<number> = []
  const execAdapter: Array<number> = []
  const sdkSandbox = await Sandbox.create(raw)
  const adapterSandbox = await run(provider.createDetached())
  for (let i = 0; i < 20; i++) {
    await sdkSandbox.commands.run("true")
    await run(adapterSandbox.exec("true"))
  }
  for (let i = 0; i < execRounds; i++) {
    // Alternate which goes first, so neither always runs on a just-warmed connection.
    if (i % 2 === 0) {
      execRaw.push(await timed(() => sdkSandbox.commands.run("true")))
      execAdapter.push(await timed(() => run(adapterSandbox.exec("true"))))
    } else {
      execAdapter.push(await timed(() => run(adapterSandbox.exec("true"))))
      execRaw.push(await timed(() => sdkSandbox.commands.run("true")))
    }
  }
  await sdkSandbox.kill()
  await run(adapterSandbox.destroy)

  // Overhead = adapter p50 - raw p50; "paired" is the p50 of the per-round differences (rounds are interleaved, so
  // it is less sensitive to load on a shared machine). The budget is checked on the first.
  const report = (name: string, rawMs: ReadonlyArray<number>, adapterMs: ReadonlyArray<number>) => {
    const r = percentile(rawMs, 50)
    const a = percentile(adapterMs, 50)
    const overhead = a - r
    const paired = percentile(rawMs.map((x, i) => adapterMs[i]! - x), 50)
    const budget = Math.max(0.5, 0.1 * r)
    console.log(
      `${name.padEnd(20)} raw p50 ${r.toFixed(2).padStart(7)} ms  adapter p50 ${a.toFixed(2).padStart(7)} ms  ` +
        `overhead ${overhead.toFixed(2).padStart(5)} ms (${((overhead / r) * 100).toFixed(1).padStart(4)} %)  ` +
        `paired ${paired.toFixed(2).padStart(5)} ms  budget ${budget.toFixed(2)} ms  ${overhead <= budget ? "OK" : "OVER"}  ` +
        `[p90 raw ${percentile(rawMs, 90).toFixed(2)} / adapter ${percentile(adapterMs, 90).toFixed(2)} ms, n=${rawMs.length}]`
    )
    return overhead <= budget
  }
  console.log(`E2B adapter overhead against the emulator (${process.versions.node ? `node ${process.versions.node}` : "runtime"}):`)
  const ok = [
    report("create + first exec", createRaw, createAdapter),
    report("  (workdir known)", createRaw, createKnowing),
    report("warm exec", execRaw, execAdapter)
  ].every(Boolean)
  if (!ok) process.exitCode = 1
} finally {
  await emulator.close()
}
