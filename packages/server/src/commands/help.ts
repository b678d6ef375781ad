export const HELP = `gatehouse: a SOCKS5 proxy whose username/password authentication is delegated to plugins

Usage:
  gatehouse --config FILE              run the proxy described by FILE (YAML or JSON)
  gatehouse check-config FILE          validate FILE (plugins included) without opening ports
  gatehouse hash-password              read a password on stdin, print a password record
  gatehouse users add NAME [--group G]... [--identity ID] --config FILE
                                       add a user (password on stdin) to the store of the
                                       config's provider that keeps users (use: redis)
  gatehouse users passwd|disable|del NAME --config FILE
  gatehouse users list --config FILE   every user (scans the store: an admin operation)
                                       disable/del also end the user's tunnels: on every instance
                                       with state in Redis, else on the instance of the config's
                                       admin listener (or --admin URL)
  gatehouse sessions list [--identity NAME] [--group G] [--peer IP] [--destination HOST] [--json]
                                       the live tunnels of a running server (its admin API)
  gatehouse sessions close --identity NAME | --id ID | --peer IP
                                       end those tunnels (session_end reason closed_by_admin)
  gatehouse policy test --config FILE [--user NAME] [--group G ...] --to HOST:PORT [--from IP]
                                       print the policy's decision for one request and the rule
                                       that made it (exit 0 allow, 1 deny); also --address IP,
                                       --command connect|bind|udp, --source IP[:PORT], --listener NAME
  gatehouse plugins verify NAME_OR_PATH [--config FILE]
                                       check a plugin through the production loader; with FILE,
                                       also its providers' options there, init/health/close
  gatehouse plugins list [--config FILE]
                                       the plugins FILE would load (or the installed ones), with versions
  gatehouse --listen ADDR [...]        run without a config file (KumoMTA-compatible flags)
  gatehouse --version | --help

Options:
  -c, --config FILE          the config file
      --listen HOST:PORT     listen here (repeatable; without --config: no authentication)
      --timeout-seconds N    per-step negotiation timeout for --listen listeners (default 60)
      --no-splice            relay with the JS relay, not splice(2) (as KumoMTA's flag; same as relay: js)
  -V, --version              print the version
  -h, --help                 print this help
      --provider NAME        users: the auth.providers entry, when several keep users
      --admin URL            sessions, users: the admin API (default: the admin.listen of
                             --config FILE, else http://127.0.0.1:9090); the token is read
                             from $GATEHOUSE_ADMIN_TOKEN (else the config's admin.token)
      --json                 sessions: print JSON instead of a table

Signals:
  SIGHUP                     re-read the config file: listeners and providers are replaced,
                             open tunnels stay; a bad file is logged and the old config kept
  SIGTERM, SIGINT            stop accepting, let tunnels drain (shutdown_timeout, default 10s),
                             close providers, exit 0

Config file keys: listeners, auth, log, policy (docs/policy.md), admin ({listen: 127.0.0.1:9090} serves /metrics,
/healthz, /readyz and the operator's /api (docs/admin-api.md); off when absent; token or token_file required
off loopback), shutdown_timeout.

Exit codes: 0 ok, 1 startup failure, 2 bad config or usage.

Examples:
  gatehouse --config examples/quickstart.yaml
  gatehouse check-config /etc/gatehouse/gatehouse.yaml
  echo -n 'secretpassword' | gatehouse hash-password
  echo -n 'secretpassword' | gatehouse users add proxyuser --group proxy-users --config gatehouse.yaml
  gatehouse plugins verify gatehouse-plugin-example --config gatehouse.yaml
  gatehouse --listen 127.0.0.1:1080 --listen [::1]:1080 --timeout-seconds 30
  gatehouse sessions list --identity alice --admin http://127.0.0.1:9090
  GATEHOUSE_ADMIN_TOKEN=... gatehouse sessions close --identity bob --admin http://10.0.0.5:9090
  curl --socks5-hostname 127.0.0.1:1080 --proxy-user proxyuser:secretpassword https://example.com/
`;
