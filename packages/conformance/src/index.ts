/**
 * `@sandkit/conformance`: the checks every Sandkit provider must pass, written once as named Effects against the
 * `SandboxProvider` service, with a plain runner (Node, Bun, Deno). The vitest binding is `@sandkit/conformance/vitest`.
 */
export * from "./Assert.ts"
export {
  capabilityCheck,
  CONFORMANCE_LABEL,
  ConformanceSettings,
  makeCheck,
  randomHex,
  validateLabelPrefix,
  type CheckBody,
  type CheckContext,
  type ConformanceCheck
} from "./Check.ts"
export { conformanceChecks } from "./Checks.ts"
export * from "./Runner.ts"
