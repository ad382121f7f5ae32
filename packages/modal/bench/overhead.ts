// The adapter's overhead over the raw `modal` SDK, against one emulator in one run (not a test):
//   node --conditions=@sandkit/source packages/modal/bench/overhead.ts [createRounds=40] [execRounds=300]
//   (or: pnpm --filter @sandkit/modal bench)
// Adapter and raw SDK alternate round by round (and which goes first), so drift hits both alike. The raw side does
// the same work on the wire as the adapter's contract requires (binary mode, both streams read to the end, the exit
// code; stdin at EOF when not fed):
//   shell exec:          sb.exec(["/bin/sh", "-c", "true"])                 vs  sandbox.exec("true")
//   argv exec:           sb.exec(["true"]) + stdin closed                   vs  sandbox.exec(["true"])
//   file read:           sb.filesystem.readBytes(path)                      vs  sandbox.files.read(path)
//   create + first exec: sandboxes.create + exec                            vs  provider.createDetached() + exec
// A budget of max(0.5 ms, 10 % of the raw p50) applies to the p50 overhead of the per-operation paths: the execs and
// the file read. Reported, not gated: argv exec against a raw exec that leaves stdin open (the adapter must close
// it, one more RPC, or `cat` would never end); create by default (it does more on purpose: a readiness and workdir
// probe, and one tag write); and create with the `workdir` option (no probe, no tag write: what is left is the core
// wrapper's create, about 0.5 ms here, and the first exec's overhead, so it sits right at the budget).
import { makeProvider } from "@sandkit/core"
import { ModalEmulator } from "@sandkit/emulators/modal"
import { Effect, Exit, Redacted, Scope } from "effect"
import { ModalClient } from "modal"
import { ModalProvider } from "../src/index.ts"

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

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

const emulator = await ModalEmulator.start()
try {
  // The raw client gets the same pinned profile and the same "no SDK retries" middleware-free setup: plain SDK.
  const client = ModalProvider.withPinnedEnvironment(
    { MODAL_PROFILE: ModalProvider.PINNED_PROFILE, MODAL_SERVER_URL: emulator.serverUrl },
    () => new ModalClient({ ...emulator.credentials, logLevel: "error" })
  )
  const app = await client.apps.fromName("bench-raw", { createIfMissing: true })
  const image = await client.images.fromRegistry(ModalProvider.DEFAULT_IMAGE).build(app)
  const scope = Effect.runSync(Scope.make())
  const provider = makeProvider(await run(ModalProvider.make({
    tokenId: Redacted.make(emulator.credentials.tokenId),
    tokenSecret: Redacted.make(emulator.credentials.tokenSecret),
    serverUrl: emulator.serverUrl
  }).pipe(Scope.provide(scope))))

  // The same adapter, told the workdir in advance (here "/", the image's default): create skips its probe and tag write.
  const knowing = makeProvider(await run(ModalProvider.make({
    tokenId: Redacted.make(emulator.credentials.tokenId),
    tokenSecret: Redacted.make(emulator.credentials.tokenSecret),
    serverUrl: emulator.serverUrl,
    workdir: "/"
  }).pipe(Scope.provide(scope))))

  const rawExec = async (sb: import("modal").Sandbox, argv: Array<string> = ["true"], closeStdin = false) => {
    const p = await sb.exec(argv, { mode: "binary" })
    await Promise.all([closeStdin ? p.stdin.getWriter().close() : undefined, p.stdout.readBytes(), p.stderr.readBytes(), p.wait()])
  }

  // Warm up both paths (JIT, channels, the local engine).
  for (let i = 0; i < 3; i++) {
    const sb = await client.sandboxes.create(app, image)
    await rawExec(sb)
    await sb.terminate()
    const a = await run(provider.createDetached())
    await run(a.exec(["true"]))
    await run(a.destroy)
  }

  const createRaw: Array<number> = []
  const createAdapter: Array<number> = []
  const createKnowing: Array<number> = []
  for (let i = 0; i < createRounds; i++) {
    const rawRound = async () => {
      let sb: import("modal").Sandbox | undefined
      createRaw.push(await timed(async () => {
        sb = await client.sandboxes.create(app, image)
        await rawExec(sb, ["true"], true)
      }))
      await sb!.terminate()
    }
    const adapterRound = async (p: typeof provider, into: Array<number>) => {
      let id = ""
      into.push(await timed(async () => {
        const sandbox = await run(p.createDetached())
        id = sandbox.id
        await run(sandbox.exec(["true"]))
      }))
      await run(p.destroy(id))
    }
    const rounds = [rawRound, () => adapterRound(provider, createAdapter), () => adapterRound(knowing, createKnowing)]
    for (const round of i % 2 === 0 ? rounds : [...rounds].reverse()) await round()
  }

  const sdkSandbox = await client.sandboxes.create(app, image)
  const adapterSandbox = await run(provider.createDetached())
  const payload = Uint8Array.from({ length: 4096 }, (_, i) => i % 256)
  const home = (await (await sdkSandbox.exec(["pwd"])).stdout.readText()).trim()
  await sdkSandbox.filesystem.writeBytes(payload, `${home}/bench.bin`)
  await run(adapterSandbox.files.write("bench.bin", payload))
  const pair = async (raw: () => Promise<unknown>, adapter: () => Promise<unknown>, rounds: number) => {
    const r: Array<number> = []
    const a: Array<number> = []
    for (let i = 0; i < 20; i++) {
      await raw()
      await adapter()
    }
    for (let i = 0; i < rounds; i++) {
      if (i % 2 === 0) {
        r.push(await timed(raw))
        a.push(await timed(adapter))
      } else {
        a.push(await timed(adapter))
        r.push(await timed(raw))
      }
    }
    return [r, a] as const
  }
  const [shellRaw, shellAdapter] = await pair(() => rawExec(sdkSandbox, ["/bin/sh", "-c", "true"]), () => run(adapterSandbox.exec("true")), execRounds)
  const [execRaw, execAdapter] = await pair(() => rawExec(sdkSandbox, ["true"], true), () => run(adapterSandbox.exec(["true"])), execRounds)
  const [openRaw, openAdapter] = await pair(() => rawExec(sdkSandbox, ["true"]), () => run(adapterSandbox.exec(["true"])), execRounds)
  const [readRaw, readAdapter] = await pair(
    () => sdkSandbox.filesystem.readBytes(`${home}/bench.bin`),
    () => run(adapterSandbox.files.read("bench.bin")),
    execRounds
  )
  await sdkSandbox.terminate()
  await run(adapterSandbox.destroy)

  const report = (name: string, rawMs: ReadonlyArray<number>, adapterMs: ReadonlyArray<number>, gated: boolean) => {
    const r = percentile(rawMs, 50)
    const a = percentile(adapterMs, 50)
    const overhead = a - r
    const paired = percentile(rawMs.map((x, i) => adapterMs[i]! - x), 50)
    const budget = Math.max(0.5, 0.1 * r)
    const verdict = overhead <= budget ? "OK" : gated ? "OVER" : "over (not gated)"
    console.log(
      `${name.padEnd(20)} raw p50 ${r.toFixed(2).padStart(7)} ms  adapter p50 ${a.toFixed(2).padStart(7)} ms  ` +
        `overhead ${overhead.toFixed(2).padStart(5)} ms (${((overhead / r) * 100).toFixed(1).padStart(5)} %)  ` +
        `paired ${paired.toFixed(2).padStart(5)} ms  budget ${budget.toFixed(2)} ms  ${verdict}  ` +
        `[p90 raw ${percentile(rawMs, 90).toFixed(2)} / adapter ${percentile(adapterMs, 90).toFixed(2)} ms, n=${rawMs.length}]`
    )
    return !gated || overhead <= budget
  }
  const runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : `node ${process.versions.node}`
  console.log(`Modal adapter overhead against the emulator (${runtime}):`)
  const ok = [
    report("shell exec", shellRaw, shellAdapter, true),
    report("argv exec", execRaw, execAdapter, true),
    report("  (raw stdin open)", openRaw, openAdapter, false),
    report("file read (4 KiB)", readRaw, readAdapter, true),
    report("create + first exec", createRaw, createAdapter, false),
    report("  (workdir known)", createRaw, createKnowing, false)
  ].every(Boolean)
  if (!ok) process.exitCode = 1
  await run(Scope.close(scope, Exit.void))
} finally {
  await emulator.close()
}
