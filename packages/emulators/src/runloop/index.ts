/**
 * `@sandkit/emulators/runloop`: an offline Runloop devbox API for the official `@runloop/api-client`, over HTTP/1.1
 * and cleartext HTTP/2 (the SDK's default), with commands, files and tunnels running through the local engine.
 *
 * ```ts
 * import { RunloopEmulator } from "@sandkit/emulators/runloop"
 * const emulator = yield* RunloopEmulator.make()        // scoped: stops when the scope closes
 * ```
 */
export * as RunloopEmulator from "./RunloopEmulator.ts"
