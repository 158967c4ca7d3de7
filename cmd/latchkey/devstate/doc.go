// Package devstate owns the state folder behind `latchkey dev` (by default
// ./.latchkey): it names every file in it and creates whatever is missing —
// a development CA, server and client certificates, the pepper, the store
// encryption key, a development policy and the data folder — while reusing
// whatever is already there, so that running `latchkey dev` twice changes
// nothing.
//
// Users rely on the file names and modes: private files are 0600 and the
// folder 0700. devstate must never loosen a mode, never overwrite an existing
// pepper, store key or policy (data and edits depend on them), never leave a
// half-written file behind, and never put a secret in an error. It is not for
// production: `latchkey serve` names its files in its configuration.
package devstate
