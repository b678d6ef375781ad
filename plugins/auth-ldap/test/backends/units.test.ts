import "reflect-metadata";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidCredentialsError, UnwillingToPerformError } from "ldapts";
import {
  credentialsRejected,
  escapeDnValue,
  escapeFilterValue,
  fillTemplate,
  ldapConfigSchema,
} from "@gatehouse-proxy/auth-ldap";

describe("RFC 4515 / 4514 escaping and templates", () => {
  it("filter values: \\ * ( ) NUL become \\XX, once; UTF-8 stays", () => {
    assert.equal(escapeFilterValue("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
    assert.equal(escapeFilterValue("a\\b\0"), "a\\5cb\\00");
    assert.equal(escapeFilterValue("\\2a"), "\\5c2a");
    assert.equal(escapeFilterValue("zoë"), "zoë");
  });

  it('DN values: , + " \\ < > ; = NUL, a leading # or space and a trailing space', () => {
    assert.equal(escapeDnValue("alice,ou=x"), "alice\\,ou\\=x");
    assert.equal(escapeDnValue("#alice"), "\\#alice");
    assert.equal(escapeDnValue(" alice "), "\\ alice\\ ");
    assert.equal(escapeDnValue('a+b"c<d>e;f\\g'), 'a\\+b\\"c\\<d\\>e\\;f\\\\g');
    assert.equal(escapeDnValue("a#b c"), "a#b c");
  });

  it("templates insert $-patterns literally", () => {
    for (const value of ["$&", "$`", "$'", "$$", "$1"]) {
      assert.equal(fillTemplate("(uid={username})", { username: value }), `(uid=${value})`);
    }
    assert.equal(fillTemplate("(|(a={username})(b={username}))", { username: "x" }), "(|(a=x)(b=x))");
  });
});

describe("result 49 and Active Directory's data sub-codes", () => {
  const ad = (code: string) =>
    new InvalidCredentialsError(
      `80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data ${code}, v4563`,
    );

  it("maps each sub-code to a precise reason", () => {
    const expected: Record<string, string> = {
      "525": "user_not_found",
      "52e": "invalid_credentials",
      "530": "invalid_logon_hours",
      "531": "invalid_workstation",
      "532": "password_expired",
      "533": "account_disabled",
      "701": "account_expired",
      "773": "password_must_change",
      "775": "account_locked",
    };
    for (const [code, reason] of Object.entries(expected)) {
      assert.deepEqual(credentialsRejected(ad(code)), { reason, adCode: code });
    }
    assert.deepEqual(credentialsRejected(new InvalidCredentialsError()), { reason: "invalid_credentials" });
  });

  it("anything but 49 is not a deny (the caller throws)", () => {
    assert.equal(credentialsRejected(new UnwillingToPerformError("unauthenticated bind")), undefined);
    assert.equal(credentialsRejected(new Error("ECONNREFUSED")), undefined);
  });
});

describe("config schema", () => {
  const ok = { url: "ldaps://dc1.example.com", user_base: "dc=example,dc=com" };
  const issues = (raw: unknown): string[] => {
    const result = ldapConfigSchema.safeParse(raw);
    return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  };

  it("accepts a minimal config and applies defaults", () => {
    const config = ldapConfigSchema.parse(ok);
    assert.deepEqual(config.url, ["ldaps://dc1.example.com"]);
    assert.equal(config.timeout, 3000);
    assert.equal(config.connect_timeout, 2000);
    assert.equal(config.group_name_attribute, "cn");
  });

  it("names the path of each problem", () => {
    assert.match(issues({ ...ok, url: "http://x" }).join("\n"), /^url: must start with ldap:\/\/ or ldaps:\/\//m);
    assert.match(issues({ user_base: "dc=x" }).join("\n"), /^url: is required/m);
    assert.match(issues({ ...ok, url: ["ldaps://a", "ldap://b"] }).join("\n"), /^url\.1: plain ldap:\/\//m);
    assert.match(
      issues({ ...ok, url: "ldaps://a", start_tls: true }).join("\n"),
      /^url\.0: ldaps:\/\/ is already TLS/m,
    );
    assert.match(issues({ ...ok, bind_dn: "cn=x" }).join("\n"), /^bind_dn: needs bind_password/m);
    assert.match(
      issues({ ...ok, bind_dn: "cn=x", bind_password: "a", bind_password_file: "f" }).join("\n"),
      /^bind_password: set either/m,
    );
    assert.match(issues({ url: "ldaps://a" }).join("\n"), /^user_base: is required unless user_dn_template/m);
    assert.match(issues({ ...ok, user_filter: "(uid=alice)" }).join("\n"), /^user_filter: must contain \{username\}/m);
    assert.match(issues({ ...ok, timeout: "soon" }).join("\n"), /^timeout: expected a duration/m);
    assert.match(issues({ ...ok, bogus: 1 }).join("\n"), /bogus/);
    assert.match(issues({ ...ok, user_filter: "(&(uid={username})" }).join("\n"), /^user_filter: /m);
    assert.match(issues({ ...ok, group_filter: "(member={dn}" }).join("\n"), /^group_filter: /m);
    assert.deepEqual(
      issues({ ...ok, group_filter: "(&(objectClass=group)(member:1.2.840.113556.1.4.1941:={dn}))" }),
      [],
    );
    assert.match(
      issues({ url: "ldaps://a", user_dn_template: "uid=x,dc=y" }).join("\n"),
      /^user_dn_template: must contain \{username\}/m,
    );
  });

  it("never quotes the bind password in an error", () => {
    const text = issues({ ...ok, bind_password: "hunter2-secret" }).join("\n");
    assert.match(text, /bind_password: is only used with bind_dn/);
    assert.doesNotMatch(text, /hunter2-secret/);
  });
});
