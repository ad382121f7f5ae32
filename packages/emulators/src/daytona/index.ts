/**
 * `@sandkit/emulators/daytona`: an offline Daytona speaking the real wire protocol (control plane, socket.io events,
 * toolbox, preview links), for the official `@daytonaio/sdk`.
 *
 * ```ts
 * import { DaytonaEmulator } from "@sandkit/emulators/daytona"
 * const emulator = yield* DaytonaEmulator.make()        // scoped: stops when the scope closes
 * ```
 */
export * as DaytonaEmulator from "./DaytonaEmulator.ts"
