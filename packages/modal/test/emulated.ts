/**
 * Test helpers: the Modal provider pointed at an offline Modal emulator (the real `modal` SDK inside, talking gRPC
 * to 127.0.0.1).
 */
import { ModalEmulator } from "@sandkit/emulators/modal"
import { Effect, Layer, Redacted } from "effect"
import { ModalProvider } from "../src/index.ts"

/** The provider options that point the adapter at `emulator`. */
export const emulatedOptions = (
  emulator: ModalEmulator.ModalEmulator,
  extra: Partial<ModalProvider.ModalOptions> = {}
): ModalProvider.ModalOptions => ({ ...emulator.adapterOptions, ...extra })

/**
 * A provider layer over a fresh emulator (started when the layer is built, stopped when it is released).
 * `onStart` sees the emulator, e.g. to check its registry after each test.
 */
export const emulatedLayer = (
  onStart: (emulator: ModalEmulator.ModalEmulator) => void = () => {},
  options: ModalEmulator.ModalEmulatorOptions = {},
  extra: Partial<ModalProvider.ModalOptions> = {}
) =>
  Layer.unwrap(Effect.map(ModalEmulator.make(options), (emulator) => {
    onStart(emulator)
    return ModalProvider.layer(emulatedOptions(emulator, extra))
  }))

/**
 * A provider layer over an emulator running in a child process of the same runtime. For Deno: a `@grpc/grpc-js`
 * client in a Deno process crashes now and then (SIGSEGV, or an nghttp2 assertion in `find_stream_on_goaway_func`)
 * when the server it talks to goes away while its channel is open, and the SDK gives no way to close its control-plane
 * channel first (Deno 2.9; minimal reproduction in the package README). So the emulator lives in a child process that
 * outlives this one: releasing the layer only lets go of it, and the child stops (destroying every sandbox) when its
 * stdin closes, which happens when this process exits.
 */
export const spawnedEmulatorLayer = (extra: Partial<ModalProvider.ModalOptions> = {}) =>
  Layer.unwrap(Effect.gen(function*() {
    const { spawn } = yield* Effect.promise(() => import("node:child_process"))
    const script = new URL("./fixtures/emulator-process.ts", import.meta.url).pathname
    const deno = (globalThis as { Deno?: { execPath: () => string } }).Deno
    const [command, args] = deno !== undefined
      ? [deno.execPath(), ["run", "-A", script]]
      : [process.execPath, [...process.execArgv, script]]
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] })),
      (child) =>
        Effect.sync(() => {
          child.stdout?.destroy()
          ;(child.stdin as { unref?: () => void } | null)?.unref?.()
          child.unref()
        })
    )
    const started = yield* Effect.promise(() =>
      new Promise<{ serverUrl: string; tokenId: string; tokenSecret: string }>((resolve, reject) => {
        let buffered = ""
        child.stdout?.on("data", (chunk: Uint8Array) => {
          buffered += new TextDecoder().decode(chunk)
          const line = buffered.split("\n")[0]
          if (buffered.includes("\n") && line !== undefined) resolve(JSON.parse(line))
        })
        child.once("exit", (code) => reject(new Error(`the emulator process exited (${code}) before it started`)))
      })
    )
    return ModalProvider.layer({
      tokenId: Redacted.make(started.tokenId),
      tokenSecret: Redacted.make(started.tokenSecret),
      serverUrl: started.serverUrl,
      ...extra
    })
  }))
