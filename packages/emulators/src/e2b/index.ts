/**
 * `@sandkit/emulators/e2b`: an offline E2B speaking the real wire protocol (control plane, envd, code interpreter).
 *
 * ```ts
 * import { E2bEmulator } from "@sandkit/emulators/e2b"
 * const emulator = yield* E2bEmulator.make()        // scoped: stops when the scope closes
 * ```
 */
export * as E2bEmulator from "./E2bEmulator.ts"
