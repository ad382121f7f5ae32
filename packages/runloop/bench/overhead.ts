// The adapter's overhead over the raw SDK, against one emulator in one run (not a test), from the repository root:
//   node --conditions=@sandkit/source packages/runloop/bench/overhead.ts [createRounds=40] [rounds=300]
//   (or: pnpm --filter @sandkit/runloop bench)
// Both sides speak the SDK's default transport (HTTP/2) to the same emulator. Adapter and raw SDK alternate round by
// round (and which goes first), so drift and warm connections hit both alike. Measured:
//   create + first exec   devboxes.create → awaitRunning → executeAndAwaitCompletion("true")
//                          vs provider.createDetached() → sandbox.exec("true")
//                          (twice for the adapter: by default it asks the devbox for its home — one more command —
//                          and with `home` known in advance, as `/home/user` is on real Runloop)
//   warm exec              executeAndAwaitCompletion("true")   vs  sandbox.exec("true")
//   file write + read      uploadFile + downloadFile (4 KiB)    vs  files.write + files.read
// and reports the p50s and whether the p50 overhead is within max(0.5 ms, 10 % of the raw p50).
import { Runloop, toFile } from "@runloop/api-client"
import { makeProvider, type Sandbox } from "@sandkit/core"
import { RunloopEmulator } from "@sandkit/emulators/runloop"
import { Effect, Redacted } from "effect"
import { RunloopProvider } from "../src/index.ts"

const createRounds = Number(process.argv[2] ?? 40)
const rounds = Number(process.argv[3] ?? 300)

const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

const timed = async (f: () => Promise<unknown>): Promise<number> => {
  const start = performance.now()
  await f()
  return performance.now() - start
}

const emulator = await RunloopEmulator.start()
try {
  const client = new Runloop({ ...emulator.sdkOptions, maxRetries: 0 })
  const options = { apiKey: Redacted.make(emulator.sdkOptions.bearerToken), baseUrl: emulator.url }
  const provider = makeProvider(await Effect.runPromise(RunloopProvider.make(options)))
  const knowing = makeProvider(await Effect.runPromise(RunloopProvider.make({ ...options, home: emulator.homeOf })))
  const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

  const rawCreate = async () => {
    const devbox = await client.devboxes.create({})
    await client.devboxes.awaitRunning(devbox.id)
    await client.devboxes.executeAndAwaitCompletion(devbox.id, { command: "true" })
    return devbox.id
  }
  const adapterCreate = async (p: typeof provider) => {
    const sandbox = await run(p.createDetached())
    await run(sandbox.exec("true"))
    return sandbox
  }

  // Warm up both paths (JIT, the HTTP/2 session, the local engine's first sandboxes).
  for (let i = 0; i < 3; i++) {
    await client.devboxes.shutdown(await rawCreate())
    for (const p of [provider, knowing]) await run((await adapterCreate(p)).destroy)
  }

  const createRaw: Array<number> = []
  const createAdapter: Array<number> = []
  const createKnowing: Array<number> = []
  const adapterRound = async (p: typeof provider, into: Array<number>) => {
    let sandbox: Sandbox | undefined
    into.push(await timed(async () => (sandbox = await adapterCreate(p))))
    await run(sandbox!.destroy)
  }
  for (let i = 0; i < createRounds; i++) {
    let id = ""
    const rawRound = async () => {
      createRaw.push(await timed(async () => (id = await rawCreate())))
      await client.devboxes.shutdown(id)
    }
    if (i % 2 === 0) {
      await rawRound()
      await adapterRound(provider, createAdapter)
      await adapterRound(knowing, createKnowing)
    } else {
      await adapterRound(knowing, createKnowing)
      await adapterRound(provider, createAdapter)
      await rawRound()
    }
  }

  const rawBox = await client.devboxes.createAndAwaitRunning({})
  const sandbox = await adapterCreate(knowing)
  const data = new Uint8Array(4096).fill(97)
  const pairs = {
    exec: {
      raw: () => client.devboxes.executeAndAwaitCompletion(rawBox.id, { command: "true" }),
      adapter: () => run(sandbox.exec("true"))
    },
    files: {
      raw: async () => {
        await client.devboxes.uploadFile(rawBox.id, { path: "bench.bin", file: await toFile(data, "bench.bin") })
        await (await client.devboxes.downloadFile(rawBox.id, { path: "bench.bin" })).arrayBuffer()
      },
      adapter: async () => {
        await run(sandbox.files.write("bench.bin", data))
        await run(sandbox.files.read("bench.bin"))
      }
    }
  }
  const samples = { exec: { raw: [] as Array<number>, adapter: [] as Array<number> }, files: { raw: [] as Array<number>, adapter: [] as Array<number> } }
  for (const name of ["exec", "files"] as const) {
    for (let i = 0; i < 20; i++) {
      await pairs[name].raw()
      await pairs[name].adapter()
    }
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 === 0 ? (["raw", "adapter"] as const) : (["adapter", "raw"] as const)
      for (const side of order) samples[name][side].push(await timed(pairs[name][side]))
    }
  }
  await client.devboxes.shutdown(rawBox.id)
  await run(sandbox.destroy)

  // Overhead = adapter p50 − raw p50; "paired" is the p50 of the per-round differences. The budget is on the first.
  const report = (name: string, rawMs: ReadonlyArray<number>, adapterMs: ReadonlyArray<number>) => {
    const r = percentile(rawMs, 50)
    const a = percentile(adapterMs, 50)
    const overhead = a - r
    const paired = percentile(rawMs.map((x, i) => adapterMs[i]! - x), 50)
    const budget = Math.max(0.5, 0.1 * r)
    console.log(
      `${name.padEnd(22)} raw p50 ${r.toFixed(2).padStart(7)} ms  adapter p50 ${a.toFixed(2).padStart(7)} ms  ` +
        `overhead ${overhead.toFixed(2).padStart(5)} ms (${((overhead / r) * 100).toFixed(1).padStart(5)} %)  ` +
        `paired ${paired.toFixed(2).padStart(5)} ms  budget ${budget.toFixed(2)} ms  ${overhead <= budget ? "OK" : "OVER"}  ` +
        `[p90 raw ${percentile(rawMs, 90).toFixed(2)} / adapter ${percentile(adapterMs, 90).toFixed(2)} ms, n=${rawMs.length}]`
    )
    return overhead <= budget
  }
  const runtime = (globalThis as { Bun?: { version: string } }).Bun !== undefined
    ? `bun ${(globalThis as { Bun?: { version: string } }).Bun!.version}`
    : `node ${process.versions.node}`
  console.log(`Runloop adapter overhead against the emulator (${runtime}, ${emulator.requests().h2c > 0 ? "HTTP/2" : "HTTP/1.1"}):`)
  const results = [
    report("create + first exec", createRaw, createAdapter),
    report("  (home known)", createRaw, createKnowing),
    report("warm exec", samples.exec.raw, samples.exec.adapter),
    report("file write + read", samples.files.raw, samples.files.adapter)
  ]
  // The default create does one more command than the raw sequence (it learns the home): reported, not budgeted.
  if (!results.slice(1).every(Boolean)) process.exitCode = 1
} finally {
  await emulator.close()
}
