/**
 * `@sandkit/emulators/modal`: an offline Modal speaking the real gRPC wire protocol (control plane and task command
 * router on one plaintext port), for the official `modal` SDK (0.11.x).
 *
 * ```ts
 * import { ModalEmulator } from "@sandkit/emulators/modal"
 * const emulator = yield* ModalEmulator.make()        // scoped: stops when the scope closes
 * ```
 */
export * as ModalEmulator from "./ModalEmulator.ts"
