/** The salama version, reported as the OpenTelemetry meter version. Kept equal to package.json by a test. */
export const VERSION = '0.1.0';
