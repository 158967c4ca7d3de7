package devstate

// devPolicy is written verbatim; package policy parses it, so its schema
// must match that package's, not be reformatted.
const devPolicy = `# Latchkey development policy. Not for production.
issuer: https://localhost:7443
tokens:
  default_ttl: 10m
  max_ttl: 1h
  leeway: 30s
roles:
  admin: ["spiffe://dev.latchkey.local/admin"]
  introspect: ["spiffe://dev.latchkey.local/admin"]
  exchange: ["spiffe://dev.latchkey.local/admin", "spiffe://dev.latchkey.local/workload/*"]
scopes:
  - name: demo.read
    description: Read demo resources
  - name: demo.write
    description: Write demo resources
keys:
  require_binding: false
  max_lifetime: 0s
`
