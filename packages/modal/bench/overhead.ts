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
import { pair, reportOverhead, rotate, roundsFromArgv, runtimeName, timed } from "@sandkit/emulators/overhead"
import { Effect, Exit, Scope } from "effect"
import { ModalClient } from "modal"
import { ModalProvider } from "../src/index.ts"

const { create: createRounds, exec: execRounds } = roundsFromArgv({ create: 60, exec: 300 })


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
  const provider = makeProvider(await run(ModalProvider.make(emulator.adapterOptions).pipe(Scope.provide(scope))))

  // The same adapter, told the workdir in advance (here "/", the image's default): create skips its probe and tag write.
  const knowing = makeProvider(await run(ModalProvider.make({ ...emulator.adapterOptions, workdir: "/" }).pipe(Scope.provide(scope))))

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
  await rotate(createRounds, [rawRound, () => adapterRound(provider, createAdapter), () => adapterRound(knowing, createKnowing)])

  const sdkSandbox = await client.sandboxes.create(app, image)
  const adapterSandbox = await run(provider.createDetached())
  const payload = Uint8Array.from({ length: 4096 }, (_, i) => i % 256)
  const home = (await (await sdkSandbox.exec(["pwd"])).stdout.readText()).trim()
  await sdkSandbox.filesystem.writeBytes(payload, `${home}/bench.bin`)
  await run(adapterSandbox.files.write("bench.bin", payload))
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

  reportOverhead(`Modal adapter overhead against the emulator (${runtimeName()}):`, [
    { name: "shell exec", raw: shellRaw, adapter: shellAdapter },
    { name: "argv exec", raw: execRaw, adapter: execAdapter },
    { name: "  (raw stdin open)", raw: openRaw, adapter: openAdapter, gated: false },
    { name: "file read (4 KiB)", raw: readRaw, adapter: readAdapter },
    { name: "create + first exec", raw: createRaw, adapter: createAdapter, gated: false },
    { name: "  (workdir known)", raw: createRaw, adapter: createKnowing, gated: false }
  ])
  await run(Scope.close(scope, Exit.void))
} finally {
  await emulator.close()
}
