// Package jsonenc appends JSON values to byte slices, for the few hot
// encoders (the audit event, the token claims) that are written by hand
// instead of through reflection. Its output is byte for byte what
// encoding/json produces for the same value, so a hand-written encoder can
// be checked against json.Marshal. It never decodes anything.
package jsonenc
