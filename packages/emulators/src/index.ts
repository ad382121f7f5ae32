/**
 * `@sandkit/emulators`: the framework the cloud emulators are built from — a scoped local HTTP server, an in-memory
 * registry of sandboxes backed by the `@sandkit/local` engine, fault knobs and a request log. The E2B emulator is
 * `@sandkit/emulators/e2b`.
 */
export * from "./Faults.ts"
export * from "./PortProxy.ts"
export * as HttpServer from "./HttpServer.ts"
export * from "./Registry.ts"
export * from "./RequestLog.ts"
