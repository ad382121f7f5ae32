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
import { pair, reportOverhead, rotate, roundsFromArgv, runtimeName, timed } from "@sandkit/emulators/overhead"
import { Effect } from "effect"
import { RunloopProvider } from "../src/index.ts"

const { create: createRounds, exec: rounds } = roundsFromArgv({ create: 40, exec: 300 })


const emulator = await RunloopEmulator.start()
try {
  const client = new Runloop({ ...emulator.sdkOptions, maxRetries: 0 })
  const options = emulator.adapterOptions
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
  const rawRound = async () => {
    let id = ""
    createRaw.push(await timed(async () => (id = await rawCreate())))
    await client.devboxes.shutdown(id)
  }
  await rotate(createRounds, [rawRound, () => adapterRound(provider, createAdapter), () => adapterRound(knowing, createKnowing)])

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
  const [execRaw, execAdapter] = await pair(pairs.exec.raw, pairs.exec.adapter, rounds)
  const [filesRaw, filesAdapter] = await pair(pairs.files.raw, pairs.files.adapter, rounds)
  await client.devboxes.shutdown(rawBox.id)
  await run(sandbox.destroy)

  const transport = emulator.requests().h2c > 0 ? "HTTP/2" : "HTTP/1.1"
  // The default create does one more command than the raw sequence (it learns the home): reported, not gated.
  reportOverhead(`Runloop adapter overhead against the emulator (${runtimeName()}, ${transport}):`, [
    { name: "create + first exec", raw: createRaw, adapter: createAdapter, gated: false },
    { name: "  (home known)", raw: createRaw, adapter: createKnowing },
    { name: "warm exec", raw: execRaw, adapter: execAdapter },
    { name: "file write + read", raw: filesRaw, adapter: filesAdapter }
  ])
} finally {
  await emulator.close()
}
