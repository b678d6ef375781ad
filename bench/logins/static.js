// Login benchmark module for @gatehouse-proxy/auth-static: users with scrypt records inline in the
// config. The baseline every other provider's figures compare against (KDF-bound).
import { hashPassword } from "@gatehouse-proxy/core";

const USERS = 64;

export async function setup() {
  const users = Array.from({ length: USERS }, (_, i) => ({ username: `user${i}`, password: `pw-${i}-bench` }));
  const records = await Promise.all(users.map(({ password }) => hashPassword(password)));
  const table = Object.fromEntries(
    users.map(({ username }, i) => [username, { password: records[i], groups: ["bench"] }]),
  );
  return {
    provider: { use: "static", users: table },
    users,
    // KDF-bound: more clients only queue behind the KDF slots until the pipeline deadline.
    concurrency: 4,
    note: "scrypt ln=15,r=8,p=1 (32 MiB, the hash-password default)",
    close: async () => {},
  };
}
