/**
 * What a suite needs from the machine beyond Node (the real zdm-proxy, a
 * Docker daemon, Prometheus): outside CI a missing part skips the suite and
 * says why; under CI=true it fails the suite with the same reason, so that CI
 * can never pass by skipping the integration it exists to prove.
 */
export function required(what: string, problem: string | undefined): string | undefined {
  if (problem === undefined) return undefined;
  if (process.env.CI === 'true') throw new Error(`${what} is required under CI=true and is missing: ${problem}`);
  process.stderr.write(`SKIPPING ${what} tests: ${problem}\n`);
  return problem;
}
