// Kept in step with package.json by the test in test/unit/version.test.ts.
export const AGENT_VERSION = '0.1.0';
