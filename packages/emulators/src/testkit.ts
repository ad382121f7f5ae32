/**
 * `@sandkit/emulators/testkit`: what tests over the emulators share — real-time waits, a fast retry policy, the
 * typed failure of an `Exit`, the after-test leak check (`testHelpers.ts`), and the fault scenarios every cloud runs
 * the same way (`faultScenarios.ts`).
 */
export * from "./faultScenarios.ts"
export * from "./testHelpers.ts"
