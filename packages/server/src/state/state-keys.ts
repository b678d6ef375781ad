/**
 * The names of the state store's Redis keys, all under `key_prefix`. Usernames are
 * percent-encoded so no name can reach another kind of key. With Redis Cluster the prefix
 * carries a hash tag, so every key is in one slot and a script may touch several.
 */
export class StateKeys {
  constructor(private readonly prefix: string) {}

  identityLeases(identity: string): string {
    return `${this.prefix}leases:identity:${encodeURIComponent(identity)}`;
  }

  ipLeases(ip: string): string {
    return `${this.prefix}leases:ip:${ip}`;
  }

  addressFailures(address: string): string {
    return `${this.prefix}throttle:failures:address:${address}`;
  }

  addressBlock(address: string): string {
    return `${this.prefix}throttle:blocked:address:${address}`;
  }

  usernameFailures(user: string): string {
    return `${this.prefix}throttle:failures:username:${encodeURIComponent(user)}`;
  }

  usernameBlock(user: string): string {
    return `${this.prefix}throttle:blocked:username:${encodeURIComponent(user)}`;
  }

  /** `kind` of one (username, address) pair: suspect, familiar or probe. */
  pair(kind: "suspect" | "familiar" | "probe", user: string, address: string): string {
    return `${this.prefix}throttle:${kind}:${encodeURIComponent(user)}@${address}`;
  }

  /** The pub/sub channel of revocations. */
  get revocations(): string {
    return `${this.prefix}revocations`;
  }

  /** The revocations of the last REVOCATION_RETENTION_MS, for instances that missed them. */
  get recentRevocations(): string {
    return `${this.prefix}revocations:recent`;
  }
}
