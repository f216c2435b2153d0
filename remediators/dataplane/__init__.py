"""Redis data-plane access: the only code in redis-warden that opens a connection to a cache itself.

Today it does one thing: key-expiry sampling (`sampling.sample_key_expiry`), opt-in per scope. The split:
- `endpoint`: which host and port to connect to, validated against the Azure Redis DNS suffixes, because
  a crafted ARM body must never make us send an Entra token to a host that is not an Azure cache;
- `auth`: the Entra credential provider (`redis-entraid`) built on the app's own `TokenCredential`;
- `client`: a TLS-only `redis.Redis` that announces nothing beyond AUTH (no CLIENT SETINFO);
- `ratelimit`: a token bucket, so sampling a production cache costs a bounded number of commands a second;
- `sampling`: SCAN a bounded sample and ask PTTL per key; values are never read.
"""
