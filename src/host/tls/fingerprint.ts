/**
 * Certificate facts the running server needs, kept apart from cert.ts so that serving never
 * loads node-forge (only `xcore init` builds certificates).
 */
import { X509Certificate } from 'node:crypto'

/** SHA-256 fingerprint exactly as Node's TLS reports it (`cert.fingerprint256`): `AB:CD:…`. */
export function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256
}

/** Addresses that mean "every interface": not a name anyone can connect to. */
export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === ''
}
