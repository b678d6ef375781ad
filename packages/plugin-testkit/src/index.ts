/**
 * @gatehouse-proxy/plugin-testkit: the compliance suite every Gatehouse auth provider runs, and the
 * plugin verifier (`gatehouse plugins verify` as a function).
 *
 * @packageDocumentation
 */
export { providerComplianceSuite } from "./compliance-suite.js";
export { COMPLIANCE_CHECKS } from "./fixtures.js";
export type { ComplianceCheck, ComplianceFixtures, ProviderFactory, TestRegistrar } from "./fixtures.js";
export { providerFromPlugin, wirePlugin } from "./provider-from-plugin.js";
export type { PluginFactoryOptions } from "./provider-from-plugin.js";
export { recordingLogger } from "./recording-logger.js";
export type { RecordingLogger } from "./recording-logger.js";
export { verifyPlugin } from "./verify-plugin.js";
export type { PluginProblem, PluginProblemCode, PluginVerification, VerifyPluginOptions } from "./verify-plugin.js";
