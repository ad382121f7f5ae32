export * as E2bProvider from "./E2bProvider.ts"
