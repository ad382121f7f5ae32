/**
 * `@sandkit/runloop`: Runloop devboxes as a Sandkit provider, through the official `@runloop/api-client`.
 */
export * as RunloopProvider from "./RunloopProvider.ts"
