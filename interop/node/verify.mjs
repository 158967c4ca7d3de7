// Verifies Latchkey access tokens with the "jose" package, the way a Node
// resource server would: keys come only from the remote JWKS, the algorithm is
// pinned per token, and issuer, audience and typ are required.
//
// Input (stdin, JSON):
//   {"jwks_uri": "...", "issuer": "...", "audience": "...",
//    "tokens": [{"name": "...", "token": "...", "alg": "EdDSA", "expect": "valid" | "invalid"}]}
// Output: one JSON line per token, {"name", "ok": bool, "error"?: "CODE: message"}.
// Exit status: 0 when every outcome matches its expect, 1 when one does not,
// 2 when the input is unusable.
//
// TLS trust comes from NODE_EXTRA_CA_CERTS; nothing here relaxes certificate
// checks.
import { createRemoteJWKSet, jwtVerify } from 'jose'

function fail (msg) {
  process.stderr.write(`verify.mjs: ${msg}\n`)
  process.exit(2)
}

async function readStdin () {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

function parseInput (text) {
  let input
  try {
    input = JSON.parse(text)
  } catch (err) {
    fail(`input is not JSON: ${err.message}`)
  }
  for (const field of ['jwks_uri', 'issuer', 'audience']) {
    if (typeof input?.[field] !== 'string' || input[field] === '') fail(`missing string field ${field}`)
  }
  if (!Array.isArray(input.tokens) || input.tokens.length === 0) fail('tokens must be a non-empty array')
  for (const [i, t] of input.tokens.entries()) {
    for (const field of ['name', 'token', 'alg']) {
      if (typeof t?.[field] !== 'string' || t[field] === '') fail(`tokens[${i}] is missing string field ${field}`)
    }
    if (t.expect !== 'valid' && t.expect !== 'invalid') fail(`tokens[${i}].expect must be "valid" or "invalid"`)
  }
  return input
}

const input = parseInput(await readStdin())
// One key set for the whole run, as a long-lived resource server keeps; it
// refetches on an unknown kid subject to its cooldown.
const jwks = createRemoteJWKSet(new URL(input.jwks_uri))

let mismatches = 0
for (const t of input.tokens) {
  const line = { name: t.name }
  try {
    await jwtVerify(t.token, jwks, {
      issuer: input.issuer,
      audience: input.audience,
      typ: 'at+jwt',
      algorithms: [t.alg],
      requiredClaims: ['exp', 'iat', 'nbf', 'jti', 'sub']
    })
    line.ok = true
  } catch (err) {
    line.ok = false
    line.error = `${err?.code ?? err?.name ?? 'ERROR'}: ${err?.message ?? String(err)}`
  }
  if (line.ok !== (t.expect === 'valid')) mismatches++
  process.stdout.write(JSON.stringify(line) + '\n')
}
process.exitCode = mismatches === 0 ? 0 : 1
