package audit

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func encodeCases() map[string]Event {
	at := time.Date(2026, 11, 27, 7, 30, 0, 123456000, time.UTC)
	return map[string]Event{
		"minimal": {Seq: 1, Time: at, Kind: KindServiceStart, Result: ResultOK},
		"exchange": {Seq: 42, Time: at, Kind: KindExchange, Actor: "spiffe://prod/ns/orders/sa/api",
			Peer: netip.MustParseAddrPort("127.0.0.1:51234"), Method: "/latchkey.v1.TokenService/ExchangeToken",
			KeyID: "9f8e7d6c5b4a3f2e", JTI: "kX2v_7pQ", Scopes: []string{"orders.read", "orders.write"},
			Result: ResultOK, Prev: bytes.Repeat([]byte{0xab}, 32), MAC: bytes.Repeat([]byte{0x01}, 32)},
		"denied with flags": {Seq: 7, Time: at.Add(time.Hour), Kind: KindExchange, Result: ResultDenied,
			Reason: ReasonKeyRevoked, KeyFlags: []string{FlagLeaked, FlagRotationDue},
			Peer: netip.MustParseAddrPort("[fe80::1%eth0]:443")},
		"alert with detail": {Seq: 9, Time: at, Kind: KindAlert, Alert: "new_identity", Result: ResultOK,
			Detail: map[string]string{"z": "last", "a": "<first>", "m\u2028": "\xff", "": "empty name"}},
		"empty slices":          {Seq: 3, Time: at, Kind: KindKeyUpdate, Scopes: []string{}, KeyFlags: []string{}, Detail: map[string]string{}, Prev: []byte{}},
		"invalid addr and port": {Seq: 4, Time: at, Kind: KindExchange, Peer: netip.AddrPortFrom(netip.Addr{}, 80)},
		"zero time":             {Kind: KindExchange},
		"local time":            {Seq: 5, Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", -3600)), Kind: KindExchange},
		"escapes":               {Seq: 6, Time: at, Kind: Kind("k\"\\"), Actor: "a\nb\x00", Result: Result("<&>")},
	}
}

func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	for name, e := range encodeCases() {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(&e)
			if err != nil {
				t.Fatal(err)
			}
			if got := appendEvent(nil, &e); !bytes.Equal(got, want) {
				t.Fatalf("appendEvent:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func FuzzAppendEvent(f *testing.F) {
	f.Add(uint64(1), int64(1764228600123456789), "exchange", "spiffe://a/b", "127.0.0.1:1", "key", "jti", "s1 s2", "ok", "", "leaked", "k=v", []byte{1, 2})
	f.Add(uint64(0), int64(0), "", "", "", "", "", "", "", "", "", "", []byte(nil))
	f.Add(uint64(1<<63), int64(-1), "\xff", "<>&", "[::1]:0", "\u2028", "\x00", " ", "\"", "\\", "a b", "=", []byte{})
	f.Fuzz(func(t *testing.T, seq uint64, nanos int64, kind, actor, peer, key, jti, scopes, result, reason, flags, detail string, mac []byte) {
		e := Event{Seq: seq, Time: time.Unix(0, nanos).UTC(), Kind: Kind(kind), Actor: actor, KeyID: key,
			JTI: jti, Result: Result(result), Reason: reason, MAC: mac, Prev: mac}
		if ap, err := netip.ParseAddrPort(peer); err == nil {
			e.Peer = ap
		}
		if scopes != "" {
			e.Scopes = strings.Split(scopes, " ")
		}
		if flags != "" {
			e.KeyFlags = strings.Split(flags, " ")
		}
		if detail != "" {
			e.Detail = map[string]string{}
			for _, kv := range strings.Split(detail, ",") {
				k, v, _ := strings.Cut(kv, "=")
				e.Detail[k] = v
			}
		}
		want, err := json.Marshal(&e)
		if err != nil {
			t.Skip("not encodable by encoding/json either")
		}
		if got := appendEvent(nil, &e); !bytes.Equal(got, want) {
			t.Fatalf("appendEvent:\n got %s\nwant %s", got, want)
		}
	})
}

// BenchmarkSeal is the recording step of an audited exchange: encoding the
// event, its chain MAC and its index terms.
func BenchmarkSeal(b *testing.B) {
	k := newChainKey(testKey(b))
	e := encodeCases()["exchange"]
	b.ReportAllocs()
	for b.Loop() {
		ev := e
		if _, err := k.seal(&ev); err != nil {
			b.Fatal(err)
		}
	}
}
