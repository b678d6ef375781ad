import type { LdapConnection } from "./connection.js";

/**
 * A few long-lived service connections, used round-robin for searches (ldapts multiplexes
 * requests on one socket). A connection found closed — the server restarted, the socket
 * timed out — is replaced by a freshly connected and re-bound one before use.
 */
export class ServicePool {
  private readonly slots: (Promise<LdapConnection> | undefined)[];
  private next = 0;
  private closed = false;

  constructor(
    size: number,
    private readonly connect: () => Promise<LdapConnection>,
  ) {
    this.slots = Array.from({ length: size }, () => undefined);
  }

  async acquire(): Promise<LdapConnection> {
    if (this.closed) throw new Error("the LDAP provider is closed");
    const index = this.next;
    this.next = (this.next + 1) % this.slots.length;
    for (;;) {
      const pending = this.slots[index];
      if (pending === undefined) return this.fill(index);
      const connection = await pending.catch(() => undefined);
      if (connection?.alive === true) return connection;
      // Another caller may have replaced the slot while we waited: use theirs.
      if (this.slots[index] === pending) {
        this.slots[index] = undefined;
        connection?.destroy();
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const pending = this.slots.splice(0);
    await Promise.all(pending.map(async (slot) => (await slot?.catch(() => undefined))?.close()));
  }

  private fill(index: number): Promise<LdapConnection> {
    const fresh = this.connect();
    this.slots[index] = fresh;
    fresh.catch(() => {
      if (this.slots[index] === fresh) this.slots[index] = undefined;
    });
    return fresh;
  }
}
