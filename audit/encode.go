package audit

import (
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/latchkeyhq/latchkey/internal/jsonenc"
)

// appendEvent appends e's JSON encoding: byte for byte what json.Marshal
// writes for it (the tests hold it to that), without reflection. Every
// exchange seals one event under the trail's lock, so this is on the
// path every token waits for.
func appendEvent(dst []byte, e *Event) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, e.Seq, 10)
	dst = append(dst, `,"time":"`...)
	dst = e.Time.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","kind":`...)
	dst = jsonenc.String(dst, string(e.Kind))
	dst = optString(dst, `,"actor":`, e.Actor)
	if e.Peer != (netip.AddrPort{}) {
		dst = append(dst, `,"peer":`...)
		var buf [64]byte // an IPv6 address with a zone and a port fits
		dst = jsonenc.StringBytes(dst, e.Peer.AppendTo(buf[:0]))
	}
	dst = optString(dst, `,"method":`, e.Method)
	dst = optString(dst, `,"key_id":`, e.KeyID)
	dst = optString(dst, `,"jti":`, e.JTI)
	if len(e.Scopes) > 0 {
		dst = jsonenc.Strings(append(dst, `,"scopes":`...), e.Scopes)
	}
	dst = jsonenc.String(append(dst, `,"result":`...), string(e.Result))
	dst = optString(dst, `,"reason":`, e.Reason)
	if len(e.KeyFlags) > 0 {
		dst = jsonenc.Strings(append(dst, `,"key_flags":`...), e.KeyFlags)
	}
	dst = optString(dst, `,"alert":`, e.Alert)
	if len(e.Detail) > 0 {
		dst = append(dst, `,"detail":{`...)
		names := make([]string, 0, len(e.Detail))
		for k := range e.Detail {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			dst = jsonenc.Key(dst, k)
			dst = jsonenc.String(dst, e.Detail[k])
		}
		dst = append(dst, '}')
	}
	if len(e.Prev) > 0 {
		dst = jsonenc.Bytes(append(dst, `,"prev":`...), e.Prev)
	}
	if len(e.MAC) > 0 {
		dst = jsonenc.Bytes(append(dst, `,"mac":`...), e.MAC)
	}
	return append(dst, '}')
}

func optString(dst []byte, member, v string) []byte {
	if v == "" {
		return dst
	}
	return jsonenc.String(append(dst, member...), v)
}
